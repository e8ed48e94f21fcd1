"""The endpoint teardown on an AWS-strict emulator: an endpoint still Creating cannot be deleted, so the teardown
waits (briefly, then hands the worker slot back) until it has left Creating/Updating, deletes it and confirms it
is gone."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sagemaker_mlops.serving import teardown

from constants import ROLE_ARN
from emulator_helpers import IC_IMAGE, completed_job, dataset_zip, deploy, wait_endpoint


def _slow_endpoint(aws, name: str) -> None:
    aws("s3").create_bucket(Bucket="tdw-bucket")
    aws("s3").put_object(Bucket="tdw-bucket", Key="model.tar.gz", Body=b"not a model")
    sm = aws("sagemaker")
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": "s3://tdw-bucket/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.xlarge"}
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def test_teardown_waits_for_a_creating_endpoint_then_deletes_it_and_sees_it_gone(aws, emulator):
    emulator.settings(endpoint_create_seconds=1.0, endpoint_delete_seconds=0.3)
    _slow_endpoint(aws, "tdw-one")
    sm = aws("sagemaker")
    assert sm.describe_endpoint(EndpointName="tdw-one")["EndpointStatus"] == "Creating"

    assert teardown.delete_endpoint(sm, "tdw-one", wait_seconds=20, poll_seconds=0.1) is True

    with pytest.raises(ClientError) as excinfo:
        sm.describe_endpoint(EndpointName="tdw-one")
    assert "Could not find endpoint" in excinfo.value.response["Error"]["Message"]
    deletes = [r for r in emulator.requests() if r["action"] == "DeleteEndpoint"]
    assert [r["status"] for r in deletes] == [200]  # it never asked while the endpoint was Creating


def test_teardown_waits_for_an_endpoint_in_system_updating_then_deletes_it(aws, emulator, tmp_path):
    """SageMaker's maintenance (SystemUpdating) refuses DeleteEndpoint like Creating does: the teardown waits."""
    emulator.settings(endpoint_create_seconds=0.1, endpoint_delete_seconds=0.3)
    job = completed_job(aws, dataset_zip(tmp_path), "tdw-bucket", "ch06", "mlops-train-tdw")
    sm = aws("sagemaker")
    deploy(sm, job["ModelArtifacts"]["S3ModelArtifacts"], "tdw-maint")
    assert wait_endpoint(sm, "tdw-maint")["EndpointStatus"] == "InService"
    emulator.settings(time_scale=1.0)
    emulator.system_update("tdw-maint", seconds=1.0)
    assert sm.describe_endpoint(EndpointName="tdw-maint")["EndpointStatus"] == "SystemUpdating"

    assert teardown.delete_endpoint(sm, "tdw-maint", wait_seconds=20, poll_seconds=0.1) is True

    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.describe_endpoint(EndpointName="tdw-maint")
    deletes = [r for r in emulator.requests() if r["action"] == "DeleteEndpoint"]
    assert [r["status"] for r in deletes] == [200]  # never asked while it was SystemUpdating


def test_teardown_hands_back_the_slot_when_the_endpoint_stays_creating(aws, emulator):
    emulator.settings(endpoint_create_seconds=30.0)
    _slow_endpoint(aws, "tdw-stuck")
    sm = aws("sagemaker")
    with pytest.raises(teardown.EndpointBusy, match="Creating"):
        teardown.delete_endpoint(sm, "tdw-stuck", wait_seconds=0.3, poll_seconds=0.1)
    assert sm.describe_endpoint(EndpointName="tdw-stuck")["EndpointStatus"] == "Creating"


def test_teardown_of_an_endpoint_already_deleting_waits_until_it_is_gone(aws, emulator):
    emulator.settings(endpoint_delete_seconds=0.5)
    _slow_endpoint(aws, "tdw-del")
    sm = aws("sagemaker")
    teardown.delete_endpoint(sm, "tdw-del", wait_seconds=20, poll_seconds=0.1)
    _slow_endpoint(aws, "tdw-del2")
    while sm.describe_endpoint(EndpointName="tdw-del2")["EndpointStatus"] == "Creating":
        pass
    sm.delete_endpoint(EndpointName="tdw-del2")  # someone else (a first try) started the delete
    assert teardown.delete_endpoint(sm, "tdw-del2", wait_seconds=20, poll_seconds=0.1) is True
    with pytest.raises(ClientError):
        sm.describe_endpoint(EndpointName="tdw-del2")


def test_the_teardown_task_reschedules_instead_of_holding_its_worker(airflow_aws, aws, monkeypatch):
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from airflow.exceptions import AirflowRescheduleException

    from sagemaker_mlops.serving import tasks

    from constants import REGION

    airflow_aws.settings(endpoint_create_seconds=30.0)
    _slow_endpoint(aws, "mlops-ep-tdw-task")
    monkeypatch.setattr(teardown, "BUSY_WAIT_SECONDS", 0.3)
    monkeypatch.setattr(tasks.RunConfig, "from_dict", classmethod(lambda cls, data: SimpleNamespace(**data)))
    config = {
        "keep_endpoint": False,
        "names": {"endpoint": "mlops-ep-tdw-task"},
        "aws_conn_id": "aws_default",
        "region": REGION,
    }
    config |= {"dag_id": "d", "run_id": "r"}  # the owner whose tags a delete checks (once the endpoint may go)
    with pytest.raises(AirflowRescheduleException) as excinfo:
        tasks.delete_endpoint.function(config)
    assert excinfo.value.reschedule_date > datetime.now(UTC)
    assert aws("sagemaker").describe_endpoint(EndpointName="mlops-ep-tdw-task")["EndpointStatus"] == "Creating"
