"""A training job's log lines come from every host and every launch, in the run's region (issue 19, defect 10).

SageMaker writes one CloudWatch stream per host and launch (``<job>/algo-<n>-<epoch>``): a 2-instance job has two,
a spot job relaunched after an interruption gets new ones. ``training.log_lines`` read only the first stream
(algo-1's first launch), and the provider's SageMakerHook tailed (``print_log``) the connection's region. Here the
connection says us-east-1 and the run works in eu-west-1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from emulator_helpers import dataset_zip, training_request, upload_zip, wait_training

OTHER_REGION = "eu-west-1"  # the connection (conftest) says us-east-1
IMAGE = f"685385470294.dkr.ecr.{OTHER_REGION}.amazonaws.com/image-classification:1"
BUCKET = "mlops-logs-region-bucket"
GROUP = "/aws/sagemaker/TrainingJobs"


def _client(emulator: Any, service: str) -> Any:
    return boto3.client(
        service,
        region_name=OTHER_REGION,
        endpoint_url=emulator.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture()
def regional_data(airflow_aws: Any, tmp_path: Path) -> int:
    _client(airflow_aws, "s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": OTHER_REGION}
    )
    return upload_zip(None, dataset_zip(tmp_path), BUCKET, "ch06", create_bucket=False)


def _train(emulator: Any, name: str, samples: int, **overrides: Any) -> dict[str, Any]:
    sm = _client(emulator, "sagemaker")
    request = training_request(
        name,
        BUCKET,
        "ch06",
        samples,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        **overrides,
    )
    sm.create_training_job(**request)
    job = wait_training(sm, name, timeout=120)
    assert job["TrainingJobStatus"] == "Completed", job
    return job


def _regional_logs() -> Any:
    """The DAG's own client: the connection's, in the run's region (``aws_client(cfg, "logs")``)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id="aws_default", client_type="logs", region_name=OTHER_REGION).conn


def _hosts_and_launches(lines: list[str]) -> set[str]:
    return {line[1 : line.index("]")].split("/", 1)[1] for line in lines}


def test_a_two_instance_job_s_lines_come_from_both_hosts(airflow_aws: Any, regional_data: int) -> None:
    from sagemaker_mlops.training import job as training

    _train(airflow_aws, "mlops-logs-two", regional_data)  # training_request: InstanceCount 2
    streams = training.log_streams(_regional_logs(), "mlops-logs-two")
    assert [s.split("/")[1].rsplit("-", 1)[0] for s in streams] == ["algo-1", "algo-2"]
    lines = training.log_lines(_regional_logs(), "mlops-logs-two")
    assert {h.rsplit("-", 1)[0] for h in _hosts_and_launches(lines)} == {"algo-1", "algo-2"}
    assert any("Epoch[2] Validation-accuracy" in line for line in lines if "algo-2" in line)


def test_a_spot_restarted_job_s_lines_come_from_every_launch(airflow_aws: Any, regional_data: int) -> None:
    from sagemaker_mlops.training import job as training

    airflow_aws.interrupt_spot(1)
    job = _train(
        airflow_aws,
        "mlops-logs-spot",
        regional_data,
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.p2.xlarge", "VolumeSizeInGB": 30},
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
        CheckpointConfig={"S3Uri": f"s3://{BUCKET}/checkpoints/mlops-logs-spot", "LocalPath": "/opt/ml/checkpoints"},
    )
    assert any(t["Status"] == "Interrupted" for t in job["SecondaryStatusTransitions"])
    # SageMaker's naming: the relaunch writes new streams of the same host, algo-1-<epoch of the relaunch>.
    streams = training.log_streams(_regional_logs(), "mlops-logs-spot")
    assert len(streams) == 2 and {s.split("/")[1].rsplit("-", 1)[0] for s in streams} == {"algo-1"}
    lines = training.log_lines(_regional_logs(), "mlops-logs-spot")
    assert _hosts_and_launches(lines) == {s.split("/", 1)[1] for s in streams}
    first, relaunch = ([line for line in lines if s in line] for s in streams)
    assert any("Spot capacity reclaimed" in line for line in first)
    assert any("Resuming from checkpoint" in line for line in relaunch)


def test_the_connection_s_region_has_none_of_the_job_s_lines(airflow_aws: Any, regional_data: int) -> None:
    """Why the region matters: the same lookup in the connection's region finds nothing."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from sagemaker_mlops.training import job as training

    _train(airflow_aws, "mlops-logs-where", regional_data)
    default = AwsBaseHook(aws_conn_id="aws_default", client_type="logs").conn
    assert training.log_lines(default, "mlops-logs-where") == []
    assert training.log_lines(_regional_logs(), "mlops-logs-where")


def test_print_log_tails_the_run_s_region(airflow_aws: Any) -> None:
    """The provider's SageMakerHook builds its logs hook in the connection's region; the train operator's is the
    run's."""
    from sagemaker_mlops.training import job as training
    from sagemaker_mlops.training.operators import ExplainedTrainingOperator

    operator = ExplainedTrainingOperator(
        task_id="train", config={"TrainingJobName": "x"}, aws_conn_id="aws_default", region_name=OTHER_REGION
    )
    assert operator.hook.logs_hook.conn_region_name == "us-east-1"  # the provider's default: the connection's
    training.logs_in_its_region(operator.hook)
    assert operator.hook.logs_hook.conn_region_name == OTHER_REGION
    assert operator.hook.logs_hook.get_conn().meta.region_name == OTHER_REGION
