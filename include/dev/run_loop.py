"""``make run``'s closed loop: traffic to the production endpoint, the drift monitor, pipeline 2 from its Asset event.

1. Normal traffic: every digit alike (``batch4``'s digits, which no pipeline trains or evaluates on), then
   ``mnist_production_monitor`` compares the capture with the served package's baseline: no drift, no event.
2. Drifted traffic: only two digits, so the predictions' class mix moves away from the holdout's; the monitor
   flags it, writes its report, publishes its figures and emits the drift Asset event (reasons in its extra).
3. ``mnist_incremental_spot`` starts from that event: the scheduler's own asset-triggered run (:mod:`asset_runs`),
   whose ``consumed_asset_events`` the summary prints; its model is promoted or rejected on the pinned holdout.

The endpoint captures every request here (``capture_percent`` 100 in make run's deploy), so the monitor's counts are
the requests sent; the DAG's default is 20 %.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from local_datasets.builder import select_samples
from local_datasets.mnist import SIDE
from local_datasets.png import encode_grey_as_rgba

MONITOR_DAG = "mnist_production_monitor"
TRAFFIC_BATCH = "batch4"  # batch1/batch2 train, batch3 is the pinned holdout: these digits are new to every model
NORMAL_PER_CLASS = 10  # 100 requests, every digit alike, as on the holdout
DRIFTED_DIGITS = (1, 7)
DRIFTED_PER_DIGIT = 30  # 60 requests: past the monitor's 50-record minimum (sagemaker_mlops_monitor_min_records)


def traffic_images(per_class: int = max(NORMAL_PER_CLASS, DRIFTED_PER_DIGIT)) -> dict[int, list[bytes]]:
    """PNGs of ``TRAFFIC_BATCH``'s validation digits by label, encoded as the datasets encode them."""
    samples = select_samples(TRAFFIC_BATCH, train_per_class=1, validation_per_class=per_class, test_count=0)
    images: dict[int, list[bytes]] = {}
    for sample in samples:
        if sample.channel == "validation":
            images.setdefault(sample.label, []).append(encode_grey_as_rgba(sample.digit.pixels, SIDE, SIDE))
    return images


def normal_traffic(images: Mapping[int, Sequence[bytes]], per_class: int = NORMAL_PER_CLASS) -> list[bytes]:
    """Every digit ``per_class`` times, round-robin (what the holdout looked like)."""
    return [images[label][i] for i in range(per_class) for label in sorted(images)]


def drifted_traffic(
    images: Mapping[int, Sequence[bytes]], digits: Sequence[int] = DRIFTED_DIGITS, per_digit: int = DRIFTED_PER_DIGIT
) -> list[bytes]:
    """Only ``digits``, ``per_digit`` each: the class mix production now sees is not the holdout's."""
    return [images[label][i] for i in range(per_digit) for label in digits]


def send(runtime: Any, endpoint: str, bodies: Sequence[bytes]) -> dict[str, Any]:
    """InvokeEndpoint per image; the predicted digits counted (the endpoint answers class probabilities)."""
    predicted: dict[str, int] = {}
    errors = 0
    for body in bodies:
        try:
            answer = json.loads(
                runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=body)["Body"].read()
            )
        except runtime.exceptions.ClientError:
            errors += 1
            continue
        top = str(max(range(len(answer)), key=answer.__getitem__))
        predicted[top] = predicted.get(top, 0) + 1
    return {"sent": len(bodies), "errors": errors, "predicted": dict(sorted(predicted.items()))}


def latest_report(s3: Any, sm: Any, endpoint: str) -> dict[str, Any] | None:
    """The newest ``drift-report.json`` beside the endpoint's capture (the monitor's folder), with its URIs."""
    destination = sm.describe_endpoint(EndpointName=endpoint)["DataCaptureConfig"]["DestinationS3Uri"]
    bucket, _, key = destination.removeprefix("s3://").partition("/")
    prefix = "/".join(p for p in (key.rstrip("/"), "_monitor", endpoint) if p) + "/"
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
        if obj["Key"].endswith("/drift-report.json")
    ]
    if not keys:
        return None
    newest = max(keys)  # the folder is the run's UTC time, yyyymmddThhmmssZ
    report = json.loads(s3.get_object(Bucket=bucket, Key=newest)["Body"].read())
    report["report_uri"] = f"s3://{bucket}/{newest}"
    report["html_uri"] = f"s3://{bucket}/{newest.removesuffix('.json')}.html"
    return report


def verdict_lines(report: Mapping[str, Any]) -> list[str]:
    """The monitor's verdict in words: each figure against its threshold, the verdict, and where the report is."""
    figures, limits, base = report["figures"], report["thresholds"], report["baseline"]

    def mark(past: bool) -> str:
        return "DRIFT" if past else "ok"

    lines = []
    js = figures["class_mix_js"]
    lines.append(
        f"class mix Jensen-Shannon {js:.3f} vs threshold {limits['class_mix_js']} -> "
        f"{mark(js > limits['class_mix_js'])} (PSI {figures['class_mix_psi']:.3f}, shown only)"
    )
    if "mean_top1_confidence" in figures:
        floor = base["mean_top1_confidence"] - limits["confidence_drop"]
        value = figures["mean_top1_confidence"]
        lines.append(
            f"mean top-1 confidence {value:.3f} vs floor {floor:.3f} (baseline {base['mean_top1_confidence']:.3f} - "
            f"{limits['confidence_drop']}) -> {mark(value < floor)}"
        )
    if "mean_intensity" in figures:
        shift = abs(figures["mean_intensity"] - base["input"]["mean_intensity"])
        lines.append(
            f"mean intensity {figures['mean_intensity']:.1f} vs baseline {base['input']['mean_intensity']:.1f} "
            f"+/- {limits['intensity_shift']} -> {mark(shift > limits['intensity_shift'])}"
        )
    if "unreadable_fraction" in figures:
        value = figures["unreadable_fraction"]
        lines.append(
            f"unreadable inputs {value:.1%} vs {limits['unreadable_fraction']:.0%} -> "
            f"{mark(value > limits['unreadable_fraction'])}"
        )
    if "error_rate" in figures:
        value = figures["error_rate"]
        lines.append(
            f"error rate {value:.1%} of {figures['invocations']:.0f} invocations vs {limits['error_rate']:.0%} -> "
            f"{mark(value > limits['error_rate'])}"
        )
    mix = ", ".join(f"{label}: {count}" for label, count in report["summary"]["class_counts"].items())
    lines.append(f"predicted digits in {report['capture']['records']:.0f} captured records: {mix}")
    lines.append(
        f"verdict: {'DRIFT' if report['drift'] else 'no drift'}"
        + (" - " + "; ".join(report["reasons"]) if report["reasons"] else "")
    )
    lines.append(f"report: {report['html_uri']} (JSON: {report['report_uri']})")
    return lines


def trigger_lines(trigger: Mapping[str, Any]) -> list[str]:
    """How a run started, as Airflow records it: its type, who triggered it, and each event it consumed."""
    lines = [
        f"run {trigger['run_id']}: run_type {trigger['run_type']}, triggered_by {trigger['triggered_by']}, "
        f"conf {json.dumps(trigger['conf'])}, consumed {len(trigger['consumed_asset_events'])} Asset event(s)"
    ]
    for event in trigger["consumed_asset_events"]:
        extra = event["extra"] or {}
        lines.append(
            f"  {event['asset']} at {event['timestamp']} from {event['source_dag_id']}/{event['source_run_id']}"
            f" ({event['source_task_id']})"
        )
        if extra.get("reasons"):
            lines.append(f"    reasons: {'; '.join(extra['reasons'])}")
            lines.append(f"    report: {extra.get('html_uri')}")
    return lines


def recap_lines(
    calm: Mapping[str, Any] | None,
    drifted: Mapping[str, Any] | None,
    trigger: Mapping[str, Any] | None,
    decision: Mapping[str, Any] | None,
) -> list[str]:
    """The loop in four lines: each monitor verdict, what started the retrain, and its promotion decision."""

    def verdict(report: Mapping[str, Any] | None) -> str:
        if report is None:
            return "no verdict (the run was skipped or failed)"
        figures, limits = report["figures"], report["thresholds"]
        if not report["drift"]:
            return f"no drift (class mix JS {figures['class_mix_js']:.3f} <= {limits['class_mix_js']}), no event"
        emitted = "drift event emitted" if report.get("event_emitted") else "NO drift event"
        return f"DRIFT ({'; '.join(report['reasons'])}), {emitted}; report {report['html_uri']}"

    events = (trigger or {}).get("consumed_asset_events", [])
    started = (
        f"{trigger['run_id']} ({trigger['run_type']}) from "
        + ", ".join(f"{e['asset']} of {e['source_dag_id']}/{e['source_run_id']}" for e in events)
        if trigger
        else "no run"
    )
    if decision is None:
        outcome = "no decision (the run failed before it)"
    else:
        outcome = f"{'PROMOTED, production updated' if decision['promote'] else 'REJECTED, production kept'}: "
        outcome += decision["reason"]
    return [
        f"normal traffic -> {verdict(calm)}",
        f"drifted traffic -> {verdict(drifted)}",
        f"retrain: {started}",
        f"holdout decision: {outcome}",
    ]


def read_trigger(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None
