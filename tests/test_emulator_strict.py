"""The emulator refuses what AWS refuses, with AWS's error codes and messages (over real HTTP with boto3).

Each test is one difference that mattered: where the emulator was kinder than SageMaker, a pipeline could pass
here and fail, or leak a billing resource, on a real account.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from constants import ACCOUNT, REGION, ROLE_ARN
from emulator_helpers import (
    IC_IMAGE,
    first_png,
    training_request,
    upload_zip,
    wait_endpoint,
    wait_training,
)

REPO = Path(__file__).resolve().parents[1]
BUCKET, PREFIX = "strict-bucket", "ch06"
P2 = "ml.p2.xlarge for training job usage"


@pytest.fixture()
def uploaded(aws, batch1):
    return upload_zip(aws("s3"), batch1, BUCKET, PREFIX)


def _error(excinfo) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def _artifact(aws, key: str = "models/model.tar.gz", body: bytes = b"not a model") -> str:
    s3 = aws("s3")
    try:
        s3.create_bucket(Bucket=BUCKET)
    except ClientError:
        pass
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def _endpoint(
    aws,
    name: str,
    model_data: str,
    *,
    instance_type: str = "ml.m5.xlarge",
    count: int = 1,
    variants: list[dict] | None = None,
) -> None:
    sm = aws("sagemaker")
    sm.create_model(
        ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": model_data}
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=variants
        or [
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": count,
                "InstanceType": instance_type,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


# -- 1. quotas are enforced ----------------------------------------------------------------------------------
def test_training_over_its_quota_is_refused_with_resource_limit_exceeded(aws, uploaded, emulator):
    emulator.settings(epoch_seconds=2.0)  # keep the first job running
    emulator.set_quota(P2, 3)
    sm = aws("sagemaker")
    sm.create_training_job(**training_request("quota-1", BUCKET, PREFIX, uploaded))  # 2 of 3 instances
    with pytest.raises(sm.exceptions.ResourceLimitExceeded) as excinfo:
        sm.create_training_job(**training_request("quota-2", BUCKET, PREFIX, uploaded))
    assert _error(excinfo) == (
        "ResourceLimitExceeded",
        (
            f"The account-level service limit '{P2}' is 3 Instances, with current utilization of 2 Instances and a "
            "request delta of 2 Instances. Please use AWS Service Quotas to request an increase for this quota."
        ),
    )
    assert [j["TrainingJobName"] for j in sm.list_training_jobs()["TrainingJobSummaries"]] == ["quota-1"]

    sm.stop_training_job(TrainingJobName="quota-1")
    assert wait_training(sm, "quota-1")["TrainingJobStatus"] == "Stopped"
    sm.create_training_job(**training_request("quota-3", BUCKET, PREFIX, uploaded))  # released once it ended
    sm.stop_training_job(TrainingJobName="quota-3")


def test_spot_jobs_count_against_the_spot_quota_and_all_jobs_against_the_account_wide_one(aws, uploaded, emulator):
    emulator.settings(
        epoch_seconds=2.0,
        quotas={
            P2: 2,
            "ml.p2.xlarge for spot training job usage": 2,
            "Number of instances across all training jobs": 4,
        },
    )
    sm = aws("sagemaker")
    spot = {
        "EnableManagedSpotTraining": True,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
    }
    sm.create_training_job(**training_request("od-1", BUCKET, PREFIX, uploaded))
    sm.create_training_job(**training_request("spot-1", BUCKET, PREFIX, uploaded, **spot))  # separate quota
    with pytest.raises(ClientError) as excinfo:
        sm.create_training_job(**training_request("spot-2", BUCKET, PREFIX, uploaded, **spot))
    assert (
        "'ml.p2.xlarge for spot training job usage' is 2 Instances, with current utilization of 2" in _error(excinfo)[1]
    )
    emulator.set_quota(P2, 10)
    with pytest.raises(ClientError) as excinfo:
        sm.create_training_job(**training_request("od-2", BUCKET, PREFIX, uploaded))
    assert _error(excinfo)[0] == "ResourceLimitExceeded"
    assert (
        "'Number of instances across all training jobs' is 4 Instances, with current utilization of 4"
        in _error(excinfo)[1]
    )
    for name in ("od-1", "spot-1"):
        sm.stop_training_job(TrainingJobName=name)


def test_endpoints_over_their_quota_are_refused_on_create(aws, emulator):
    emulator.set_quota("ml.m5.xlarge for endpoint usage", 2)
    sm, artifact = aws("sagemaker"), _artifact(aws)
    _endpoint(aws, "eq-one", artifact)  # 1 of 2
    sm.create_model(
        ModelName="eq-two", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": artifact}
    )
    sm.create_endpoint_config(
        EndpointConfigName="eq-two",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "eq-two",
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
    )
    with pytest.raises(sm.exceptions.ResourceLimitExceeded) as excinfo:
        sm.create_endpoint(EndpointName="eq-two", EndpointConfigName="eq-two")
    assert (
        "'ml.m5.xlarge for endpoint usage' is 2 Instances, with current utilization of 1 Instances and a "
        "request delta of 2 Instances" in _error(excinfo)[1]
    )
    with pytest.raises(ClientError):
        sm.describe_endpoint(EndpointName="eq-two")  # nothing was created


def test_update_endpoint_needs_quota_for_the_new_fleet(aws, uploaded, emulator):
    """An update brings the new fleet up beside the old one before traffic shifts: both must fit."""
    job = wait_training(aws("sagemaker"), _start(aws, "eq-job", uploaded))
    sm = aws("sagemaker")
    emulator.set_quota("ml.m5.xlarge for endpoint usage", 2)
    _endpoint(aws, "eq-upd", job["ModelArtifacts"]["S3ModelArtifacts"])
    assert wait_endpoint(sm, "eq-upd")["EndpointStatus"] == "InService"
    sm.create_endpoint_config(
        EndpointConfigName="eq-upd-2",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "eq-upd",
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
    )
    with pytest.raises(sm.exceptions.ResourceLimitExceeded) as excinfo:
        sm.update_endpoint(EndpointName="eq-upd", EndpointConfigName="eq-upd-2")
    assert "current utilization of 1 Instances and a request delta of 2 Instances" in _error(excinfo)[1]
    assert sm.describe_endpoint(EndpointName="eq-upd")["EndpointStatus"] == "InService"


def _start(aws, name: str, samples: int, **overrides) -> str:
    aws("sagemaker").create_training_job(**training_request(name, BUCKET, PREFIX, samples, **overrides))
    return name


# -- 2. endpoints in transition cannot be deleted; a delete is asynchronous ------------------------------------
def test_delete_endpoint_is_refused_while_creating_and_is_asynchronous(aws, emulator):
    emulator.settings(endpoint_create_seconds=1.0, endpoint_delete_seconds=0.5)
    sm = aws("sagemaker")
    _endpoint(aws, "del-ep", _artifact(aws))
    with pytest.raises(ClientError) as excinfo:
        sm.delete_endpoint(EndpointName="del-ep")
    code, message = _error(excinfo)
    assert code == "ValidationException" and "Creating" in message
    assert sm.describe_endpoint(EndpointName="del-ep")["EndpointStatus"] == "Creating"  # nothing happened

    wait_endpoint(sm, "del-ep")  # Failed (the artifact is not a model): now it can go
    sm.delete_endpoint(EndpointName="del-ep")
    assert sm.describe_endpoint(EndpointName="del-ep")["EndpointStatus"] == "Deleting"
    time.sleep(0.8)
    with pytest.raises(ClientError) as excinfo:
        sm.describe_endpoint(EndpointName="del-ep")
    gone = f"Could not find endpoint 'arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/del-ep'."
    assert _error(excinfo) == ("ValidationException", gone)


# -- 3. CreateModel checks its inputs ------------------------------------------------------------------------
def test_create_model_checks_model_data_and_the_image_region(aws):
    sm = aws("sagemaker")
    _artifact(aws)
    missing = f"s3://{BUCKET}/models/nothing-here.tar.gz"
    with pytest.raises(ClientError) as excinfo:
        sm.create_model(
            ModelName="cm-1", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": missing}
        )
    assert _error(excinfo) == ("ValidationException", f"Could not find model data at {missing}.")

    other_region = "433757028032.dkr.ecr.us-west-2.amazonaws.com/image-classification:1"
    with pytest.raises(ClientError) as excinfo:
        sm.create_model(
            ModelName="cm-2",
            ExecutionRoleArn=ROLE_ARN,
            PrimaryContainer={"Image": other_region, "ModelDataUrl": _artifact(aws)},
        )
    code, message = _error(excinfo)
    assert code == "ValidationException" and "cross region ECR image pulls are not allowed" in message
    assert sm.list_models()["Models"] == []


# -- 4. training images are real ones ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image, expected",
    [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/image-classification:1", "not found or not accessible"),
        ("811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:9", "not found or not accessible"),
        ("433757028032.dkr.ecr.us-west-2.amazonaws.com/image-classification:1", "cross region ECR image pulls"),
    ],
)
def test_training_image_must_be_the_regions_published_one(aws, uploaded, image, expected):
    sm = aws("sagemaker")
    request = training_request(
        "img-job",
        BUCKET,
        PREFIX,
        uploaded,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
    )
    with pytest.raises(ClientError) as excinfo:
        sm.create_training_job(**request)
    code, message = _error(excinfo)
    assert code == "ValidationException" and expected in message
    if "not found" in expected:
        assert IC_IMAGE in message  # says which image would work
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


# -- 5. every request is checked against botocore's service model -------------------------------------------
@pytest.mark.parametrize(
    "overrides, member, constraint",
    [
        (
            {"TrainingJobName": "bad_name"},
            "trainingJobName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
        ),
        ({"TrainingJobName": "a" * 64}, "trainingJobName", "Member must have length less than or equal to 63"),
        (
            {"ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.p9.xlarge", "VolumeSizeInGB": 30}},
            "resourceConfig.instanceType",
            "Member must satisfy enum value set: [ml.m4.xlarge, ",
        ),
        (
            {"Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]},
            "tags",
            "Member must have length less than or equal to 50",
        ),
        (
            {"HyperParameters": {f"h{i}": "1" for i in range(101)}},
            "hyperParameters",
            "Map must have length less than or equal to 100",
        ),
        (
            {"HyperParameters": {"k" * 257: "1"}},
            "hyperParameters",
            "Map keys must satisfy constraint: [Member must have length less than or equal to 256]",
        ),
        (
            {"HyperParameters": {"epochs": "1" * 2501}},
            "hyperParameters",
            "Map value must satisfy constraint: [Member must have length less than or equal to 2500]",
        ),
        (
            {"StoppingCondition": {"MaxRuntimeInSeconds": 28 * 24 * 3600 + 1}},
            "stoppingCondition.maxRuntimeInSeconds",
            "Member must have value less than or equal to 2419200",
        ),
        (
            {
                "ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.p2.xlarge", "VolumeSizeInGB": 30},
                "InputDataConfig": [
                    {
                        "ChannelName": "train!",
                        "DataSource": {
                            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://strict-bucket/ch06/train"}
                        },
                    }
                ],
            },
            "inputDataConfig.1.member.channelName",
            "Member must satisfy regular expression pattern: [A-Za-z0-9\\.\\-_]+",
        ),
    ],
)
def test_requests_are_validated_against_the_service_model(aws, overrides, member, constraint):
    sm = aws("sagemaker")
    with pytest.raises(ClientError) as excinfo:
        sm.create_training_job(**training_request("valid-name", BUCKET, PREFIX, 10, **overrides))
    code, message = _error(excinfo)
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value '"), message
    assert f"' at '{member}' failed to satisfy constraint: {constraint}" in message, message
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


def test_all_problems_are_reported_at_once(aws):
    with pytest.raises(ClientError) as excinfo:
        aws("sagemaker").create_training_job(
            **training_request("bad_name", BUCKET, PREFIX, 10, StoppingCondition={"MaxRuntimeInSeconds": 10**8})
        )
    message = _error(excinfo)[1]
    assert message.startswith("2 validation errors detected: ") and "; Value '" in message


# -- 6. the right error codes --------------------------------------------------------------------------------
def test_duplicate_job_is_resource_in_use_and_runtime_errors_use_the_runtimes_shapes(aws, uploaded, batch1):
    sm, runtime = aws("sagemaker"), aws("sagemaker-runtime")
    sm.create_training_job(**training_request("dup-job", BUCKET, PREFIX, uploaded))
    with pytest.raises(sm.exceptions.ResourceInUse) as excinfo:
        sm.create_training_job(**training_request("dup-job", BUCKET, PREFIX, uploaded))
    assert "a training job with this name already exists" in _error(excinfo)[1]

    png, _ = first_png(batch1)
    with pytest.raises(runtime.exceptions.ValidationError) as excinfo:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="application/x-image", Body=png)
    assert _error(excinfo) == ("ValidationError", f"Endpoint no-such-endpoint of account {ACCOUNT} not found.")

    job = wait_training(sm, "dup-job")
    _endpoint(aws, "rt-ep", job["ModelArtifacts"]["S3ModelArtifacts"])
    wait_endpoint(sm, "rt-ep")
    with pytest.raises(runtime.exceptions.ModelError):
        runtime.invoke_endpoint(EndpointName="rt-ep", ContentType="application/x-image", Body=b"not an image")


# -- 7. inference instance types are botocore's enum ----------------------------------------------------------
def test_inference_instance_types_are_botocores_enum(aws):
    sm, artifact = aws("sagemaker"), _artifact(aws)
    sm.create_model(
        ModelName="it-model", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": artifact}
    )
    for n, instance_type in enumerate(("ml.g5.xlarge", "ml.m6i.large", "ml.g6.xlarge")):
        sm.create_endpoint_config(
            EndpointConfigName=f"it-{n}",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "it-model",
                    "InitialInstanceCount": 1,
                    "InstanceType": instance_type,
                }
            ],
        )
    with pytest.raises(ClientError) as excinfo:
        sm.create_endpoint_config(
            EndpointConfigName="it-bad",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "it-model",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.huge",
                }
            ],
        )
    assert (
        "at 'productionVariants.1.member.instanceType' failed to satisfy constraint: Member must satisfy "
        "enum value set" in _error(excinfo)[1]
    )


# -- 8. tags -------------------------------------------------------------------------------------------------
def test_add_tags_overwrites_and_list_tags_on_an_unknown_arn_is_a_validation_error(aws):
    sm = aws("sagemaker")
    sm.create_model(
        ModelName="tag-model",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": _artifact(aws)},
        Tags=[{"Key": "owner", "Value": "a"}],
    )
    arn = sm.describe_model(ModelName="tag-model")["ModelArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "b"}, {"Key": "team", "Value": "ml"}])
    assert sorted((t["Key"], t["Value"]) for t in sm.list_tags(ResourceArn=arn)["Tags"]) == [
        ("owner", "b"),
        ("team", "ml"),
    ]
    unknown = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/never-created"
    with pytest.raises(ClientError) as excinfo:
        sm.list_tags(ResourceArn=unknown)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert _error(excinfo)[0] == "ValidationException"


# -- 9. Service Quotas looks like a current account ----------------------------------------------------------
def _all(client, operation: str) -> list[dict]:
    return [q for page in client.get_paginator(operation).paginate(ServiceCode="sagemaker") for q in page["Quotas"]]


def test_service_quotas_lists_only_changed_quotas_and_every_default(aws, emulator):
    quotas = aws("service-quotas")
    assert _all(quotas, "list_service_quotas") == []  # a fresh account has changed nothing
    defaults = {q["QuotaName"]: q for q in _all(quotas, "list_aws_default_service_quotas")}
    for name in (
        P2,
        "ml.g4dn.xlarge for spot training job usage",
        "ml.g5.xlarge for endpoint usage",
        "ml.m6i.large for endpoint usage",
        "Number of instances across all training jobs",
    ):
        assert name in defaults
    assert defaults["ml.m5.xlarge for training job usage"]["QuotaCode"] == "L-CCE2AFA6"
    assert all(q["QuotaCode"].startswith("L-") and len(q["QuotaCode"]) == 10 for q in defaults.values())

    emulator.set_quota("ml.g5.xlarge for training job usage", 16)
    changed = _all(quotas, "list_service_quotas")
    assert [(q["QuotaName"], q["Value"]) for q in changed] == [("ml.g5.xlarge for training job usage", 16.0)]
    got = quotas.get_service_quota(ServiceCode="sagemaker", QuotaCode=changed[0]["QuotaCode"])["Quota"]
    assert got["Value"] == 16.0


def test_p2_retired_profile_zeroes_p2_and_the_preflight_suggests_a_substitute(aws, uploaded, emulator):
    from sagemaker_mlops.core.validation import ParamError
    from sagemaker_mlops.training import preflight

    quotas = aws("service-quotas")
    needs = [("training_instance_type", P2, 2)]
    preflight.check_quotas(quotas, needs, REGION)  # the default profile keeps the book's ml.p2 runnable

    with pytest.raises(OSError):  # urllib's HTTPError: the control API refuses an unknown profile
        emulator.settings(quota_profile="no-such-profile")
    emulator.settings(quota_profile="p2-retired")
    defaults = {q["QuotaName"]: q["Value"] for q in _all(quotas, "list_aws_default_service_quotas")}
    assert defaults[P2] == 0.0 and defaults["ml.p2.xlarge for endpoint usage"] == 0.0
    assert defaults["ml.g4dn.xlarge for training job usage"] > 0
    with pytest.raises(ParamError) as excinfo:
        preflight.check_quotas(quotas, needs, REGION)
    assert f"Service Quota '{P2}' is 0" in str(excinfo.value) and "ml.g4dn.xlarge" in str(excinfo.value)

    with pytest.raises(ClientError) as refused:  # and SageMaker itself agrees
        aws("sagemaker").create_training_job(**training_request("p2-job", BUCKET, PREFIX, uploaded))
    assert _error(refused)[0] == "ResourceLimitExceeded"
    assert (
        f"'{P2}' is 0 Instances, with current utilization of 0 Instances and a request delta of 2" in _error(refused)[1]
    )


# -- 10. responses carry every field AWS always returns --------------------------------------------------------
def test_describe_training_job_has_awss_always_present_fields(aws, uploaded):
    sm = aws("sagemaker")
    job = wait_training(sm, _start(aws, "fields-job", uploaded))
    assert job["OutputDataConfig"]["KmsKeyId"] == ""
    assert job["EnableManagedSpotTraining"] is False and job["EnableInterContainerTrafficEncryption"] is False
    assert job["ResourceConfig"]["VolumeSizeInGB"] == 30
    for channel in job["InputDataConfig"]:
        assert channel["CompressionType"] == "None" and channel["RecordWrapperType"] == "None"
        assert channel["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "FullyReplicated"


SDK_PYTHON = REPO / ".venv-sdk" / "bin" / "python"
ATTACH = """
import sys, boto3, sagemaker
from sagemaker.estimator import Estimator
url, job = sys.argv[1], sys.argv[2]
kw = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
session = sagemaker.Session(boto_session=boto3.Session(**kw),
                            sagemaker_client=boto3.client("sagemaker", endpoint_url=url, **kw))
estimator = Estimator.attach(job, sagemaker_session=session)
print(estimator.model_data, estimator.output_kms_key == "", estimator.instance_count, estimator.instance_type)
"""


@pytest.mark.e2e  # a second interpreter that imports the SageMaker SDK (~10 s)
def test_the_sdks_estimator_attach_reads_a_job_without_key_errors(aws, uploaded, emulator):
    """The book's PART02 code calls Estimator.attach(job_name); it read OutputDataConfig.KmsKeyId and raised."""
    if not SDK_PYTHON.exists():
        pytest.fail(f"{SDK_PYTHON} is missing: run `bash include/sdk_oracle/bootstrap.sh`")
    job = wait_training(aws("sagemaker"), _start(aws, "attach-job", uploaded))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(SDK_PYTHON), "-c", ATTACH, emulator.url, "attach-job"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    model_data, no_kms, count, instance_type = proc.stdout.split()[-4:]
    assert model_data == job["ModelArtifacts"]["S3ModelArtifacts"]
    assert (no_kms, count, instance_type) == ("True", "2", "ml.p2.xlarge")


# -- 11. small ones ------------------------------------------------------------------------------------------
def test_weight_zero_variant_keeps_its_weights(aws, uploaded):
    sm = aws("sagemaker")
    job = wait_training(sm, _start(aws, "w0-job", uploaded))
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    for name in ("w0-a", "w0-b"):
        sm.create_model(
            ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": artifact}
        )
    _endpoint(
        aws,
        "w0-ep",
        artifact,
        variants=[
            {
                "VariantName": "a",
                "ModelName": "w0-a",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
                "InitialVariantWeight": 1.0,
            },
            {
                "VariantName": "b",
                "ModelName": "w0-b",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
                "InitialVariantWeight": 0.0,
            },
        ],
    )
    variants = {v["VariantName"]: v for v in wait_endpoint(sm, "w0-ep")["ProductionVariants"]}
    assert (variants["b"]["CurrentWeight"], variants["b"]["DesiredWeight"]) == (0.0, 0.0)
    assert (variants["a"]["CurrentWeight"], variants["a"]["DesiredWeight"]) == (1.0, 1.0)


def test_training_times_agree_and_the_logs_hold_no_sdk_lines(aws, uploaded, emulator):
    emulator.settings(time_scale=20.0)
    sm, logs = aws("sagemaker"), aws("logs")
    job = wait_training(sm, _start(aws, "times-job", uploaded))
    assert job["TrainingJobStatus"] == "Completed"
    assert job["TrainingTimeInSeconds"] == round((job["TrainingEndTime"] - job["TrainingStartTime"]).total_seconds())
    group = "/aws/sagemaker/TrainingJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="times-job/")["logStreams"]
    text = "\n".join(
        e["message"]
        for s in streams
        for e in logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"])["events"]
    )
    assert "Epoch[" in text
    assert "Training seconds" not in text and "Billable seconds" not in text


def test_failure_reason_is_at_most_1024_characters(aws, uploaded, emulator):
    emulator.fail_next_training_job("AlgorithmError: " + "x" * 3000)
    job = wait_training(aws("sagemaker"), _start(aws, "long-fail", uploaded))
    assert job["TrainingJobStatus"] == "Failed" and len(job["FailureReason"]) == 1024
    assert json.dumps(job, default=str)  # and the describe is still well formed


def _missing_required(shape, value, path: str = "") -> list[str]:
    """Required members absent anywhere in a response (botocore does not check responses; AWS always sends them)."""
    missing: list[str] = []
    if shape.type_name == "structure" and isinstance(value, dict):
        missing += [f"{path}.{name}".lstrip(".") for name in shape.required_members if name not in value]
        for name, member in shape.members.items():
            if name in value:
                missing += _missing_required(member, value[name], f"{path}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            missing += _missing_required(shape.member, item, f"{path}[{index}]")
    return missing


def test_describe_responses_carry_every_required_member_of_botocores_output_shapes(aws, uploaded):
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    sm = aws("sagemaker")
    job = wait_training(sm, _start(aws, "shape-job", uploaded))
    _endpoint(aws, "shape-ep", job["ModelArtifacts"]["S3ModelArtifacts"])
    wait_endpoint(sm, "shape-ep")
    responses = {
        "DescribeTrainingJob": job,
        "DescribeModel": sm.describe_model(ModelName="shape-ep"),
        "DescribeEndpointConfig": sm.describe_endpoint_config(EndpointConfigName="shape-ep"),
        "DescribeEndpoint": sm.describe_endpoint(EndpointName="shape-ep"),
    }
    for operation, response in responses.items():
        shape = model.operation_model(operation).output_shape
        assert _missing_required(shape, response) == [], operation
