"""The utilisation report (the book's Debugger Insights, from CloudWatch): from the emulator's real metrics over
GetMetricData, its statistics and verdict; and with no datapoints at all, every metric reported missing, not 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sagemaker_mlops.monitoring import utilisation, utilisation_html
from sagemaker_mlops.monitoring.tasks import read_series

from constants import DATA_BUCKET
from emulator_helpers import dataset_zip, training_request, upload_zip, wait_training


def _job(name: str = "job-x", count: int = 2, instance_type: str = "ml.p2.xlarge") -> dict:
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    return {
        "TrainingJobName": name,
        "CreationTime": start,
        "TrainingStartTime": start,
        "TrainingEndTime": start + timedelta(minutes=5),
        "ResourceConfig": {"InstanceCount": count, "InstanceType": instance_type, "VolumeSizeInGB": 30},
        "HyperParameters": {"mini_batch_size": "100"},
        "SecondaryStatusTransitions": [
            {"Status": "Starting", "StartTime": start - timedelta(seconds=90), "EndTime": start},
            {"Status": "Training", "StartTime": start, "EndTime": start + timedelta(minutes=4)},
            {"Status": "Uploading", "StartTime": start + timedelta(minutes=4), "EndTime": start + timedelta(minutes=5)},
        ],
    }


def test_report_from_the_emulators_metrics_over_getmetricdata(aws, emulator, tmp_path_factory):
    emulator.settings(time_scale=60.0, epoch_seconds=0.4)
    sm = aws("sagemaker")
    samples = upload_zip(aws("s3"), dataset_zip(tmp_path_factory.mktemp("u")), DATA_BUCKET, "ch06")
    sm.create_training_job(**training_request("util-job", DATA_BUCKET, "ch06", samples))
    job = wait_training(sm, "util-job")
    report = utilisation.build_report(job, read_series(aws("cloudwatch"), job))

    assert set(report["hosts"]) == {"algo-1", "algo-2"}
    for host in report["hosts"].values():
        assert all(not stats["missing"] for stats in host.values())
        cpu, gpu = host["CPUUtilization"], host["GPUUtilization"]
        assert cpu["points"] >= 2 and 0 <= cpu["min"] <= cpu["mean"] <= cpu["p95"] <= cpu["max"] <= 100
        assert 0 < gpu["max"] <= 20.0  # the emulator's synthetic GPU figure: 20% for mini_batch_size 100
    verdict = report["verdict"]
    assert verdict["rating"] == "under-used"
    assert verdict["text"].startswith("GPU mean ") and verdict["text"].endswith(
        "% on 2 × ml.p2.xlarge: under-used — try 1 instance, or a larger mini_batch_size (now 100), or ml.g4dn.xlarge"
    )
    assert verdict["thresholds"]["gpu_under_used_mean"] == 30.0
    statuses = [p["status"] for p in report["phases"]]
    assert statuses[:3] == ["Starting", "Downloading", "Training"] and statuses[-1] == "Completed"
    assert all(p["seconds"] >= 0 for p in report["phases"][:-1])

    page = utilisation_html.render(report)
    assert page.count("data:image/png;base64,") == 2  # the charts are inside the page
    assert "http://" not in page and "https://" not in page and "<script" not in page  # offline, no CDN
    assert "under-used" in page


def test_a_job_whose_metrics_are_20_days_old_is_still_read(emulator, aws):
    """CloudWatch answers data 15-63 days old only at periods that are multiples of 300 s (older: 3600 s); a long
    spot job's report reads its metrics at such a period instead of reading nothing."""
    now = datetime.now(UTC)
    job = {**_job("old-spot-job", count=1), "TrainingStartTime": now - timedelta(days=20)}
    job["CreationTime"], job["TrainingEndTime"] = job["TrainingStartTime"], now - timedelta(days=19, hours=23)
    cw = aws("cloudwatch")
    for minute in range(0, 60, 5):
        emulator.publish_metrics(  # as SageMaker publishes them: PutMetricData refuses data over two weeks old
            utilisation.NAMESPACE,
            [
                {
                    "MetricName": "GPUUtilization",
                    "Dimensions": [{"Name": "Host", "Value": "old-spot-job/algo-1"}],
                    "Timestamp": job["TrainingStartTime"] + timedelta(minutes=minute),
                    "Value": 40.0,
                    "Unit": "Percent",
                }
            ],
        )
    series = read_series(cw, job, now=now)
    assert [value for _, value in series["algo-1"]["GPUUtilization"]] and all(
        value == 40.0 for _, value in series["algo-1"]["GPUUtilization"]
    )


def test_the_period_follows_cloudwatchs_retention_and_fits_one_call():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert utilisation.period_for(now - timedelta(hours=5), now - timedelta(hours=4), now, 10) == 60
    assert utilisation.period_for(now - timedelta(days=20), now - timedelta(days=19), now, 10) == 300
    assert utilisation.period_for(now - timedelta(days=70), now - timedelta(days=69), now, 10) == 3600
    # a spot job that ran four weeks, 2 hosts x 5 metrics: a multiple of 300 s that fits 100,800 points a call
    period = utilisation.period_for(now - timedelta(days=30), now - timedelta(days=2), now, 10)
    assert period % 300 == 0 and 10 * (28 * 86400 / period) <= utilisation.MAX_DATAPOINTS


def test_no_datapoints_are_missing_never_zero():
    report = utilisation.build_report(_job(), {})
    for host in report["hosts"].values():
        assert all(stats == {"missing": True, "points": 0} for stats in host.values())
    verdict = report["verdict"]
    assert verdict["rating"] == "unknown"
    assert verdict["text"] == "GPU utilisation missing on 2 × ml.p2.xlarge: no verdict on the GPUs"
    assert (
        "no datapoints for CPUUtilization" in verdict["findings"][1] and "(not counted as 0)" in verdict["findings"][1]
    )
    assert [p["seconds"] for p in report["phases"]] == [90.0, 240.0, 60.0]
    page = utilisation_html.render(report)
    assert page.count("<td>missing</td>") == 40 and "<td>0.0</td>" not in page  # 2 hosts x 5 metrics x 4 stats


def _series(**metrics: list[float]) -> dict:
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    points = {m: [(t0 + timedelta(minutes=i), v) for i, v in enumerate(vs)] for m, vs in metrics.items()}
    return {"algo-1": points}


def test_statistics_and_the_other_verdicts():
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert utilisation.stats(values) == {
        "missing": False,
        "points": 20,
        "min": 1.0,
        "mean": 10.5,
        "p95": 19.0,
        "max": 20.0,
    }
    busy = utilisation.build_report(
        _job(count=1), _series(GPUUtilization=[95.0] * 5, CPUUtilization=[50.0] * 5, MemoryUtilization=[93.0] * 5)
    )
    assert busy["verdict"]["rating"] == "saturated"
    assert "memory max 93%: close to running out" in busy["verdict"]["findings"][-1]
    fed = utilisation.build_report(_job(count=1), _series(GPUUtilization=[10.0] * 5, CPUUtilization=[380.0] * 5))
    assert fed["verdict"]["rating"] == "input-bound"  # 380% on 4 vCPUs = 95% per vCPU
    fine = utilisation.build_report(_job(count=1), _series(GPUUtilization=[60.0] * 5))
    assert fine["verdict"]["text"] == "GPU mean 60%, p95 60% on 1 × ml.p2.xlarge: right-sized"
