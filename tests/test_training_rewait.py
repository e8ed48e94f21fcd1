"""A wait that errors while the job is still InProgress (throttling, expired credentials, ``max_attempts`` spent)
waits again instead of failing ``train`` — whose teardown would then stop a healthy job (issue 11, item 3)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from constants import DATA_BUCKET
from emulator_helpers import resumed_operator, training_request, upload_zip, waiter_error

JOB = "mlops-train-rewait"
ERROR_EVENT = waiter_error(JOB)


def _operator() -> Any:
    from sagemaker_mlops.training.operators import ExplainedTrainingOperator

    return resumed_operator(ExplainedTrainingOperator, "train", {"TrainingJobName": JOB})


@pytest.fixture()
def running_job(airflow_aws: Any, aws: Any, batch1: Path) -> str:
    airflow_aws.settings(starting_seconds=300)
    samples = upload_zip(aws("s3"), batch1, DATA_BUCKET, "ch06")
    aws("sagemaker").create_training_job(**training_request(JOB, DATA_BUCKET, "ch06", samples))
    return JOB


def test_an_errored_wait_on_a_running_job_defers_again(running_job: str, aws: Any) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        _operator().execute_complete({}, ERROR_EVENT)
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath.endswith("SageMakerTrigger") and kwargs["job_name"] == running_job
    assert kwargs["region_name"] == "us-east-1"  # the run's region, as on the first wait
    assert deferred.value.kwargs == {"rewaits": 1}
    assert aws("sagemaker").describe_training_job(TrainingJobName=running_job)["TrainingJobStatus"] == "InProgress"


def test_the_re_waits_are_bounded(running_job: str) -> None:
    from airflow.exceptions import AirflowException

    from sagemaker_mlops.core.operators import MAX_REWAITS

    with pytest.raises(AirflowException, match=f"still InProgress after {MAX_REWAITS} waits"):
        _operator().execute_complete({}, ERROR_EVENT, rewaits=MAX_REWAITS)


def test_a_describe_that_keeps_failing_defers_again(running_job: str, airflow_aws: Any, no_retry_sleep: None) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    airflow_aws.fail_api("DescribeTrainingJob", "InternalFailure", count=20)
    with pytest.raises(TaskDeferred):
        _operator().execute_complete({}, ERROR_EVENT)


@pytest.mark.parametrize("code", ["ExpiredTokenException", "RequestExpired"])
def test_expired_credentials_during_a_wait_wait_again_and_the_job_keeps_running(
    running_job: str, airflow_aws: Any, aws: Any, no_retry_sleep: None, code: str
) -> None:
    """SageMaker's JSON API answers ExpiredTokenException (not S3's ExpiredToken): the wait starts again instead of
    failing ``train``, whose teardown would stop the healthy job."""
    from airflow.sdk.exceptions import TaskDeferred

    airflow_aws.fail_api("DescribeTrainingJob", code, count=1)  # botocore does not retry these codes
    with pytest.raises(TaskDeferred) as deferred:
        _operator().execute_complete({}, ERROR_EVENT)
    assert deferred.value.kwargs == {"rewaits": 1}
    assert aws("sagemaker").describe_training_job(TrainingJobName=running_job)["TrainingJobStatus"] == "InProgress"


def test_a_job_that_ended_badly_still_fails_at_once(airflow_aws: Any, aws: Any, batch1: Path) -> None:
    from sagemaker_mlops.training.job import TrainingJobEnded

    airflow_aws.fail_next_training_job("AlgorithmError: bad input")
    samples = upload_zip(aws("s3"), batch1, DATA_BUCKET, "ch06")
    aws("sagemaker").create_training_job(**training_request(JOB, DATA_BUCKET, "ch06", samples))
    for _ in range(120):
        if aws("sagemaker").describe_training_job(TrainingJobName=JOB)["TrainingJobStatus"] == "Failed":
            break
        time.sleep(0.5)
    with pytest.raises(TrainingJobEnded, match="ended Failed"):
        _operator().execute_complete({}, {**ERROR_EVENT, "message": "terminal failure"})
