"""The emulator's Model Registry behaves as SageMaker's where moto 5.2.5 is kinder (over real HTTP with boto3):
duplicate groups refused, approval keeps a package's metadata, packages carry their tags, model data checked."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator_helpers import IC_IMAGE

GROUP, BUCKET = "mnist-image-classifier", "registry-bucket"
MODEL = f"s3://{BUCKET}/job-a/model.tar.gz"
TAGS = [{"Key": "mlops:created-by", "Value": "airflow-sagemaker-mlops"}]


@pytest.fixture()
def sm(aws) -> Any:
    aws("s3").create_bucket(Bucket=BUCKET)
    aws("s3").put_object(Bucket=BUCKET, Key="job-a/model.tar.gz", Body=b"x")
    client = aws("sagemaker")
    client.create_model_package_group(ModelPackageGroupName=GROUP, Tags=TAGS)
    return client


def package(sm: Any, model: str = MODEL, **extra: Any) -> str:
    return sm.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": IC_IMAGE, "ModelDataUrl": model}],
            "SupportedContentTypes": ["application/x-image"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus="PendingManualApproval",
        **extra,
    )["ModelPackageArn"]


def test_a_second_group_of_the_same_name_is_refused_and_the_first_keeps_its_packages(sm):
    arn = package(sm)
    with pytest.raises(ClientError) as err:
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"].startswith("Model Package Group already exists")  # the hook's test
    listed = sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in listed] == [arn]
    assert (
        sm.list_tags(ResourceArn=sm.describe_model_package_group(ModelPackageGroupName=GROUP)["ModelPackageGroupArn"])[
            "Tags"
        ]
        == TAGS
    )


def test_approval_changes_only_the_status_and_keeps_metadata_and_reason(sm):
    arn = package(sm, CustomerMetadataProperties={"training_job": "job-a"})
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="first champion")
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"note": "checked"})
    described = sm.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "first champion"
    assert described["CustomerMetadataProperties"] == {"training_job": "job-a", "note": "checked"}


def test_list_filters_by_approval_and_sorts_by_creation_time(sm):
    first, second = package(sm), package(sm)
    sm.update_model_package(ModelPackageArn=first, ModelApprovalStatus="Approved")
    sm.update_model_package(ModelPackageArn=second, ModelApprovalStatus="Rejected")
    approved = sm.list_model_packages(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved")
    assert [p["ModelPackageArn"] for p in approved["ModelPackageSummaryList"]] == [first]
    newest = sm.list_model_packages(ModelPackageGroupName=GROUP, SortBy="CreationTime", SortOrder="Descending")
    assert [p["ModelPackageVersion"] for p in newest["ModelPackageSummaryList"]] == [2, 1]


def test_a_version_takes_no_tags_its_group_does(sm):
    """botocore's CreateModelPackage.Tags: with ModelPackageGroupName "you cannot supply a tag argument"."""
    with pytest.raises(ClientError, match="Tags are not supported in Model Package versions"):
        package(sm, Tags=TAGS)
    arn = package(sm)
    assert arn.endswith(f"model-package/{GROUP}/1")
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


def test_a_package_without_its_model_data_is_refused(sm):
    with pytest.raises(ClientError) as err:
        package(sm, model=f"s3://{BUCKET}/missing/model.tar.gz")
    assert "Could not find model data" in err.value.response["Error"]["Message"]
    assert sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []


def test_a_package_with_an_image_of_another_region_is_refused(sm):
    with pytest.raises(ClientError) as err:
        sm.create_model_package(
            ModelPackageGroupName=GROUP,
            InferenceSpecification={
                "Containers": [{"Image": IC_IMAGE.replace("us-east-1", "us-west-2"), "ModelDataUrl": MODEL}],
                "SupportedContentTypes": ["application/x-image"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )
    assert "cross region" in err.value.response["Error"]["Message"]
