"""The drift report as one self-contained HTML page (matplotlib charts as base64 PNG, no CDN), as the utilisation
report is: stored beside the capture, it opens offline and stays as the record of what the monitor saw."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def class_mix_chart(baseline: dict[str, float], observed: dict[str, float]) -> str:
    """Baseline vs production class mix, side by side bars per label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(set(baseline) | set(observed), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else k))
    positions = range(len(labels))
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar([p - 0.2 for p in positions], [baseline.get(k, 0.0) for k in labels], 0.4, label="baseline (holdout)")
    ax.bar([p + 0.2 for p in positions], [observed.get(k, 0.0) for k in labels], 0.4, label="production (capture)")
    ax.set_xticks(list(positions), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("share")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("Prediction class mix")
    try:
        return _png(fig)
    finally:
        plt.close(fig)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def render(report: dict[str, Any]) -> str:
    """The whole page: verdict and reasons, class-mix chart, figures vs baseline, capture and thresholds."""
    chart = class_mix_chart(report["baseline"]["class_mix"], report["summary"]["class_mix"])
    base, summary = report["baseline"], report["summary"]
    compare = [
        ("mean top-1 confidence", base["mean_top1_confidence"], summary["mean_top1_confidence"]),
        *((f"input {k}", base["input"].get(k), summary["input"].get(k)) for k in summary["input"]),
    ]
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{_fmt(b)}</td><td>{_fmt(o)}</td></tr>" for n, b, o in compare)
    figures = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in sorted(report["figures"].items())
    )
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in report["reasons"]) or "<li>none past its threshold</li>"
    title = html.escape(f"Drift: {report['endpoint']} ({report['created_at']})")
    verdict = "DRIFT" if report["drift"] else "no drift"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body>
<h1>{title}</h1>
<p>Package {html.escape(report["package_arn"])} · baseline {html.escape(report["baseline_uri"])}</p>
<h2>Verdict: {verdict}</h2><ul>{reasons}</ul>
<img alt="class mix, baseline vs production" src="data:image/png;base64,{chart}">
<h2>Figures</h2><table><tr><th>figure</th><th>value</th></tr>{figures}</table>
<h2>Against the baseline</h2>
<table><tr><th>statistic</th><th>baseline</th><th>production</th></tr>{rows}</table>
<h2>Capture</h2><pre>{html.escape(json.dumps(report["capture"], indent=2))}</pre>
<p>Thresholds: <code>{html.escape(json.dumps(report["thresholds"]))}</code></p>
</body></html>
"""
