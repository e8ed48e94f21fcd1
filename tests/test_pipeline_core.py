"""The pure core the tasks call, without Airflow or AWS: what to do with this run's job, how an ended job fails,
which base model is newest and compatible, the smoke test's scoring and the training report's numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sagemaker_mlops.core import report
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.serving import smoke_test
from sagemaker_mlops.training import incremental
from sagemaker_mlops.training import job as training


def job(status: str, **extra: Any) -> dict[str, Any]:
    return {"TrainingJobName": "mlops-train-run-0123456789", "TrainingJobStatus": status, **extra}


# -- training: create, attach or done; an ended job fails without retries ------------------------------------------
@pytest.mark.parametrize(
    ("described", "step"),
    [
        (None, training.CREATE),
        (job("InProgress"), training.ATTACH),
        (job("Stopping"), training.ATTACH),
        (job("Completed"), training.DONE),
    ],
)
def test_next_step_for_this_runs_job(described: dict[str, Any] | None, step: str) -> None:
    assert training.next_step(described) == step


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_a_job_that_already_ended_badly_is_not_started_again(status: str) -> None:
    with pytest.raises(ParamError) as caught:
        training.next_step(job(status, SecondaryStatus=status, FailureReason="AlgorithmError: bad data"))
    message = str(caught.value)
    assert f"already ended {status}" in message and "AlgorithmError: bad data" in message
    assert "Fix: trigger a new run" in message and "resume_checkpoint_uri" in message


def test_raise_for_status_passes_a_completed_job_and_names_a_failure() -> None:
    training.raise_for_status(job("Completed"))
    with pytest.raises(training.TrainingJobEnded, match=r"ended Failed \(Failed\)\. AlgorithmError: no data"):
        training.raise_for_status(job("Failed", SecondaryStatus="Failed", FailureReason="AlgorithmError: no data"))


def test_a_spot_job_out_of_max_wait_says_where_its_checkpoints_are_and_how_to_resume() -> None:
    ended = job(
        "Stopped",
        SecondaryStatus="MaxWaitTimeExceeded",
        CheckpointConfig={"S3Uri": "s3://bkt/j/checkpoints"},
        StoppingCondition={"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600},
    )
    with pytest.raises(training.TrainingJobEnded) as caught:
        training.raise_for_status(ended)
    message = str(caught.value)
    assert "ended Stopped (MaxWaitTimeExceeded)" in message and "MaxWaitTimeInSeconds=3600" in message
    assert "resume_checkpoint_uri=s3://bkt/j/checkpoints" in message


# -- incremental: the newest model event, and a base the algorithm can warm-start from -----------------------------
def test_latest_event_extra_is_the_newest_that_names_a_job() -> None:
    old = (datetime(2026, 1, 1, tzinfo=UTC), {"training_job_name": "old"})
    new = (datetime(2026, 2, 1, tzinfo=UTC), {"training_job_name": "new"})
    newer_but_empty = (datetime(2026, 3, 1, tzinfo=UTC), {})
    assert incremental.latest_event_extra([old, newer_but_empty, new])["training_job_name"] == "new"
    assert incremental.latest_event_extra([newer_but_empty]) is None
    assert incremental.latest_event_extra([]) is None


def test_compatibility_needs_equal_classes_shape_and_depth() -> None:
    base = {"num_classes": "10", "image_shape": "1,28,28", "num_layers": "18", "epochs": "3"}
    ours = {"num_classes": 10, "image_shape": "1, 28, 28", "num_layers": 18, "epochs": 30}
    assert incremental.compatibility_errors(base, ours, "base-job") == []  # epochs may differ; spaces do not count
    errors = incremental.compatibility_errors(base, {**ours, "num_layers": 34, "num_classes": 2}, "base-job")
    assert [e.field for e in errors] == ["num_classes", "num_layers"]
    assert "base-job was trained with num_layers=18, this run asks for 34" in str(errors[1])
    assert "Fix: set num_layers to 18" in str(errors[1])


def test_a_hyperparameter_the_base_job_left_to_the_default_is_not_judged() -> None:
    assert incremental.compatibility_errors({"num_classes": "10"}, {"num_classes": 10, "num_layers": 50}, "b") == []


# -- where this run writes vs where its base model lives -----------------------------------------------------------
def test_pipeline_2_retrains_from_its_own_promoted_model() -> None:
    """After one promotion the registry's champion is pipeline 2's own model, in an earlier job's output folder under
    pipeline 2's prefix (``<prefix>/output/<job>/output/model.tar.gz``). The next run — cron, drift, or the tuning
    DAG's model Asset — writes only its own job's folder there, never an earlier one's: the base is safe, not refused
    (``make airflow`` ended red on this once tuning's Asset event started pipeline 2 a second time)."""
    own = "s3://incremental/ch06/output/mlops-train-asset-20261207t062738-045de34e45/output/model.tar.gz"
    assert incremental.protection_errors("incremental", "ch06", own) == []
    assert incremental.protection_errors("incremental", "ch06/", own) == []


@pytest.mark.parametrize(
    "base_uri",
    [
        "s3://incremental/ch06/model.tar.gz",  # at the prefix's top
        "s3://incremental/ch06/train/model.tar.gz",  # in a data channel this run uploads to
        "s3://incremental/ch06/output/model.tar.gz",  # in the output folder, not in a job's folder
        "s3://incremental/ch06/checkpoints/job/model.tar.gz",  # where checkpoints sync
    ],
)
def test_a_base_model_where_this_run_writes_is_still_refused(base_uri: str) -> None:
    errors = incremental.protection_errors("incremental", "ch06", base_uri)
    assert [e.field for e in errors] == ["s3_prefix"] and "another prefix" in str(errors[0])


@pytest.mark.parametrize(
    "base_uri",
    [
        "s3://base-bucket/ch06/output/job/output/model.tar.gz",  # another bucket (the book's layout)
        "s3://incremental/ch06-old/output/job/output/model.tar.gz",  # a sibling prefix, not under ch06/
    ],
)
def test_a_base_model_elsewhere_is_never_refused(base_uri: str) -> None:
    assert incremental.protection_errors("incremental", "ch06", base_uri) == []


# -- smoke test: predictions of test/, accuracy of a labeled sample, the other variant on the same images ----------
def fake_bucket(labels: list[int]) -> dict[str, bytes]:
    """test/ has two images; validation/ one image per label, listed in validation_lst/validation.lst."""
    objects = {"ch06/test/a.png": b"3", "ch06/test/b.png": b"7", "ch06/test/": b""}
    lines = []
    for index, label in enumerate(labels):
        objects[f"ch06/validation/{label}/img{index}.png"] = str(label).encode()
        lines.append(f"{index}\t{label}\t{label}/img{index}.png")
    objects["ch06/validation_lst/validation.lst"] = "\n".join(lines).encode()
    return objects


def run_smoke(objects: dict[str, bytes], *, wrong_for: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """The endpoint answers with the digit the image's bytes spell; the ``wrong_for`` variant ("AllTraffic" for
    requests that name none) always answers 0."""
    calls: list[str | None] = []

    def invoke(body: bytes, variant: str | None = None) -> list[float]:
        calls.append(variant)
        digit = 0 if (variant or "AllTraffic") == wrong_for else int(body.decode())
        return [1.0 if index == digit else 0.0 for index in range(10)]

    outcome = smoke_test.run(
        invoke,
        objects.__getitem__,
        lambda prefix: [k for k in objects if k.startswith(prefix)],
        prefix="ch06",
        **kwargs,
    )
    outcome["calls"] = calls
    return outcome


def test_smoke_test_names_the_test_predictions_and_scores_the_sample() -> None:
    outcome = run_smoke(fake_bucket([1, 2, 3, 4]), sample_size=50, min_accuracy=0.9)
    assert outcome["test_predictions"] == {"a.png": "THREE", "b.png": "SEVEN"}
    assert (outcome["sample_size"], outcome["correct"], outcome["accuracy"], outcome["passed"]) == (4, 4, 1.0, True)
    assert outcome["latency_ms"]["invocations"] == 6 and outcome["latency_ms"]["p95"] >= outcome["latency_ms"]["p50"]


def test_smoke_test_below_min_accuracy_fails_and_an_other_variant_sees_the_same_images() -> None:
    outcome = run_smoke(
        fake_bucket([0, 5, 5, 5]), sample_size=4, min_accuracy=0.5, other_variants=("BaseModel",), wrong_for="BaseModel"
    )
    assert outcome["passed"] is True and outcome["accuracy"] == 1.0
    assert outcome["other_variants"] == {"BaseModel": {"correct": 1, "accuracy": 0.25}}  # only the 0 is right
    assert outcome["calls"].count("BaseModel") == 4
    failed = run_smoke(fake_bucket([0, 1, 2, 3]), sample_size=4, min_accuracy=0.3, wrong_for="AllTraffic")
    assert (failed["accuracy"], failed["passed"]) == (0.25, False)
    empty = run_smoke({"ch06/validation_lst/validation.lst": b""}, sample_size=5, min_accuracy=0.0)
    assert empty["passed"] is False and empty["sample_size"] == 0  # nothing scored is never a pass


def test_smoke_helpers() -> None:
    assert smoke_test.class_name(9) == "NINE" and smoke_test.class_name(12) == "12"
    assert smoke_test.sample_evenly(list(range(10)), 3) == [0, 3, 6]
    assert smoke_test.sample_evenly([1, 2], 5) == [1, 2]
    assert smoke_test.percentile([], 50) == 0.0
    assert smoke_test.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert smoke_test.parse_lst("0\t3.0\t3/a.png\n\n1\t4\t4/b.png\n") == [(3, "3/a.png"), (4, "4/b.png")]


# -- report: cost from the price table, the book's spot savings -----------------------------------------------------
def described_job(**extra: Any) -> dict[str, Any]:
    return job(
        "Completed",
        **{
            "SecondaryStatus": "Completed",
            "ResourceConfig": {"InstanceType": "ml.p2.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
            "ModelArtifacts": {"S3ModelArtifacts": "s3://bkt/ch06/output/j/output/model.tar.gz"},
            "FinalMetricDataList": [
                {"MetricName": "validation:accuracy", "Value": 0.93},
                {"MetricName": "train:accuracy", "Value": 0.97},
            ],
            "SecondaryStatusTransitions": [{"Status": s} for s in ("Starting", "Training", "Completed")],
            "TrainingTimeInSeconds": 3600,
            "BillableTimeInSeconds": 3600,
            **extra,
        },
    )


def test_training_report_prices_the_billable_seconds() -> None:
    result = report.training_report(described_job(), region="us-east-1", dataset={"num_training_samples": 480})
    hourly = report.prices()["training"]["ml.p2.xlarge"]
    assert result["estimated_cost"]["usd"] == round(hourly * 2, 4) and result["estimated_cost"]["note"] is None
    assert (result["validation_accuracy"], result["train_accuracy"]) == (0.93, 0.97)
    assert result["managed_spot"] is False and result["spot_savings_percent"] is None
    assert result["model_artifact"].endswith("/model.tar.gz") and result["dataset"] == {"num_training_samples": 480}
    json.dumps(result)  # XCom- and S3-ready
    markdown = report.render_markdown(result)
    assert "Validation accuracy: 0.93" in markdown and "Managed spot" not in markdown
    assert "Starting → Training → Completed" in markdown


def test_spot_savings_are_the_books_formula_and_interruptions_are_counted() -> None:
    transitions = [{"Status": s} for s in ("Starting", "Training", "Interrupted", "Training", "Completed")]
    spot = described_job(
        EnableManagedSpotTraining=True, BillableTimeInSeconds=1440, SecondaryStatusTransitions=transitions
    )
    result = report.training_report(spot, region="eu-west-1")
    assert result["spot_savings_percent"] == 60.0 and result["spot_interruptions"] == 1
    assert result["on_demand_cost"]["usd"] > result["estimated_cost"]["usd"]
    assert "eu-west-1 differs" in result["estimated_cost"]["note"]
    assert "Managed spot savings: 60.0%" in report.render_markdown(result)
    assert report.spot_savings_percent(0, 10) is None and report.spot_savings_percent(100, None) is None


def test_an_instance_type_missing_from_the_price_table_has_no_price_rather_than_a_wrong_one() -> None:
    cost = report.estimate_cost("training", "ml.p5.48xlarge", 1, 3600, "us-east-1")
    assert cost["usd"] is None and cost["hourly_usd"] is None
