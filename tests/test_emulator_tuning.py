"""Hyperparameter tuning jobs on the emulator, over real HTTP with boto3: real child training jobs (the stand-in
trains each), at most MaxParallelTrainingJobs at a time, states, counters, the best job, listing and stopping."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

import emulator_helpers
from emulator_helpers import all_trials, upload_zip, wait_tuning

BUCKET, PREFIX = "tuning-bucket", "ch06"


@pytest.fixture()
def samples(aws: Any, batch1: Path) -> int:
    return upload_zip(aws("s3"), batch1, BUCKET, PREFIX)


def tuning_request(name: str, samples: int, **kwargs: Any) -> dict[str, Any]:
    return emulator_helpers.tuning_request(name, BUCKET, PREFIX, samples, **kwargs)


def test_runs_every_trial_for_real_at_most_parallel_at_a_time(aws: Any, samples: int) -> None:
    sm = aws("sagemaker")
    name = "mlops-hpo-test-1"
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, samples, jobs=4, parallel=2))
    watched: list[int] = []
    job = wait_tuning(sm, name, watch=watched)
    assert job["HyperParameterTuningJobStatus"] == "Completed", job.get("FailureReason")
    assert max(watched) == 2  # two ran side by side, never three
    assert job["TrainingJobStatusCounters"] == {
        "Completed": 4,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert job["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    (listed,) = sm.list_hyper_parameter_tuning_jobs(NameContains="hpo-test-1")["HyperParameterTuningJobSummaries"]
    assert listed["HyperParameterTuningJobStatus"] == "Completed" and listed["Strategy"] == "Bayesian"

    trials = all_trials(sm, name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending", MaxResults=3)
    assert len(trials) == 4  # two pages of at most 3
    values = [t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for t in trials]
    assert values == sorted(values, reverse=True)
    best = job["BestTrainingJob"]
    assert best["TrainingJobName"] == trials[0]["TrainingJobName"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == values[0]
    names = sorted(t["TrainingJobName"] for t in trials)  # AWS's <tuning job>-<NNN>-<8 hex>
    assert [re.fullmatch(rf"{name}-(\d{{3}})-[0-9a-f]{{8}}", n)[1] for n in names] == ["001", "002", "003", "004"]

    for trial in trials:  # each is a real training job: its own hyperparameters, artifact, tags, tuning job ARN
        child = sm.describe_training_job(TrainingJobName=trial["TrainingJobName"])
        assert child["TrainingJobStatus"] == "Completed" and child["TuningJobArn"] == job["HyperParameterTuningJobArn"]
        assert child["HyperParameters"]["optimizer"] == trial["TunedHyperParameters"]["optimizer"] in ("sgd", "nag")
        assert 0.005 <= float(child["HyperParameters"]["learning_rate"]) <= 0.05
        assert child["HyperParameters"]["epochs"] == "3"
        artifact = child["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, key = artifact[5:].split("/", 1)
        assert aws("s3").head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
        tags = sm.list_tags(ResourceArn=child["TrainingJobArn"])["Tags"]
        assert {"Key": "mlops:created-by", "Value": "airflow-sagemaker-mlops"} in tags


def test_stop_stops_the_running_trials(aws: Any, emulator: Any, samples: int) -> None:
    emulator.settings(epoch_seconds=2.0)
    sm = aws("sagemaker")
    name = "mlops-hpo-test-stop"
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, samples, jobs=6, parallel=2))
    deadline = time.monotonic() + 20
    while len(all_trials(sm, name)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    job = wait_tuning(sm, name)
    assert job["HyperParameterTuningJobStatus"] == "Stopped"
    trials = all_trials(sm, name)
    assert len(trials) == 2 and {t["TrainingJobStatus"] for t in trials} == {"Stopped"}
    with pytest.raises(sm.exceptions.ClientError, match="cannot be stopped"):
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def test_every_trial_failing_fails_the_tuning_job(aws: Any, emulator: Any, samples: int) -> None:
    emulator.settings(fail_next_training_jobs=["AlgorithmError: injected"] * 3)
    sm = aws("sagemaker")
    name = "mlops-hpo-test-fail"
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, samples, jobs=3, parallel=3))
    job = wait_tuning(sm, name)
    assert job["HyperParameterTuningJobStatus"] == "Failed"
    assert "All training jobs failed" in job["FailureReason"] and "injected" in job["FailureReason"]
    assert job["TrainingJobStatusCounters"]["NonRetryableError"] == 3
    assert "BestTrainingJob" not in job


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].update(learning_rate="0.1"), "both static"),
        (
            lambda r: r["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0].update(
                MinValue="0.5", MaxValue="0.1"
            ),
            "greater than",
        ),
        (
            lambda r: r["TrainingJobDefinition"]["HyperParameterTuningResourceConfig"].update(
                InstanceType="ml.m5.xlarge"
            ),
            "only GPU",
        ),
        (lambda r: r.update(HyperParameterTuningJobName="a" * 33), "hyperParameterTuningJobName"),
        # 3 parallel x 2 instances exceed the default quota of 4 ml.p2.xlarge for training
        (
            lambda r: r["TrainingJobDefinition"]["HyperParameterTuningResourceConfig"].update(InstanceCount=2),
            "service limit",
        ),
    ],
)
def test_refused_at_create_before_any_training_job(aws: Any, samples: int, change: Any, message: str) -> None:
    sm = aws("sagemaker")
    request = tuning_request("mlops-hpo-bad", samples, jobs=3, parallel=3)
    change(request)
    with pytest.raises(sm.exceptions.ClientError, match=message):
        sm.create_hyper_parameter_tuning_job(**request)
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


def test_duplicate_name_and_unknown_job(aws: Any, samples: int) -> None:
    sm = aws("sagemaker")
    request = tuning_request("mlops-hpo-dup", samples, jobs=1, parallel=1)
    sm.create_hyper_parameter_tuning_job(**request)
    with pytest.raises(sm.exceptions.ResourceInUse):
        sm.create_hyper_parameter_tuning_job(**request)
    with pytest.raises(sm.exceptions.ClientError, match="can't find a tuning job"):
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="mlops-hpo-nope")
    wait_tuning(sm, "mlops-hpo-dup")


def test_the_tuning_job_s_tags_are_its_own_and_propagated_to_its_trials(aws: Any, emulator: Any, samples: int) -> None:
    """As AWS: ListTags answers the tuning job's ARN (the reaper reads it), and each trial carries a copy."""
    emulator.settings(starting_seconds=300)  # the trials stay InProgress: nothing ends under the test
    sm = aws("sagemaker")
    name = "mlops-hpo-tags"
    request = tuning_request(name, samples, jobs=2, parallel=2)
    request["Tags"] += [{"Key": "mlops:dag-run-id", "Value": "manual__x"}]
    arn = sm.create_hyper_parameter_tuning_job(**request)["HyperParameterTuningJobArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == request["Tags"]
    deadline = time.monotonic() + 20
    while len(all_trials(sm, name)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    trials = all_trials(sm, name)
    assert len(trials) == 2
    for trial in trials:
        assert sm.list_tags(ResourceArn=trial["TrainingJobArn"])["Tags"] == request["Tags"]
    sm.add_tags(ResourceArn=trials[0]["TrainingJobArn"], Tags=[{"Key": "trial-only", "Value": "1"}])
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "mlops:dag-run-id", "Value": "manual__y"}])  # overwrites, as AWS
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        request["Tags"][0],
        {"Key": "mlops:dag-run-id", "Value": "manual__y"},
    ]
    sm.delete_tags(ResourceArn=arn, TagKeys=["mlops:dag-run-id"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == request["Tags"][:1]
    assert {"Key": "mlops:dag-run-id", "Value": "manual__x"} in sm.list_tags(ResourceArn=trials[1]["TrainingJobArn"])[
        "Tags"
    ]
    with pytest.raises(sm.exceptions.ClientError, match="Could not find resource"):
        sm.list_tags(ResourceArn=arn.replace(name, "mlops-hpo-nope"))
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert wait_tuning(sm, name)["HyperParameterTuningJobStatus"] == "Stopped"
