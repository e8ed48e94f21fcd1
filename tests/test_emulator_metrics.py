"""The emulator publishes a training job's instance metrics to CloudWatch, per host, at 1-minute resolution in
emulated time, and GetMetricData returns them over HTTP (what the utilisation report reads on AWS)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from aws_emulator.sagemaker import metrics

from constants import DATA_BUCKET
from emulator_helpers import dataset_zip, training_request, upload_zip, wait_training

METRICS = ("CPUUtilization", "MemoryUtilization", "GPUUtilization", "GPUMemoryUtilization", "DiskUtilization")


def _query(job: str, hosts: int) -> list[dict]:
    return [
        {
            "Id": f"m{h}_{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "/aws/sagemaker/TrainingJobs",
                    "MetricName": name,
                    "Dimensions": [{"Name": "Host", "Value": f"{job}/algo-{h}"}],
                },
                "Period": 60,
                "Stat": "Average",
            },
            "Label": f"algo-{h} {name}",
        }
        for h in range(1, hosts + 1)
        for i, name in enumerate(METRICS)
    ]


def test_training_job_metrics_per_host_over_getmetricdata(aws, emulator, tmp_path_factory):
    emulator.settings(time_scale=60.0, epoch_seconds=0.4)  # ~1.5 s of training read as ~1.5 emulated minutes
    sm, cw = aws("sagemaker"), aws("cloudwatch")
    samples = upload_zip(aws("s3"), dataset_zip(tmp_path_factory.mktemp("m")), DATA_BUCKET, "ch06")
    sm.create_training_job(**training_request("metrics-job", DATA_BUCKET, "ch06", samples))
    job = wait_training(sm, "metrics-job")
    assert job["TrainingJobStatus"] == "Completed"
    start = job["TrainingStartTime"] - timedelta(minutes=1)
    end = job["TrainingEndTime"] + timedelta(minutes=5)
    answer = cw.get_metric_data(
        MetricDataQueries=_query("metrics-job", 3), StartTime=start, EndTime=end, ScanBy="TimestampAscending"
    )
    series = {r["Label"]: r for r in answer["MetricDataResults"]}
    assert len(series) == 15
    for host in ("algo-1", "algo-2"):
        cpu = series[f"{host} CPUUtilization"]["Values"]
        assert len(cpu) >= 2, series[f"{host} CPUUtilization"]  # minutes of emulated time, not one point
        assert all(0.0 <= v <= 100.0 for v in cpu) and max(cpu) > 1.0  # the trainer's thread really ran
        assert 0.0 < max(series[f"{host} MemoryUtilization"]["Values"]) < 100.0
        assert 0.0 < max(series[f"{host} DiskUtilization"]["Values"]) < 1.0  # a few MB on a 30 GB volume
        # Synthetic, as the log says: 100 * 100 / (100 + 400) = 20% while training.
        assert 0.0 < max(series[f"{host} GPUUtilization"]["Values"]) <= 20.0
        stamps = series[f"{host} CPUUtilization"]["Timestamps"]
        assert all((b - a).total_seconds() == 60 for a, b in itertools.pairwise(stamps))
    assert series["algo-3 CPUUtilization"]["Values"] == []  # the job had 2 instances
    logs = aws("logs").filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="metrics-job")
    assert any(e["message"] == metrics.SYNTHETIC_NOTE for e in logs["events"])


def test_minutes_spread_cpu_over_the_emulated_minutes_they_overlap():
    from datetime import datetime

    meter = metrics.UsageMeter()
    meter.samples = [
        metrics._Sample(real=0.0, cpu=0.0, rss=2**30, phase="Downloading"),
        metrics._Sample(real=1.0, cpu=0.0, rss=2**30, phase="Training"),
        metrics._Sample(real=3.0, cpu=2.0, rss=2**31, phase="Uploading"),
    ]
    points = metrics.datapoints(
        meter,
        origin=datetime(2026, 1, 1),
        time_scale=60.0,
        instance_type="ml.p2.xlarge",
        volume_gb=30,
        mini_batch_size=100,
    )
    cpu = [p["Value"] for p in points if p["MetricName"] == "CPUUtilization"]
    gpu = [p["Value"] for p in points if p["MetricName"] == "GPUUtilization"]
    assert cpu == [0.0, 100.0, 100.0]  # minute 0 downloads (no CPU), minutes 1-2 train flat out on one core
    assert gpu == [0.0, 20.0, 20.0]
    memory = [p["Value"] for p in points if p["MetricName"] == "MemoryUtilization"]
    assert memory[-1] == round(100.0 * 2 / 61, 3)
