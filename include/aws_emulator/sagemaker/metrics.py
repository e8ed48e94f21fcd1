"""A training job's instance metrics in CloudWatch, as SageMaker publishes them (and Debugger is not needed for).

SageMaker sends ``CPUUtilization``, ``MemoryUtilization``, ``GPUUtilization``, ``GPUMemoryUtilization`` and
``DiskUtilization`` to namespace ``/aws/sagemaker/TrainingJobs``, dimension ``Host=<job>/algo-<n>``, every minute,
CPU and GPU summed over cores/devices (0-400% on 4 vCPUs). The emulator does the same, per host, at 1-minute
resolution in emulated time (``time_scale``), from what the stand-in trainer really used:

* CPU: the training thread's CPU time (``time.thread_time``) over wall time, measured at every phase change and
  epoch (one thread: at most 100%, on an instance of 4+ vCPUs);
* memory: the emulator process's resident memory over the instance type's memory;
* disk: the bytes of the channels and checkpoints the job downloaded over its ``VolumeSizeInGB``;
* GPU: **synthetic** — the stand-in trains on the CPU. During the Training phase ``GPUUtilization`` is
  ``100 x b / (b + 400)`` for ``mini_batch_size`` b (20% at the book's 100) and ``GPUMemoryUtilization``
  ``4 + 0.05 x b``; the job's log says so in a line starting ``[emulator]``.

The stand-in trains once for the whole cluster, so every host shows the same measured series.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from moto.cloudwatch import models as cloudwatch_models

NAMESPACE = "/aws/sagemaker/TrainingJobs"
PERIOD_SECONDS = 60
# vCPUs, memory (GiB) of the algorithm's training types (EC2 instance specs of the same names).
INSTANCE_SPECS = {
    "ml.p2.xlarge": (4, 61),
    "ml.p2.8xlarge": (32, 488),
    "ml.p2.16xlarge": (64, 732),
    "ml.p3.2xlarge": (8, 61),
    "ml.p3.8xlarge": (32, 244),
    "ml.p3.16xlarge": (64, 488),
    "ml.g4dn.xlarge": (4, 16),
    "ml.g4dn.2xlarge": (8, 32),
    "ml.g5.xlarge": (4, 16),
    "ml.g5.2xlarge": (8, 32),
}
SYNTHETIC_NOTE = (
    "[emulator] instance metrics: CPU, memory and disk are measured from the stand-in trainer; GPUUtilization and "
    "GPUMemoryUtilization are synthetic (the stand-in has no GPU): 100*b/(b+400) and 4+0.05*b for mini_batch_size b."
)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: peak RSS instead
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass
class _Sample:
    real: float  # time.monotonic()
    cpu: float  # time.thread_time() of the job's thread
    rss: int
    phase: str  # the phase that starts at this sample


@dataclass
class UsageMeter:
    """Samples the job's own thread; :meth:`mark` must be called from that thread (thread CPU time is per thread)."""

    samples: list[_Sample] = field(default_factory=list)
    disk_bytes: int = 0

    def mark(self, phase: str) -> None:
        self.samples.append(_Sample(time.monotonic(), time.thread_time(), _rss_bytes(), phase))

    def minutes(self, origin: datetime, time_scale: float) -> list[dict]:
        """Per emulated minute from ``origin`` (the first sample): cpu seconds, wall seconds, max rss, training
        share. The segments between samples are spread over the minutes they overlap."""
        if len(self.samples) < 2:
            return []
        t0 = self.samples[0].real
        buckets: dict[int, dict] = {}
        for before, after in itertools.pairwise(self.samples):
            start, end = (before.real - t0) * time_scale, (after.real - t0) * time_scale
            span = max(end - start, 1e-9)
            for minute in range(int(start // PERIOD_SECONDS), math.ceil(end / PERIOD_SECONDS) or 1):
                lo, hi = max(start, minute * PERIOD_SECONDS), min(end, (minute + 1) * PERIOD_SECONDS)
                share = max(hi - lo, 0.0) / span
                if share <= 0 and span > 1e-9:
                    continue
                b = buckets.setdefault(minute, {"cpu": 0.0, "wall": 0.0, "rss": 0, "training": 0.0})
                b["cpu"] += (after.cpu - before.cpu) * share
                b["wall"] += (after.real - before.real) * share
                b["rss"] = max(b["rss"], after.rss)
                if before.phase == "Training":
                    b["training"] += (after.real - before.real) * share
        return [
            {"timestamp": origin + timedelta(seconds=minute * PERIOD_SECONDS), **b}
            for minute, b in sorted(buckets.items())
        ]


def datapoints(
    meter: UsageMeter,
    *,
    origin: datetime,
    time_scale: float,
    instance_type: str,
    volume_gb: float,
    mini_batch_size: int,
) -> list[dict]:
    """The five metrics per emulated minute (percent), before the Host dimension is added."""
    _vcpus, memory_gib = INSTANCE_SPECS.get(instance_type, (4, 16))
    gpu_busy = 100.0 * mini_batch_size / (mini_batch_size + 400.0)
    gpu_memory = min(95.0, 4.0 + 0.05 * mini_batch_size)
    disk = min(100.0, 100.0 * meter.disk_bytes / max(volume_gb * 2**30, 1.0))
    points = []
    for minute in meter.minutes(origin, time_scale):
        wall = max(minute["wall"], 1e-9)
        training = min(1.0, minute["training"] / wall)
        values = {
            "CPUUtilization": 100.0 * minute["cpu"] / wall,
            "MemoryUtilization": 100.0 * minute["rss"] / (memory_gib * 2**30),
            "DiskUtilization": disk,
            "GPUUtilization": gpu_busy * training,
            "GPUMemoryUtilization": gpu_memory if training > 0 else 0.0,
        }
        points += [{"MetricName": k, "Timestamp": minute["timestamp"], "Value": round(v, 3)} for k, v in values.items()]
    return points


def publish(account_id: str, region: str, job_name: str, instance_count: int, points: list[dict]) -> None:
    """Into moto's CloudWatch backend, one copy per host ``<job>/algo-<n>``, so GetMetricData answers them."""
    backend = cloudwatch_models.cloudwatch_backends[account_id][region]  # the emulator's (install.py)
    for n in range(1, instance_count + 1):
        host = [{"Name": "Host", "Value": f"{job_name}/algo-{n}"}]
        backend.put_metric_data(NAMESPACE, [{**point, "Dimensions": host, "Unit": "Percent"} for point in points])
