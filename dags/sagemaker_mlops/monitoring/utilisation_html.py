"""The utilisation report as one self-contained HTML page: matplotlib charts embedded as base64 PNG, no CDN.

Why a page and not a dashboard: it is stored next to the model, opens offline from S3 or a download, and stays as
the record of how the job used its instances. matplotlib is imported here, inside the task, never at parse time.
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

from sagemaker_mlops.monitoring.utilisation import METRICS


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(report: dict[str, Any]) -> dict[str, str]:
    """{"utilisation": png, "phases": png}: each metric over time per host; time in each phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    fig, axes = plt.subplots(len(METRICS), 1, figsize=(9, 2.1 * len(METRICS)), sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], METRICS, strict=True):
        drawn = False
        for host, metrics in sorted(report["series"].items()):
            points = metrics.get(metric) or {}
            if points.get("values"):
                ax.plot(points["timestamps"], points["values"], marker="o", markersize=3, label=host)
                drawn = True
        ax.set_ylabel(f"{metric.replace('Utilization', '')} %")
        if not drawn:
            ax.text(
                0.5, 0.5, f"{metric}: no datapoints (missing, not 0)", ha="center", va="center", transform=ax.transAxes
            )
        elif ax is axes[0, 0]:
            ax.legend(loc="upper right", fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{report['training_job_name']}: instance utilisation per host (1-minute averages)")
    fig.autofmt_xdate()
    out["utilisation"] = _png(fig)
    plt.close(fig)

    timed = [p for p in report["phases"] if p.get("seconds") is not None]
    fig, ax = plt.subplots(figsize=(9, 0.5 + 0.35 * max(len(timed), 1)))
    if timed:
        labels = [f"{i + 1}. {p['status']}" for i, p in enumerate(timed)]
        ax.barh(labels, [p["seconds"] for p in timed], color="tab:blue")
        ax.invert_yaxis()
        ax.set_xlabel("seconds")
    else:
        ax.text(0.5, 0.5, "no phase times", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Time in each phase (SecondaryStatusTransitions)")
    out["phases"] = _png(fig)
    plt.close(fig)
    return out


def _cell(value: dict[str, Any], key: str) -> str:
    return "missing" if value["missing"] else f"{value[key]:.1f}"


def render(report: dict[str, Any]) -> str:
    """The whole page (no external resource: opens offline)."""
    images = charts(report)
    verdict = report["verdict"]
    rows = "".join(
        f"<tr><td>{html.escape(host)}</td><td>{metric}</td>"
        + "".join(f"<td>{_cell(stats, key)}</td>" for key in ("min", "mean", "p95", "max"))
        + "</tr>"
        for host, metrics in sorted(report["hosts"].items())
        for metric, stats in metrics.items()
    )
    phases = "".join(
        f"<tr><td>{html.escape(p['status'])}</td><td>{'' if p['seconds'] is None else round(p['seconds'], 1)}</td></tr>"
        for p in report["phases"]
    )
    findings = "".join(f"<li>{html.escape(f)}</li>" for f in verdict["findings"])
    thresholds = html.escape(json.dumps(verdict["thresholds"]))
    title = html.escape(f"Utilisation: {report['training_job_name']}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child,td:nth-child(2){{text-align:left}}</style>
</head><body>
<h1>{title}</h1>
<p>{html.escape(f"{report['instance_count']} × {report['instance_type']}")} · {html.escape(report["source"])}</p>
<h2>Verdict: {html.escape(verdict["rating"])}</h2><ul>{findings}</ul>
<p>Thresholds (percent per GPU / per vCPU): <code>{thresholds}</code></p>
<img alt="utilisation per host over time" src="data:image/png;base64,{images["utilisation"]}">
<h2>Per host (percent)</h2>
<table><tr><th>host</th><th>metric</th><th>min</th><th>mean</th><th>p95</th><th>max</th></tr>{rows}</table>
<h2>Phases</h2>
<img alt="time in each phase" src="data:image/png;base64,{images["phases"]}">
<table><tr><th>status</th><th>seconds</th></tr>{phases}</table>
</body></html>
"""
