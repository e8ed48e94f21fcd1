"""The deferred waits poll the region the run works in, not the connection's (issue 11, item 2).

The provider's operators build ``SageMakerTrigger`` without ``region_name``, so the triggerer polled the
connection's region: a run whose region (form or Variable) differs failed its wait, and the teardown then stopped a
healthy job. Here the connection says us-east-1 and the operators work in eu-west-1; the trigger must find the job
and the endpoint there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import boto3
import pytest

from constants import INCREMENTAL_BUCKET, ROLE_ARN
from emulator_helpers import PACKAGE_TAGS, dataset_zip, training_request, upload_zip

OTHER_REGION = "eu-west-1"  # the connection (conftest) says us-east-1
# One of the suite's deployment's buckets (the Airflow role reads only those), made in the other region.
BUCKET = INCREMENTAL_BUCKET
IMAGE = f"685385470294.dkr.ecr.{OTHER_REGION}.amazonaws.com/image-classification:1"


def _client(emulator: Any, service: str) -> Any:
    return boto3.client(
        service,
        region_name=OTHER_REGION,
        endpoint_url=emulator.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _bucket(emulator: Any, name: str) -> None:
    _client(emulator, "s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": OTHER_REGION})


def _deferred(operator: Any) -> Any:
    """Runs execute() up to its deferral and returns the trigger it handed to the triggerer."""
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    return deferred.value.trigger


def _first_event(trigger: Any) -> dict[str, Any]:
    """The trigger as the triggerer runs it: rebuilt from its serialized form, then its first event."""
    from importlib import import_module

    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(import_module(module), name)(**kwargs)

    async def first() -> dict[str, Any]:
        async for event in rebuilt.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def test_training_and_endpoint_waits_poll_the_run_s_region(airflow_aws: Any, tmp_path: Path) -> None:
    from sagemaker_mlops.serving.operators import RegionalEndpointOperator
    from sagemaker_mlops.training.operators import ExplainedTrainingOperator

    sm = _client(airflow_aws, "sagemaker")
    _bucket(airflow_aws, BUCKET)
    samples = upload_zip(None, dataset_zip(tmp_path), BUCKET, "ch06", create_bucket=False)
    request = training_request(
        "mlops-train-region",
        BUCKET,
        "ch06",
        samples,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
    )
    training = ExplainedTrainingOperator(
        task_id="train",
        config=request,
        aws_conn_id="aws_default",
        region_name=OTHER_REGION,
        deferrable=True,
        check_interval=1,
        max_attempts=60,
        print_log=False,
        check_if_job_exists=True,
        action_if_job_exists="fail",
    )
    trigger = _deferred(training)
    assert trigger.serialize()[1]["region_name"] == OTHER_REGION
    event = _first_event(trigger)
    assert event["status"] == "success", event
    job = sm.describe_training_job(TrainingJobName="mlops-train-region")
    assert job["TrainingJobStatus"] == "Completed"
    assert training.execute_complete({}, event)["Training"]["TrainingJobName"] == "mlops-train-region"

    sm.create_model(
        ModelName="mlops-model-region",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]},
    )
    sm.create_endpoint_config(
        EndpointConfigName="mlops-epc-region",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "mlops-model-region",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
    )
    endpoint = RegionalEndpointOperator(
        task_id="create_endpoint",
        config={"EndpointName": "mlops-ep-region", "EndpointConfigName": "mlops-epc-region", "Tags": PACKAGE_TAGS},
        aws_conn_id="aws_default",
        region_name=OTHER_REGION,
        deferrable=True,
        check_interval=1,
        max_ingestion_time=120,
    )
    trigger = _deferred(endpoint)
    assert trigger.serialize()[1]["region_name"] == OTHER_REGION
    event = _first_event(trigger)
    assert event["status"] == "success", event
    assert sm.describe_endpoint(EndpointName="mlops-ep-region")["EndpointStatus"] == "InService"
    assert endpoint.execute_complete({}, event)["Endpoint"]["EndpointName"] == "mlops-ep-region"


@pytest.fixture()
def served_batch1(tmp_path: Path) -> Any:
    from local_datasets.builder import build_dataset
    from local_datasets.server import DatasetServer

    info = build_dataset(tmp_path / "batch1.zip", "batch1")
    with DatasetServer(tmp_path) as server:
        yield {"dataset_url": f"{server.url}/r/batch1.zip", "dataset_sha256": info.sha256}


@pytest.mark.e2e
def test_a_run_in_another_region_than_the_connection_s_succeeds_there(
    airflow_db: Any, airflow_aws: Any, served_batch1: dict[str, str]
) -> None:
    from dag_runs import run_dag, xcom

    run, states = run_dag("mnist_train_deploy", {**served_batch1, "region": OTHER_REGION})
    assert str(run.state) == "success", states
    assert states["train"] == "success" and states["create_endpoint"] == "success"
    assert states["stop_training_if_running"] == "success"
    job = _client(airflow_aws, "sagemaker").describe_training_job(
        TrainingJobName=xcom(run, "training_result")["training_job_name"]
    )
    assert job["TrainingJobStatus"] == "Completed" and job["TrainingJobArn"].split(":")[3] == OTHER_REGION
    assert xcom(run, "stop_training_if_running") is False  # the teardown found the job ended, stopped nothing
    assert _client(airflow_aws, "sagemaker").list_endpoints()["Endpoints"] == []
