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


def test_a_resource_deleted_between_describe_and_list_tags_is_gone_not_an_error(aws):
    """The ownership check reads Describe, then ListTags: a model or config deleted in between (another teardown,
    the reaper, a person) makes ListTags answer ValidationException. Nothing bills, so the teardown ends quietly."""
    from sagemaker_mlops.core.tags import owner_tags

    sm = aws("sagemaker")
    aws("s3").create_bucket(Bucket="td-race")
    aws("s3").put_object(Bucket="td-race", Key="model.tar.gz", Body=b"artifact")
    owner = ("dag", "manual__1")
    tags = [{"Key": k, "Value": v} for k, v in owner_tags(*owner).items()]
    sm.create_model(
        ModelName="td-race-model",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": "s3://td-race/model.tar.gz"},
        Tags=tags,
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "td-race-model", "InitialInstanceCount": 1}
    sm.create_endpoint_config(
        EndpointConfigName="td-race-config", ProductionVariants=[{**variant, "InstanceType": "ml.m5.xlarge"}], Tags=tags
    )

    def delete_first(params, **_):  # someone else deletes it just before ListTags
        arn = params["ResourceArn"]
        if arn.endswith("endpoint-config/td-race-config"):
            sm.delete_endpoint_config(EndpointConfigName="td-race-config")
        elif arn.endswith("model/td-race-model"):
            sm.delete_model(ModelName="td-race-model")

    sm.meta.events.register("before-parameter-build.sagemaker.ListTags", delete_first)
    assert teardown.delete_endpoint_config(sm, "td-race-config", owner=owner) is False
    assert teardown.delete_model(sm, "td-race-model", owner=owner) is False
    assert sm.list_models()["Models"] == [] and sm.list_endpoint_configs()["EndpointConfigs"] == []
