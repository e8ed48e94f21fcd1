"""Faults a test can inject, answered as AWS answers them: throttling and internal failures on named operations,
training jobs that find no capacity, spot jobs that never get any, endpoints that stay Creating."""

from __future__ import annotations

import json
import os
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from aws_emulator.control import CAPACITY_ERROR

from constants import REGION
from emulator_helpers import training_request, upload_zip, wait_endpoint, wait_training

BUCKET, PREFIX = "faults-bucket", "ch06"


@pytest.fixture()
def uploaded(aws, batch1):
    return upload_zip(aws("s3"), batch1, BUCKET, PREFIX)


def _client(emulator, service: str, attempts: int):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=emulator.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def _code_and_status(excinfo) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- API faults ----------------------------------------------------------------------------------------------
def test_throttling_on_the_next_calls_of_one_operation(emulator):
    emulator.fail_api("ListTrainingJobs", "ThrottlingException", count=2)
    sm = _client(emulator, "sagemaker", 1)  # no retries
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            sm.list_training_jobs()
        assert _code_and_status(excinfo) == ("ThrottlingException", 400)
        assert excinfo.value.response["Error"]["Message"] == "Rate exceeded"
    sm.list_endpoints()  # other operations are untouched
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    statuses = [r["status"] for r in emulator.requests() if r["action"] == "ListTrainingJobs"]
    assert statuses == [400, 400, 200]


def test_a_retrying_client_rides_out_throttling_but_not_a_longer_outage(emulator, no_retry_sleep):
    emulator.fail_api("ListTrainingJobs", "ThrottlingException", count=2)
    assert _client(emulator, "sagemaker", 3).list_training_jobs()["TrainingJobSummaries"] == []  # third try works

    emulator.fail_api("ListTrainingJobs", "InternalFailure", count=3)
    with pytest.raises(ClientError) as excinfo:
        _client(emulator, "sagemaker", 3).list_training_jobs()
    assert _code_and_status(excinfo) == ("InternalFailure", 500)
    assert [r["status"] for r in emulator.requests() if r["action"] == "ListTrainingJobs"] == [
        400,
        400,
        200,
        500,
        500,
        500,
    ]


def test_faults_for_a_time_window_and_in_the_xml_protocols(emulator):
    emulator.fail_api("ListBuckets", "InternalFailure", seconds=0.5)
    s3 = _client(emulator, "s3", 1)
    with pytest.raises(ClientError) as excinfo:
        s3.list_buckets()
    assert _code_and_status(excinfo) == ("InternalFailure", 500)
    with pytest.raises(ClientError):
        s3.list_buckets()  # still inside the window
    time.sleep(0.6)
    assert s3.list_buckets()["Buckets"] == []

    emulator.fail_api("GetCallerIdentity", "ThrottlingException")
    with pytest.raises(ClientError) as excinfo:
        _client(emulator, "sts", 1).get_caller_identity()
    assert _code_and_status(excinfo) == ("ThrottlingException", 400)


def test_the_dags_job_lookup_retries_throttling_and_never_mistakes_an_outage_for_no_job(
    airflow_aws, monkeypatch, uploaded, aws, no_retry_sleep
):
    """A throttled DescribeTrainingJob must not read as "no job yet" (that would start a second, billed job):
    the connection's client retries it, and an outage longer than its retries raises."""
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    from sagemaker_mlops.training.job import describe_or_none

    emulator = airflow_aws
    aws("sagemaker").create_training_job(**training_request("mlops-fault-job", BUCKET, PREFIX, uploaded))
    emulator.fail_api("DescribeTrainingJob", "ThrottlingException", count=2)
    conn = SageMakerHook(aws_conn_id="aws_default", region_name=REGION).conn  # the connection's retries
    assert describe_or_none(conn, "mlops-fault-job")["TrainingJobName"] == "mlops-fault-job"
    assert [r["status"] for r in emulator.requests() if r["action"] == "DescribeTrainingJob"] == [400, 400, 200]

    connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    connection["extra"]["config_kwargs"] = {"retries": {"mode": "standard", "max_attempts": 2}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    emulator.fail_api("DescribeTrainingJob", "InternalFailure", seconds=30)
    with pytest.raises(ClientError) as excinfo:
        describe_or_none(SageMakerHook(aws_conn_id="aws_default", region_name=REGION).conn, "mlops-fault-job")
    assert _code_and_status(excinfo) == ("InternalFailure", 500)
    emulator.settings(api_faults={})


def test_api_fault_requests_are_checked(emulator):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError):
        emulator.fail_api("ListTrainingJobs", "SomethingElse")


# -- capacity ------------------------------------------------------------------------------------------------
def test_a_capacity_failure_is_reported_as_aws_does_and_differs_from_an_algorithm_error(aws, uploaded, emulator):
    sm = aws("sagemaker")
    emulator.fail_next_training_job_for_capacity()
    job = wait_training(sm, _start(aws, "cap-job", uploaded))
    assert job["TrainingJobStatus"] == "Failed" and job["FailureReason"] == CAPACITY_ERROR
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == ["Starting", "Failed"]
    assert "TrainingStartTime" not in job and "BillableTimeInSeconds" not in job  # nothing ran, nothing billed

    emulator.fail_next_training_job("AlgorithmError: injected")
    algo = wait_training(sm, _start(aws, "algo-job", uploaded))
    assert algo["FailureReason"] == "AlgorithmError: injected"
    assert "Training" in [t["Status"] for t in algo["SecondaryStatusTransitions"]] and algo["BillableTimeInSeconds"]


def test_a_spot_job_that_finds_no_capacity_stops_when_its_max_wait_runs_out(aws, uploaded, emulator):
    emulator.settings(time_scale=100.0)
    emulator.spot_no_capacity()
    sm = aws("sagemaker")
    started = time.monotonic()
    _start(
        aws,
        "nocap-job",
        uploaded,
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120},
        CheckpointConfig={"S3Uri": f"s3://{BUCKET}/checkpoints/nocap-job"},
    )
    time.sleep(0.3)
    waiting = sm.describe_training_job(TrainingJobName="nocap-job")
    assert (waiting["TrainingJobStatus"], waiting["SecondaryStatus"]) == ("InProgress", "Starting")
    job = wait_training(sm, "nocap-job")
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxWaitTimeExceeded")
    assert time.monotonic() - started >= 120 / 100.0  # it waited its (emulated) max wait
    assert "TrainingStartTime" not in job and "BillableTimeInSeconds" not in job


def test_an_endpoint_can_stay_creating_for_a_set_time(aws, uploaded, emulator):
    sm = aws("sagemaker")
    job = wait_training(sm, _start(aws, "slow-ep-job", uploaded))
    emulator.settings(endpoint_create_seconds=1.5)
    sm.create_model(
        ModelName="slow-ep",
        ExecutionRoleArn=job["RoleArn"],
        PrimaryContainer={
            "Image": job["AlgorithmSpecification"]["TrainingImage"],
            "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"],
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="slow-ep",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "slow-ep",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
    )
    sm.create_endpoint(EndpointName="slow-ep", EndpointConfigName="slow-ep")
    time.sleep(1.0)
    assert sm.describe_endpoint(EndpointName="slow-ep")["EndpointStatus"] == "Creating"
    assert wait_endpoint(sm, "slow-ep")["EndpointStatus"] == "InService"


def _start(aws, name: str, samples: int, **overrides) -> str:
    aws("sagemaker").create_training_job(**training_request(name, BUCKET, PREFIX, samples, **overrides))
    return name
