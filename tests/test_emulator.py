"""The emulator over real HTTP with boto3: lifecycles, validations, the algorithm's contract, spot, endpoints."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from aws_emulator.storage import S3Store

from constants import ACCOUNT, REGION
from emulator_helpers import (
    IC_IMAGE,
    deploy,
    first_png,
    training_request,
    upload_zip,
    wait_endpoint,
    wait_training,
)

BUCKET, PREFIX = "book-bucket", "ch06"


@pytest.fixture()
def uploaded(aws, batch1):
    return upload_zip(aws("s3"), batch1, BUCKET, PREFIX)


def _train(aws, name: str, samples: int, **overrides):
    sm = aws("sagemaker")
    sm.create_training_job(**training_request(name, BUCKET, PREFIX, samples, **overrides))
    return wait_training(sm, name)


def _error(excinfo) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


# -- training lifecycle ----------------------------------------------------------------------------------------
def test_training_job_runs_through_real_states_and_writes_artifacts(aws, uploaded, emulator):
    emulator.settings(epoch_seconds=0.3)
    sm, s3, logs = aws("sagemaker"), aws("s3"), aws("logs")
    sm.create_training_job(**training_request("job-ok", BUCKET, PREFIX, uploaded))
    first = sm.describe_training_job(TrainingJobName="job-ok")
    assert first["TrainingJobStatus"] == "InProgress"
    assert "TrainingTimeInSeconds" not in first and "FinalMetricDataList" not in first

    job = wait_training(sm, "job-ok")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert job["TrainingTimeInSeconds"] >= 1 and job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"]
    assert job["TrainingEndTime"] >= job["TrainingStartTime"]

    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{BUCKET}/{PREFIX}/output/job-ok/output/model.tar.gz"
    body = s3.get_object(Bucket=BUCKET, Key=artifact.split("/", 3)[3])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert "model-shapes.json" in tar.getnames()

    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert set(metrics) == {"train:accuracy", "validation:accuracy"}
    assert metrics["validation:accuracy"] >= 0.7

    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="job-ok/")
    names = sorted(s["logStreamName"] for s in streams["logStreams"])
    assert [n.split("/")[1].rsplit("-", 1)[0] for n in names] == ["algo-1", "algo-2"]
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=names[0], startFromHead=True
    )["events"]
    assert any("Validation-accuracy" in e["message"] for e in events)


def test_duplicate_training_job_is_rejected_and_the_first_is_kept(aws, uploaded):
    sm = aws("sagemaker")
    sm.create_training_job(**training_request("job-dup", BUCKET, PREFIX, uploaded))
    with pytest.raises(ClientError) as excinfo:
        sm.create_training_job(
            **training_request(
                "job-dup",
                BUCKET,
                PREFIX,
                uploaded,
                ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.g5.xlarge", "VolumeSizeInGB": 30},
            )
        )
    code, message = _error(excinfo)
    assert code == "ResourceInUse" and "already exists" in message
    job = wait_training(sm, "job-dup")
    assert job["ResourceConfig"]["InstanceType"] == "ml.p2.xlarge" and job["TrainingJobStatus"] == "Completed"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"EnableManagedSpotTraining": True}, "required for managed spot"),
        (
            {
                "EnableManagedSpotTraining": True,
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 1800},
            },
            "greater than or equal",
        ),
        ({"StoppingCondition": {"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120}}, "only when"),
        (
            {"ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.c5.xlarge", "VolumeSizeInGB": 30}},
            "only GPU instances",
        ),
        (
            {
                "InputDataConfig": [
                    {
                        "ChannelName": "train",
                        "DataSource": {
                            "S3DataSource": {
                                "S3DataType": "S3Prefix",
                                "S3Uri": f"s3://{BUCKET}/nope/train",
                                "S3DataDistributionType": "FullyReplicated",
                            }
                        },
                    }
                ]
            },
            "No S3 objects found",
        ),
    ],
)
def test_bad_training_requests_are_rejected_before_anything_is_created(aws, uploaded, overrides, expected):
    sm = aws("sagemaker")
    with pytest.raises(ClientError) as excinfo:
        sm.create_training_job(**training_request("job-bad", BUCKET, PREFIX, uploaded, **overrides))
    code, message = _error(excinfo)
    assert code == "ValidationException" and expected in message
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


# -- the algorithm's contract -------------------------------------------------------------------------------------
def _reupload(aws, batch1: Path, mutate) -> int:
    """Uploads batch1 with files changed by mutate(name, data) -> data | None (None drops the file)."""
    aws("s3").create_bucket(Bucket=BUCKET)
    store = S3Store(ACCOUNT, REGION)
    count = 0
    with zipfile.ZipFile(batch1) as archive:
        for name in archive.namelist():
            data = mutate(name, archive.read(name))
            if data is not None:
                store.write(f"s3://{BUCKET}/{PREFIX}/{name}", data)
                count += name.startswith("train/")
    return count


def _small_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (20, 20)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mutate", "hp_drop", "expected"),
    [
        (lambda n, d: d, "num_classes", "num_classes"),
        (lambda n, d: d, "num_training_samples", "num_training_samples"),
        (lambda n, d: d + b"oops-a-bad-line\n" if n.endswith("train.lst") else d, None, "train.lst"),
        (lambda n, d: _small_png() if n.startswith("train/") and n.endswith(".png") else d, None, "smaller"),
    ],
)
def test_contract_violations_fail_the_job_with_a_clear_reason(aws, batch1, mutate, hp_drop, expected):
    samples = _reupload(aws, batch1, mutate)
    request = training_request("job-contract", BUCKET, PREFIX, samples)
    if hp_drop:
        request["HyperParameters"].pop(hp_drop)
    sm = aws("sagemaker")
    sm.create_training_job(**request)
    job = wait_training(sm, "job-contract")
    assert job["TrainingJobStatus"] == "Failed"
    assert expected in job["FailureReason"]
    assert "ModelArtifacts" not in job or not _exists(aws, job["ModelArtifacts"]["S3ModelArtifacts"])


def test_missing_channel_fails_the_job(aws, uploaded):
    request = training_request("job-3ch", BUCKET, PREFIX, uploaded)
    request["InputDataConfig"] = [c for c in request["InputDataConfig"] if c["ChannelName"] != "validation_lst"]
    sm = aws("sagemaker")
    sm.create_training_job(**request)
    job = wait_training(sm, "job-3ch")
    assert job["TrainingJobStatus"] == "Failed" and "validation_lst" in job["FailureReason"]


def _exists(aws, uri: str) -> bool:
    bucket, key = uri[5:].split("/", 1)
    try:
        aws("s3").head_object(Bucket=bucket, Key=key)
        return True
    except ClientError:
        return False


def test_injected_failure_and_stop(aws, uploaded, emulator):
    emulator.fail_next_training_job("AlgorithmError: injected for the test")
    failed = _train(aws, "job-fail", uploaded)
    assert failed["TrainingJobStatus"] == "Failed"
    assert failed["FailureReason"] == "AlgorithmError: injected for the test"

    emulator.settings(starting_seconds=5)
    sm = aws("sagemaker")
    sm.create_training_job(**training_request("job-stop", BUCKET, PREFIX, uploaded))
    sm.stop_training_job(TrainingJobName="job-stop")
    stopped = wait_training(sm, "job-stop")
    assert stopped["TrainingJobStatus"] == "Stopped" and stopped["SecondaryStatus"] == "Stopped"
    with pytest.raises(ClientError):
        sm.stop_training_job(TrainingJobName="job-stop")


# -- incremental training and spot -------------------------------------------------------------------------------
def _model_channel(uri: str) -> dict:
    return {
        "ChannelName": "model",
        "ContentType": "application/x-sagemaker-model",
        "InputMode": "File",
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
    }


def test_incremental_training_warm_starts_and_rejects_an_incompatible_base(aws, uploaded):
    base = _train(aws, "job-base", uploaded)
    artifact = base["ModelArtifacts"]["S3ModelArtifacts"]
    request = training_request("job-incr", BUCKET, PREFIX, uploaded)
    request["InputDataConfig"].append(_model_channel(artifact))
    sm = aws("sagemaker")
    sm.create_training_job(**request)
    job = wait_training(sm, "job-incr")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    logs = aws("logs")
    stream = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="job-incr/")[
        "logStreams"
    ][0]["logStreamName"]
    text = "\n".join(
        e["message"]
        for e in logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream, startFromHead=True
        )["events"]
    )
    assert "warm" in text.lower() or "base model" in text.lower()

    bad = training_request("job-incr-bad", BUCKET, PREFIX, uploaded)
    bad["HyperParameters"]["num_layers"] = "34"
    bad["InputDataConfig"].append(_model_channel(artifact))
    sm.create_training_job(**bad)
    failed = wait_training(sm, "job-incr-bad")
    assert failed["TrainingJobStatus"] == "Failed" and "num_layers" in failed["FailureReason"]


def _spot_request(name: str, samples: int, checkpoint: str, **stopping):
    return training_request(
        name,
        BUCKET,
        PREFIX,
        samples,
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600, **stopping},
        CheckpointConfig={"S3Uri": checkpoint, "LocalPath": "/opt/ml/checkpoints"},
    )


def _keys(aws, prefix: str) -> list[str]:
    return [o["Key"] for o in aws("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_spot_interruption_resumes_from_checkpoints_and_completes(aws, uploaded, emulator):
    checkpoint = f"s3://{BUCKET}/spot-job/checkpoints"
    emulator.interrupt_spot(interruptions=1, capacity_wait_seconds=30)
    sm = aws("sagemaker")
    sm.create_training_job(**_spot_request("job-spot", uploaded, checkpoint))
    job = wait_training(sm, "job-spot")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert "Interrupted" in statuses
    assert statuses[statuses.index("Interrupted") + 1 : statuses.index("Interrupted") + 4] == [
        "Starting",
        "Downloading",
        "Training",
    ]
    assert job["BillableTimeInSeconds"] <= job["TrainingTimeInSeconds"]
    keys = _keys(aws, "spot-job/checkpoints/")
    assert any(k.endswith("0003.params") for k in keys), keys


def test_spot_max_wait_exceeded_stops_and_keeps_checkpoints(aws, uploaded, emulator):
    checkpoint = f"s3://{BUCKET}/spot-wait/checkpoints"
    emulator.interrupt_spot(interruptions=1, capacity_wait_seconds=7200)
    sm = aws("sagemaker")
    sm.create_training_job(**_spot_request("job-wait", uploaded, checkpoint))
    job = wait_training(sm, "job-wait")
    assert job["TrainingJobStatus"] == "Stopped" and job["SecondaryStatus"] == "MaxWaitTimeExceeded"
    keys = _keys(aws, "spot-wait/checkpoints/")
    assert keys, "checkpoints must survive a MaxWaitTimeExceeded stop"

    # A new job with the same checkpoint URI resumes where the stopped one left off.
    sm.create_training_job(**_spot_request("job-wait-resume", uploaded, checkpoint))
    resumed = wait_training(sm, "job-wait-resume")
    assert resumed["TrainingJobStatus"] == "Completed"


# -- endpoints and invoke ----------------------------------------------------------------------------------------
def test_endpoint_lifecycle_invoke_update_and_delete(aws, uploaded, batch1):
    job = _train(aws, "job-ep", uploaded)
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    sm, runtime = aws("sagemaker"), aws("sagemaker-runtime")
    deploy(sm, artifact, "ep-one")
    assert sm.describe_endpoint(EndpointName="ep-one")["EndpointStatus"] == "Creating"
    assert wait_endpoint(sm, "ep-one")["EndpointStatus"] == "InService"
    assert sm.describe_model(ModelName="ep-one")["EnableNetworkIsolation"] is True

    png, _label = first_png(batch1)
    response = runtime.invoke_endpoint(EndpointName="ep-one", ContentType="application/x-image", Body=png)
    probabilities = json.loads(response["Body"].read())
    assert len(probabilities) == 10 and abs(sum(probabilities) - 1.0) < 1e-3

    for body, content_type in ((b"definitely not an image", "application/x-image"), (png, "text/csv")):
        with pytest.raises(ClientError) as excinfo:
            runtime.invoke_endpoint(EndpointName="ep-one", ContentType=content_type, Body=body)
        assert _error(excinfo)[0] == "ModelError"

    for call in (
        lambda: sm.create_model(
            ModelName="ep-one",
            ExecutionRoleArn=job["RoleArn"],
            PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": artifact},
        ),
        lambda: sm.create_endpoint_config(
            EndpointConfigName="ep-one",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "ep-one",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.xlarge",
                }
            ],
        ),
        lambda: sm.create_endpoint(EndpointName="ep-one", EndpointConfigName="ep-one"),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert "Cannot create already existing" in _error(excinfo)[1]

    sm.create_endpoint_config(
        EndpointConfigName="ep-two",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "ep-one",
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
    )
    sm.update_endpoint(EndpointName="ep-one", EndpointConfigName="ep-two")
    assert sm.describe_endpoint(EndpointName="ep-one")["EndpointStatus"] == "Updating"
    updated = wait_endpoint(sm, "ep-one")
    assert updated["EndpointStatus"] == "InService" and updated["EndpointConfigName"] == "ep-two"

    sm.delete_endpoint(EndpointName="ep-one")  # asynchronous, as on AWS: Deleting, then gone
    assert sm.describe_endpoint(EndpointName="ep-one")["EndpointStatus"] == "Deleting"
    with pytest.raises(runtime.exceptions.ValidationError):
        runtime.invoke_endpoint(EndpointName="ep-one", ContentType="application/x-image", Body=png)
    sm.get_waiter("endpoint_deleted").wait(EndpointName="ep-one", WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    with pytest.raises(ClientError):
        sm.describe_endpoint(EndpointName="ep-one")


def test_endpoint_references_and_failures(aws, uploaded, emulator):
    sm = aws("sagemaker")
    with pytest.raises(ClientError) as excinfo:
        sm.create_endpoint_config(
            EndpointConfigName="c",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "missing",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.xlarge",
                }
            ],
        )
    assert "Could not find model" in _error(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        sm.create_endpoint(EndpointName="e", EndpointConfigName="missing")
    assert "Could not find endpoint" in _error(excinfo)[1]

    # An artifact that is not a model fails the endpoint, as a real container would.
    aws("s3").put_object(Bucket=BUCKET, Key="junk/model.tar.gz", Body=b"not a tarball")
    deploy(sm, f"s3://{BUCKET}/junk/model.tar.gz", "ep-junk")
    failed = wait_endpoint(sm, "ep-junk")
    assert failed["EndpointStatus"] == "Failed" and failed["FailureReason"]

    job = _train(aws, "job-ep-fault", uploaded)
    emulator.fail_next_endpoint("injected endpoint failure")
    deploy(sm, job["ModelArtifacts"]["S3ModelArtifacts"], "ep-fault")
    faulted = wait_endpoint(sm, "ep-fault")
    assert faulted["EndpointStatus"] == "Failed" and faulted["FailureReason"] == "injected endpoint failure"


# -- quotas, latency, the request log ----------------------------------------------------------------------------
def _quota(aws, name: str) -> float:
    """The value in force: the applied value (ListServiceQuotas lists only changed ones) over the default."""
    quotas = aws("service-quotas")
    found: dict[str, float] = {}
    for operation in ("list_aws_default_service_quotas", "list_service_quotas"):
        for page in quotas.get_paginator(operation).paginate(ServiceCode="sagemaker"):
            found.update({quota["QuotaName"]: quota["Value"] for quota in page["Quotas"]})
    if name not in found:
        raise AssertionError(f"quota {name!r} not listed")
    return found[name]


def test_service_quotas_by_name_are_configurable(aws, emulator):
    assert _quota(aws, "ml.p2.xlarge for training job usage") == 4.0
    emulator.set_quota("ml.p2.xlarge for training job usage", 0)
    emulator.set_quota("ml.g4dn.xlarge for spot training job usage", 8)
    assert _quota(aws, "ml.p2.xlarge for training job usage") == 0.0
    assert _quota(aws, "ml.g4dn.xlarge for spot training job usage") == 8.0
    assert _quota(aws, "ml.m5.xlarge for endpoint usage") == 4.0
    listed = aws("service-quotas").list_service_quotas(ServiceCode="sagemaker", MaxResults=5)
    code = listed["Quotas"][0]["QuotaCode"]
    got = aws("service-quotas").get_service_quota(ServiceCode="sagemaker", QuotaCode=code)["Quota"]
    assert got["QuotaName"] == listed["Quotas"][0]["QuotaName"]


def test_s3_latency_and_request_log(aws, emulator):
    import time

    s3 = aws("s3")
    s3.create_bucket(Bucket="lat")
    emulator.settings(s3_latency_ms=150)
    started = time.monotonic()
    s3.put_object(Bucket="lat", Key="k", Body=b"x")
    assert time.monotonic() - started >= 0.15
    emulator.settings(s3_latency_ms=0)
    s3.put_public_access_block(Bucket="lat", PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    actions = emulator.actions("s3")
    assert actions.count("CreateBucket") == 1 and "PutObject" in actions and "PutPublicAccessBlock" in actions
    emulator.clear_requests()
    aws("sagemaker").list_training_jobs()
    assert emulator.actions() == ["ListTrainingJobs"]


def test_weight_zero_variant_gets_traffic_only_when_targeted(aws, uploaded, batch1):
    job = _train(aws, "job-variants", uploaded)
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    sm, runtime = aws("sagemaker"), aws("sagemaker-runtime")
    for name in ("m-new", "m-base"):
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=job["RoleArn"],
            PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": artifact},
        )
    sm.create_endpoint_config(
        EndpointConfigName="two-variants",
        ProductionVariants=[
            {
                "VariantName": "BaseModel",
                "ModelName": "m-base",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
                "InitialVariantWeight": 0.0,
            },
            {
                "VariantName": "AllTraffic",
                "ModelName": "m-new",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
                "InitialVariantWeight": 1.0,
            },
        ],
    )
    sm.create_endpoint(EndpointName="two-variants", EndpointConfigName="two-variants")
    assert wait_endpoint(sm, "two-variants")["EndpointStatus"] == "InService"
    png, _ = first_png(batch1)
    plain = runtime.invoke_endpoint(EndpointName="two-variants", ContentType="image/png", Body=png)
    targeted = runtime.invoke_endpoint(
        EndpointName="two-variants", ContentType="image/png", Body=png, TargetVariant="BaseModel"
    )
    assert plain["InvokedProductionVariant"] == "AllTraffic"
    assert targeted["InvokedProductionVariant"] == "BaseModel"
