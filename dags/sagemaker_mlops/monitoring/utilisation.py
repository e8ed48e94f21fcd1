"""Is the training fleet right-sized? The book's Debugger Insights dashboard, from CloudWatch's instance metrics.

SageMaker Debugger closed to new customers on 2026-07-30, so this reads what every training job publishes anyway:
namespace ``/aws/sagemaker/TrainingJobs``, dimension ``Host=<job>/algo-<n>``, 1-minute averages. Pure functions:
the GetMetricData queries, per host and metric min / mean / p95 / max, time per phase from
``SecondaryStatusTransitions``, and a verdict with its numbers and the thresholds it used. A metric with no
datapoints (a real account before CloudWatch has them) is *missing*, never 0. Stdlib only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

NAMESPACE = "/aws/sagemaker/TrainingJobs"
METRICS = ("CPUUtilization", "MemoryUtilization", "GPUUtilization", "GPUMemoryUtilization", "DiskUtilization")
PERIOD_SECONDS = 60
# CloudWatch (botocore's MetricStat.Period): for a StartTime 15-63 days ago the period must be a multiple of 300 s,
# older a multiple of 3600 s, "or no data points in that time range is returned"; GetMetricData returns at most
# 100,800 data points a call.
_RETENTION_PERIODS = ((timedelta(days=15), 60), (timedelta(days=63), 300))
MAX_DATAPOINTS = 100_800
# The verdict's thresholds, in percent (GPU and CPU per device/core: CloudWatch sums them over the instance).
THRESHOLDS = {
    "gpu_under_used_mean": 30.0,  # fleet-wide GPU mean below this: the GPUs mostly wait
    "gpu_saturated_p95": 90.0,  # GPU p95 above this on a host: more or larger GPUs would finish sooner
    "cpu_bound_p95_per_core": 90.0,  # CPU p95 per vCPU above this while the GPUs are under-used: input-bound
    "memory_high_max": 90.0,  # memory max above this: close to running out
    "disk_high_max": 90.0,  # disk max above this: volume_size_gb is too small
}
# vCPUs and GPUs of the algorithm's training types (EC2 specs of the same names): CloudWatch sums over them.
INSTANCE_DEVICES = {
    "ml.p2.xlarge": (4, 1),
    "ml.p2.8xlarge": (32, 8),
    "ml.p2.16xlarge": (64, 16),
    "ml.p3.2xlarge": (8, 1),
    "ml.p3.8xlarge": (32, 4),
    "ml.p3.16xlarge": (64, 8),
    "ml.g4dn.xlarge": (4, 1),
    "ml.g4dn.2xlarge": (8, 1),
    "ml.g5.xlarge": (4, 1),
    "ml.g5.2xlarge": (8, 1),
}
CHEAPER_GPU = "ml.g4dn.xlarge"  # the smallest supported GPU type in the price table


def hosts(job_name: str, instance_count: int) -> list[str]:
    return [f"{job_name}/algo-{n}" for n in range(1, instance_count + 1)]


def _query_id(host_index: int, metric: str) -> str:
    return f"h{host_index}_{re.sub(r'[^a-zA-Z0-9]', '', metric).lower()}"


def period_for(start: datetime, end: datetime, now: datetime, series: int) -> int:
    """The finest period CloudWatch answers for data from ``start``: 60 s up to 15 days old, a multiple of 300 s up
    to 63 days, of 3600 s beyond; widened (by that multiple) until ``series`` x points fit one call's 100,800 data
    points, so a spot job that ran for weeks is still read whole."""
    multiple = next((period for age, period in _RETENTION_PERIODS if now - start <= age), 3600)
    span = max((end - start).total_seconds(), 1.0)
    per_series = MAX_DATAPOINTS // max(min(series, 500), 1)
    steps = max(1, math.ceil(span / (multiple * per_series)))
    return multiple * steps


def metric_queries(job_name: str, instance_count: int, period: int = PERIOD_SECONDS) -> list[dict[str, Any]]:
    """GetMetricData queries: every metric of every host, averages over ``period`` (≤ 500 per call: 100 hosts)."""
    return [
        {
            "Id": _query_id(n, metric),
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": [{"Name": "Host", "Value": host}],
                },
                "Period": period,
                "Stat": "Average",
            },
            "Label": f"{host.rsplit('/', 1)[1]} {metric}",
            "ReturnData": True,
        }
        for n, host in enumerate(hosts(job_name, instance_count), start=1)
        for metric in METRICS
    ]


def series_from_results(results: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, list[tuple[datetime, float]]]]:
    """GetMetricData's MetricDataResults (all pages) → {host: {metric: [(timestamp, value), ...] oldest first}}."""
    series: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
    for result in results:
        host, metric = result["Label"].split(" ", 1)
        points = series.setdefault(host, {}).setdefault(metric, [])
        points.extend(zip(result.get("Timestamps", []), result.get("Values", []), strict=True))
    for metrics in series.values():
        for points in metrics.values():
            points.sort(key=lambda p: p[0])
    return series


def stats(values: Sequence[float]) -> dict[str, Any]:
    """min / mean / p95 (nearest rank) / max; ``{"missing": True}`` when there is no datapoint."""
    if not values:
        return {"missing": True, "points": 0}
    ordered = sorted(values)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {
        "missing": False,
        "points": len(ordered),
        "min": round(ordered[0], 2),
        "mean": round(sum(ordered) / len(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
    }


def phases(transitions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Seconds in each secondary status, in order (a status entered twice, e.g. after a spot interruption, twice)."""
    out = []
    for t in transitions:
        start, end = t.get("StartTime"), t.get("EndTime")
        seconds = (end - start).total_seconds() if isinstance(start, datetime) and isinstance(end, datetime) else None
        out.append({"status": t["Status"], "start": start, "end": end, "seconds": seconds})
    return out


def _fleet(per_host: Mapping[str, Mapping[str, dict]], metric: str, key: str) -> list[float]:
    return [m[metric][key] for m in per_host.values() if not m[metric]["missing"]]


def verdict(
    per_host: Mapping[str, Mapping[str, dict]],
    *,
    instance_type: str,
    instance_count: int,
    mini_batch_size: int | None,
) -> dict[str, Any]:
    """A rating (under-used / saturated / input-bound / right-sized / unknown) and findings, each with numbers."""
    vcpus, gpus = INSTANCE_DEVICES.get(instance_type, (4, 1))
    fleet = f"{instance_count} × {instance_type}"
    findings: list[str] = []
    missing = sorted({metric for m in per_host.values() for metric in METRICS if m[metric]["missing"]})
    if missing:
        findings.append(f"no datapoints for {', '.join(missing)} (not counted as 0)")
    gpu_means = _fleet(per_host, "GPUUtilization", "mean")
    rating = "unknown"
    if gpu_means:
        gpu_mean = sum(gpu_means) / len(gpu_means) / gpus
        gpu_p95 = max(_fleet(per_host, "GPUUtilization", "p95")) / gpus
        cpu_p95 = max(_fleet(per_host, "CPUUtilization", "p95") or [0.0]) / vcpus
        if gpu_mean < THRESHOLDS["gpu_under_used_mean"]:
            fewer = instance_count - 1 if instance_count > 2 else 1
            tries = [f"{fewer} instance{'s' if fewer > 1 else ''}"] if instance_count > 1 else []
            batch = f" (now {mini_batch_size})" if mini_batch_size else ""
            tries.append(f"a larger mini_batch_size{batch}")
            if instance_type != CHEAPER_GPU:
                tries.append(CHEAPER_GPU)
            if cpu_p95 > THRESHOLDS["cpu_bound_p95_per_core"]:
                rating = "input-bound"
                findings.insert(
                    0,
                    f"GPU mean {gpu_mean:.0f}% while CPU p95 is {cpu_p95:.0f}% per vCPU on {fleet}: input-bound — "
                    "the CPUs cannot feed the GPUs; use RecordIO/pipe input or an instance with more vCPUs",
                )
            else:
                rating = "under-used"
                findings.insert(0, f"GPU mean {gpu_mean:.0f}% on {fleet}: under-used — try {', or '.join(tries)}")
        elif gpu_p95 > THRESHOLDS["gpu_saturated_p95"]:
            rating = "saturated"
            findings.insert(
                0, f"GPU p95 {gpu_p95:.0f}% on {fleet}: saturated — more instances or a larger GPU type finish sooner"
            )
        else:
            rating = "right-sized"
            findings.insert(0, f"GPU mean {gpu_mean:.0f}%, p95 {gpu_p95:.0f}% on {fleet}: right-sized")
    else:
        findings.insert(0, f"GPU utilisation missing on {fleet}: no verdict on the GPUs")
    memory = _fleet(per_host, "MemoryUtilization", "max")
    if memory and max(memory) > THRESHOLDS["memory_high_max"]:
        findings.append(f"memory max {max(memory):.0f}%: close to running out — a larger instance type")
    disk = _fleet(per_host, "DiskUtilization", "max")
    if disk and max(disk) > THRESHOLDS["disk_high_max"]:
        findings.append(f"disk max {max(disk):.0f}%: raise volume_size_gb")
    return {"rating": rating, "text": findings[0], "findings": findings, "thresholds": dict(THRESHOLDS)}


def build_report(
    job: Mapping[str, Any], series: Mapping[str, Mapping[str, list[tuple[datetime, float]]]]
) -> dict[str, Any]:
    """The report for one DescribeTrainingJob response and its metric series (JSON-friendly but for datetimes)."""
    resource = job.get("ResourceConfig", {})
    count = int(resource.get("InstanceCount", 1))
    instance_type = resource.get("InstanceType", "")
    per_host = {}
    for host in hosts(job["TrainingJobName"], count):
        name = host.rsplit("/", 1)[1]
        per_host[name] = {m: stats([v for _, v in series.get(name, {}).get(m, [])]) for m in METRICS}
    batch = (job.get("HyperParameters") or {}).get("mini_batch_size")
    return {
        "training_job_name": job["TrainingJobName"],
        "instance_type": instance_type,
        "instance_count": count,
        "source": f"CloudWatch {NAMESPACE}, dimension Host, {PERIOD_SECONDS} s averages (no SageMaker Debugger)",
        "hosts": per_host,
        "series": {
            host: {m: {"timestamps": [t for t, _ in pts], "values": [v for _, v in pts]} for m, pts in metrics.items()}
            for host, metrics in series.items()
        },
        "phases": phases(job.get("SecondaryStatusTransitions", [])),
        "verdict": verdict(
            per_host,
            instance_type=instance_type,
            instance_count=count,
            mini_batch_size=int(batch) if batch else None,
        ),
    }
