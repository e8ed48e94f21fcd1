"""Teardown deletes are idempotent: gone is fine, anything else is raised (a leak must not pass silently)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sagemaker_mlops.serving import teardown

from constants import ROLE_ARN
from emulator_helpers import IC_IMAGE


def test_deletes_are_idempotent_against_the_emulator(aws):
    sm = aws("sagemaker")
    aws("s3").create_bucket(Bucket="td-bucket")
    aws("s3").put_object(Bucket="td-bucket", Key="model.tar.gz", Body=b"artifact")  # CreateModel checks it exists
    sm.create_model(
        ModelName="td-model",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": "s3://td-bucket/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName="td-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "td-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
    )
    assert teardown.delete_endpoint(sm, "td-endpoint") is False  # never created
    assert teardown.delete_endpoint_config(sm, "td-config") is True
    assert teardown.delete_endpoint_config(sm, "td-config") is False
    assert teardown.delete_model(sm, "td-model") is True
    assert teardown.delete_model(sm, "td-model") is False
    assert sm.list_models()["Models"] == [] and sm.list_endpoint_configs()["EndpointConfigs"] == []


def test_other_errors_are_not_swallowed():
    class Denied:
        def delete_model(self, **_):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "DeleteModel")

    with pytest.raises(ClientError):
        teardown.delete_model(Denied(), "m")
