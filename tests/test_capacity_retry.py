"""Capacity is retried, bad input is not (issue 11, item 6): a CreateTrainingJob refused with ResourceLimitExceeded
while other jobs hold the instances, or a job that fails with CapacityError, is tried again after a back-off as
``<job>-a<n>``, a bounded number of times; attempt names stay valid and deterministic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.core import naming
from sagemaker_mlops.training import job as training

from constants import DATA_BUCKET
from emulator_helpers import dataset_zip, training_request, upload_zip

BASE = naming.resource_name("mlops", "train", "mnist_train_deploy", "manual__2026-11-24T08:00:00+00:00")


@pytest.fixture(scope="module")
def book_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The book's batch1 zip, built once for the module."""
    return dataset_zip(tmp_path_factory.mktemp("zip"))


def test_attempt_names_are_valid_deterministic_and_parse_back() -> None:
    assert naming.attempt_name(BASE, 1) == BASE
    second = naming.attempt_name(BASE, 2)
    assert second == f"{BASE}-a2" and naming.is_valid_sagemaker_name(second) and len(second) <= 55
    assert [training.attempt_of(BASE, naming.attempt_name(BASE, n)) for n in (1, 2, 6)] == [1, 2, 6]
    with pytest.raises(ValueError, match="attempt"):
        naming.attempt_name(BASE, 0)


def test_only_a_quota_held_by_other_jobs_is_worth_retrying() -> None:
    held = (
        "The account-level service limit 'ml.p2.xlarge for training job usage' is 2 Instances, with current "
        "utilization of 2 Instances and a request delta of 2 Instances."
    )
    assert training.others_hold_the_quota(held)
    assert not training.others_hold_the_quota(held.replace("utilization of 2", "utilization of 0"))


class _TaskInstance:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def _operator(request: dict[str, Any], retries: int) -> Any:
    from sagemaker_mlops.training.operators import ExplainedTrainingOperator

    return ExplainedTrainingOperator(
        task_id="train",
        config=request,
        aws_conn_id="aws_default",
        deferrable=True,
        check_interval=1,
        max_attempts=5,
        print_log=False,
        check_if_job_exists=True,
        action_if_job_exists="fail",
        capacity_retries=retries,
    )


def test_a_quota_held_by_another_job_is_retried_under_the_next_attempt_name(
    airflow_aws: Any, aws: Any, book_zip: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    airflow_aws.settings(starting_seconds=300)
    airflow_aws.set_quota("ml.p2.xlarge for training job usage", 2)
    samples = upload_zip(aws("s3"), book_zip, DATA_BUCKET, "ch06")
    aws("sagemaker").create_training_job(**training_request("mlops-train-other", DATA_BUCKET, "ch06", samples))
    request = training_request(BASE, DATA_BUCKET, "ch06", samples)

    ti = _TaskInstance()
    with pytest.raises(TaskDeferred) as deferred:
        _operator(dict(request), retries=2).execute({"ti": ti})
    assert deferred.value.trigger.__class__.__name__ == "TimeDeltaTrigger"
    assert deferred.value.method_name == "start_attempt" and deferred.value.kwargs == {"attempt": 2}
    out = capfd.readouterr().out
    assert "ml.p2.xlarge for training job usage" in out and "ml.g4dn.xlarge" in out

    aws("sagemaker").stop_training_job(TrainingJobName="mlops-train-other")
    with pytest.raises(TaskDeferred) as deferred:
        _operator(dict(request), retries=2).start_attempt({"ti": ti}, attempt=2)
    assert deferred.value.trigger.serialize()[1]["job_name"] == f"{BASE}-a2"
    assert ti.pushed["training_job_name"] == f"{BASE}-a2"
    assert aws("sagemaker").describe_training_job(TrainingJobName=f"{BASE}-a2")["TrainingJobStatus"] == "InProgress"


def test_a_capacity_failure_retries_and_an_algorithm_error_does_not(airflow_aws: Any, aws: Any, book_zip: Path) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    from aws_emulator.control import CAPACITY_ERROR

    samples = upload_zip(aws("s3"), book_zip, DATA_BUCKET, "ch06")
    for name, reason in ((BASE, CAPACITY_ERROR), (f"{BASE}-a2", "AlgorithmError: bad input")):
        airflow_aws.fail_next_training_job(reason)
        aws("sagemaker").create_training_job(**training_request(name, DATA_BUCKET, "ch06", samples))
        _wait_until_failed(aws("sagemaker"), name)
    request = training_request(BASE, DATA_BUCKET, "ch06", samples)
    event = {"status": "error", "message": "terminal failure", "job_name": BASE}
    with pytest.raises(TaskDeferred) as deferred:
        _operator(dict(request), retries=1).execute_complete({}, event)
    assert deferred.value.kwargs == {"attempt": 2}
    with pytest.raises(training.TrainingJobEnded, match="CapacityError"):  # no retries left
        _operator(dict(request), retries=0).execute_complete({}, event)
    with pytest.raises(training.TrainingJobEnded, match="AlgorithmError"):
        _operator(dict(request), retries=5).execute_complete({}, {**event, "job_name": f"{BASE}-a2"})


def _wait_until_failed(sm: Any, name: str) -> None:
    import time

    for _ in range(120):
        if sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Failed":
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} did not fail")


def test_a_short_back_off_is_waited_in_the_worker_and_the_next_attempt_started_at_once(
    airflow_aws: Any, aws: Any, book_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never a deferral that fires within seconds: Airflow 3.3.1's scheduler fails a resumed task whose trigger
    fired before it processed the executor's report of the deferral (apache/airflow#72716), which a 2 s back-off
    did on the real services (tests/test_fault_matrix_recovery.py pauses the scheduler to show it)."""
    from airflow.sdk.exceptions import TaskDeferred

    from aws_emulator.control import CAPACITY_ERROR
    from sagemaker_mlops.training.operators import MIN_DEFER_SECONDS

    monkeypatch.setenv("SAGEMAKER_MLOPS_CAPACITY_BACKOFF_SECONDS", "0.5")
    assert MIN_DEFER_SECONDS >= 30
    samples = upload_zip(aws("s3"), book_zip, DATA_BUCKET, "ch06")
    airflow_aws.fail_next_training_job(CAPACITY_ERROR)
    aws("sagemaker").create_training_job(**training_request(BASE, DATA_BUCKET, "ch06", samples))
    _wait_until_failed(aws("sagemaker"), BASE)
    request = training_request(BASE, DATA_BUCKET, "ch06", samples)
    ti = _TaskInstance()
    with pytest.raises(TaskDeferred) as deferred:  # the wait for -a2, not a TimeDeltaTrigger
        _operator(dict(request), retries=1).execute_complete(
            {"ti": ti}, {"status": "error", "message": "terminal failure", "job_name": BASE}
        )
    assert deferred.value.trigger.__class__.__name__ == "SageMakerTrigger"
    assert deferred.value.trigger.serialize()[1]["job_name"] == f"{BASE}-a2"
    assert deferred.value.method_name == "execute_complete"
    assert ti.pushed["training_job_name"] == f"{BASE}-a2"
