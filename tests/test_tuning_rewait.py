"""Tuning has training's recovery (issue 19, defect 6): a deferred wait that errors while the tuning job is still
InProgress (throttling, expired credentials, ``max_attempts`` spent) waits again instead of failing ``tune`` —
whose teardown would then stop the tuning job and every trial already paid for; and the wait is sized for the
longest a tuning job runs (30 days), not a training job's 28."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from constants import DATA_BUCKET
from emulator_helpers import resumed_operator, tuning_request, upload_zip, wait_tuning, waiter_error

JOB = "mlops-tune-rewait"
ERROR_EVENT = waiter_error(JOB)


def _operator() -> Any:
    from sagemaker_mlops.tuning.operators import ExplainedTuningOperator

    return resumed_operator(ExplainedTuningOperator, "tune", {"HyperParameterTuningJobName": JOB})


@pytest.fixture()
def running_tuning_job(airflow_aws: Any, aws: Any, batch1: Path) -> str:
    airflow_aws.settings(starting_seconds=300)  # the trials stay InProgress for the test
    samples = upload_zip(aws("s3"), batch1, DATA_BUCKET, "ch06")
    aws("sagemaker").create_hyper_parameter_tuning_job(**tuning_request(JOB, DATA_BUCKET, "ch06", samples))
    return JOB


def _status(aws: Any) -> str:
    return aws("sagemaker").describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=JOB)[
        "HyperParameterTuningJobStatus"
    ]


def test_an_errored_wait_on_a_running_tuning_job_defers_again(running_tuning_job: str, aws: Any) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        _operator().execute_complete({}, ERROR_EVENT)
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath.endswith("SageMakerTrigger") and kwargs["job_name"] == running_tuning_job
    assert kwargs["job_type"] == "tuning" and kwargs["waiter_max_attempts"] == 5
    assert kwargs["region_name"] == "us-east-1"  # the run's region, as on the first wait
    assert deferred.value.kwargs == {"rewaits": 1}
    assert _status(aws) == "InProgress"


# botocore retries throttling and 5xx (the hook's 1 try + 4 retries), never expired credentials.
@pytest.mark.parametrize(
    ("code", "calls"), [("ThrottlingException", 5), ("InternalFailure", 5), ("ExpiredTokenException", 1)]
)
def test_a_describe_that_fails_transiently_defers_again_and_the_trials_keep_running(
    running_tuning_job: str, airflow_aws: Any, aws: Any, no_retry_sleep: None, code: str, calls: int
) -> None:
    """The emulator's injected fault on DescribeHyperParameterTuningJob (after botocore's own retries)."""
    from airflow.sdk.exceptions import TaskDeferred

    airflow_aws.fail_api("DescribeHyperParameterTuningJob", code, count=calls)
    with pytest.raises(TaskDeferred) as deferred:
        _operator().execute_complete({}, ERROR_EVENT)
    assert deferred.value.kwargs == {"rewaits": 1}
    assert _status(aws) == "InProgress"
    assert "StopHyperParameterTuningJob" not in airflow_aws.actions("sagemaker")


def test_the_re_waits_are_bounded(running_tuning_job: str) -> None:
    from airflow.exceptions import AirflowException

    from sagemaker_mlops.core.operators import MAX_REWAITS

    with pytest.raises(AirflowException, match=f"still InProgress after {MAX_REWAITS} waits"):
        _operator().execute_complete({}, ERROR_EVENT, rewaits=MAX_REWAITS)


def test_a_tuning_job_that_ended_badly_still_fails_at_once(airflow_aws: Any, aws: Any, batch1: Path) -> None:
    from sagemaker_mlops.training.job import TrainingJobEnded

    samples = upload_zip(aws("s3"), batch1, DATA_BUCKET, "ch06")
    sm = aws("sagemaker")
    sm.create_hyper_parameter_tuning_job(**tuning_request(JOB, DATA_BUCKET, "ch06", samples))
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=JOB)
    assert wait_tuning(sm, JOB)["HyperParameterTuningJobStatus"] == "Stopped"
    with pytest.raises(TrainingJobEnded, match="ended Stopped"):
        _operator().execute_complete({}, {**ERROR_EVENT, "message": "terminal failure"})


def test_the_wait_lasts_as_long_as_a_tuning_job_may_run() -> None:
    """30 days (the tuning guide's limit), not a training job's 28 (MaxRuntimeInSeconds)."""
    from sagemaker_mlops.core.airflow_tasks import POLL_SECONDS
    from sagemaker_mlops.tuning import tasks
    from sagemaker_mlops.tuning.job import MAX_TUNING_RUNTIME_SECONDS

    assert MAX_TUNING_RUNTIME_SECONDS == 30 * 24 * 3600
    assert tasks._max_attempts() * POLL_SECONDS >= MAX_TUNING_RUNTIME_SECONDS
