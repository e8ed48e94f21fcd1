"""Batch transform on the emulator over real HTTP: a job runs the stand-in model over S3 objects and writes the
algorithm's ``.out`` files, answers as the endpoint does on the same images, refuses what CreateTransformJob
documents, fails, stops, lists, tags, and carries the provider's SageMakerTransformOperator (deferrable or not)."""

from __future__ import annotations

import asyncio
import json
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aws_emulator.sagemaker.transform import pack_recordio
from aws_emulator.storage import S3Store

from constants import ACCOUNT, DATA_BUCKET, REGION, ROLE_ARN
from emulator_helpers import IC_IMAGE, PACKAGE_TAGS, completed_job, deploy, wait_endpoint

# The suite's data bucket and mlops-* names: the provider operator's calls below are Airflow's, so the IAM replay
# checks them against the Airflow role (which reads, writes and transforms only those).
BUCKET = DATA_BUCKET
_ARTIFACT: dict[str, bytes] = {}  # the trained model.tar.gz, trained once per session worker


def _error(excinfo: Any) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def _holdout(zip_path: Path, count: int = 12) -> dict[str, bytes]:
    """``<digit>/<name>.png`` -> bytes, from the batch's validation folder (a small pinned holdout)."""
    with zipfile.ZipFile(zip_path) as archive:
        names = sorted(n for n in archive.namelist() if n.startswith("validation/") and n.endswith(".png"))
        step = max(1, len(names) // count)
        return {n[len("validation/") :]: archive.read(n) for n in names[::step][:count]}


@pytest.fixture()
def model(aws: Any, batch1: Path) -> str:
    """A model named ``mlops-model-ic`` on a trained stand-in artifact in BUCKET (trained over HTTP once per worker)."""
    s3 = aws("s3")
    if "tar" not in _ARTIFACT:
        job = completed_job(aws, batch1, "mlops-transform-train", "ch06", "transform-train")
        _ARTIFACT["tar"] = S3Store(ACCOUNT, REGION).read(job["ModelArtifacts"]["S3ModelArtifacts"])
    s3.create_bucket(Bucket=BUCKET)
    uri = f"s3://{BUCKET}/model/model.tar.gz"
    S3Store(ACCOUNT, REGION).write(uri, _ARTIFACT["tar"])
    aws("sagemaker").create_model(
        ModelName="mlops-model-ic", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": uri}
    )
    return uri


@pytest.fixture()
def holdout(aws: Any, batch1: Path) -> dict[str, bytes]:
    images = _holdout(batch1)
    store = S3Store(ACCOUNT, REGION)
    if not store.bucket_exists(BUCKET):
        aws("s3").create_bucket(Bucket=BUCKET)
    for relative, data in images.items():
        store.write(f"s3://{BUCKET}/holdout/{relative}", data)
    return images


def transform_request(name: str, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": "mlops-model-ic",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/holdout/"}},
            "ContentType": "application/x-image",
            "SplitType": "None",
        },
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/out/{name}", "Accept": "application/json"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "BatchStrategy": "SingleRecord",
        "Tags": [{"Key": "mlops:package", "Value": "p1"}],
    }
    request.update(overrides)
    return request


def wait_transform(sm: Any, name: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sm.describe_transform_job(TransformJobName=name)
        if job["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"transform job {name} did not finish in {timeout}s")


def test_transform_writes_the_algorithm_s_output_equal_to_the_endpoint_s_answers(aws, model, holdout):
    sm, runtime = aws("sagemaker"), aws("sagemaker-runtime")
    arn = sm.create_transform_job(**transform_request("eval-1"))["TransformJobArn"]
    assert arn == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/eval-1"
    assert sm.describe_transform_job(TransformJobName="eval-1")["TransformJobStatus"] == "InProgress"
    job = wait_transform(sm, "eval-1")
    assert job["TransformJobStatus"] == "Completed", job
    assert job["TransformStartTime"] <= job["TransformEndTime"]  # the billed interval
    assert job["TransformInput"]["CompressionType"] == "None" and job["MaxPayloadInMB"] == 6
    assert "FailureReason" not in job

    deploy(sm, model, "ic-endpoint")
    assert wait_endpoint(sm, "ic-endpoint")["EndpointStatus"] == "InService"
    store = S3Store(ACCOUNT, REGION)
    assert sorted(store.keys_under(f"s3://{BUCKET}/out/eval-1/")) == sorted(
        f"out/eval-1/{relative}.out" for relative in holdout
    )
    for relative, png in holdout.items():
        batch = json.loads(store.read(f"s3://{BUCKET}/out/eval-1/{relative}.out"))
        online = json.loads(
            runtime.invoke_endpoint(EndpointName="ic-endpoint", ContentType="application/x-image", Body=png)[
                "Body"
            ].read()
        )
        assert len(batch) == 10 and batch == online, relative

    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "mlops:package", "Value": "p1"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "mlops:package", "Value": "p2"}, {"Key": "team", "Value": "ml"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "mlops:package", "Value": "p2"},
        {"Key": "team", "Value": "ml"},
    ]
    logs = aws("logs").filter_log_events(logGroupName="/aws/sagemaker/TransformJobs", logStreamNamePrefix="eval-1")
    assert any("STAND-IN" in e["message"].upper() for e in logs["events"])


def test_recordio_records_jsonlines_and_gzip(aws, model, holdout):
    import gzip

    sm = aws("sagemaker")
    images = list(holdout.values())
    store = S3Store(ACCOUNT, REGION)
    store.write(f"s3://{BUCKET}/rec/holdout.rec", pack_recordio(images))
    store.write(f"s3://{BUCKET}/gz/one.png.gz", gzip.compress(images[0]))
    sm.create_transform_job(
        **transform_request(
            "eval-rec",
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/rec/"}},
                "ContentType": "application/x-recordio",
                "SplitType": "RecordIO",
            },
            TransformOutput={
                "S3OutputPath": f"s3://{BUCKET}/out/rec",
                "Accept": "application/jsonlines",
                "AssembleWith": "Line",
            },
            BatchStrategy="MultiRecord",
        )
    )
    sm.create_transform_job(
        **transform_request(
            "eval-gz",
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/gz/"}},
                "ContentType": "application/x-image",
                "CompressionType": "Gzip",
            },
        )
    )
    assert wait_transform(sm, "eval-rec")["TransformJobStatus"] == "Completed"
    assert wait_transform(sm, "eval-gz")["TransformJobStatus"] == "Completed"
    lines = store.read(f"s3://{BUCKET}/out/rec/holdout.rec.out").decode().splitlines()
    single = json.loads(store.read(f"s3://{BUCKET}/out/eval-gz/one.png.gz.out"))
    assert len(lines) == len(images)
    assert json.loads(lines[0]) == {"prediction": single}


@pytest.mark.parametrize(
    ("overrides", "code", "message"),
    [
        ({"ModelName": "no-such-model"}, "ValidationException", "Could not find model"),
        (
            {"TransformResources": {"InstanceType": "ml.m6i.large", "InstanceCount": 1}},
            "ValidationException",
            "Instance type ml.m6i.large is not supported by algorithm image-classification for batch transform",
        ),
        ({"MaxPayloadInMB": 101}, "ValidationException", "MaxPayloadInMB must be at most 100 MB; got 101."),
        ({"MaxPayloadInMB": 0}, "ValidationException", "HTTP chunked encoding) is not supported"),
        (
            {"MaxPayloadInMB": 20, "MaxConcurrentTransforms": 6},
            "ValidationException",
            "MaxConcurrentTransforms * MaxPayloadInMB must be at most 100 MB; got 6 * 20 = 120.",
        ),
        (
            {
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "AugmentedManifestFile", "S3Uri": "s3://b/m"}}
                }
            },
            "ValidationException",
            "S3DataType AugmentedManifestFile is not compatible with batch transform",
        ),
        (
            {"TransformOutput": {"S3OutputPath": "https://example.com/out"}},
            "ValidationException",
            "TransformOutput.S3OutputPath must be an s3:// URI",
        ),
        ({"Tags": [{"Key": "aws:owner", "Value": "x"}]}, "ValidationException", "reserved prefix 'aws:'"),
        (
            {"BatchStrategy": "AllRecords"},
            "ValidationException",
            "Value 'AllRecords' at 'batchStrategy' failed to satisfy constraint: Member must satisfy enum value set: "
            "[MultiRecord, SingleRecord]",
        ),
        (
            {"TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 101}},
            "ValidationException",
            "TransformResources.InstanceCount must be at most 100.",
        ),
        (
            {"TransformJobName": "bad_name"},
            "ValidationException",
            "Value 'bad_name' at 'transformJobName' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern",
        ),
    ],
)
def test_refusals_create_nothing(aws, model, overrides, code, message):
    sm = aws("sagemaker")
    with pytest.raises(ClientError) as excinfo:
        sm.create_transform_job(**transform_request("refused", **overrides))
    got_code, got_message = _error(excinfo)
    assert got_code == code and message in got_message, got_message
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []


def test_transform_quota_counts_running_jobs(aws, model, holdout, emulator):
    sm = aws("sagemaker")
    emulator.set_quota("ml.m5.large for transform job usage", 2)
    emulator.settings(starting_seconds=1.0)
    sm.create_transform_job(
        **transform_request("q1", TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 2})
    )
    with pytest.raises(ClientError) as excinfo:
        sm.create_transform_job(**transform_request("q2"))
    assert _error(excinfo) == (
        "ResourceLimitExceeded",
        "The account-level service limit 'ml.m5.large for transform job usage' is 2 Instances, with current "
        "utilization of 2 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to request an "
        "increase for this quota.",
    )
    assert wait_transform(sm, "q1")["TransformJobStatus"] == "Completed"
    sm.create_transform_job(**transform_request("q2"))  # the first job's instances are free again
    assert wait_transform(sm, "q2")["TransformJobStatus"] == "Completed"


def test_duplicate_name_is_refused_and_the_first_kept(aws, model, holdout):
    sm = aws("sagemaker")
    sm.create_transform_job(**transform_request("dup"))
    with pytest.raises(ClientError) as excinfo:
        sm.create_transform_job(**transform_request("dup", TransformOutput={"S3OutputPath": f"s3://{BUCKET}/x"}))
    code, message = _error(excinfo)
    assert code == "ResourceInUse" and "a job with this name already exists" in message
    job = wait_transform(sm, "dup")
    assert job["TransformOutput"]["S3OutputPath"] == f"s3://{BUCKET}/out/dup"
    with pytest.raises(ClientError) as excinfo:
        sm.describe_transform_job(TransformJobName="never-created")
    assert _error(excinfo) == (
        "ValidationException",
        f"Could not find transform job 'arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/never-created'.",
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/empty/"}},
                    "ContentType": "application/x-image",
                }
            },
            f'ClientError: No S3 objects found under S3 URL "s3://{BUCKET}/empty/"',
        ),
        (
            {
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/holdout/"}},
                    "ContentType": "application/x-image",
                    "SplitType": "Line",
                }
            },
            "SplitType Line cuts an application/x-image object into pieces that are not images",
        ),
        ({"DataProcessing": {"JoinSource": "Input"}}, "DataProcessing.JoinSource Input joins"),
        (
            {"TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/o", "Accept": "text/csv"}},
            "Accept text/csv is not supported by the image-classification algorithm",
        ),
    ],
)
def test_what_the_algorithm_cannot_do_fails_the_job_with_a_reason(aws, model, holdout, overrides, reason):
    sm = aws("sagemaker")
    sm.create_transform_job(**transform_request("fails", **overrides))
    job = wait_transform(sm, "fails")
    assert job["TransformJobStatus"] == "Failed" and reason in job["FailureReason"], job.get("FailureReason")
    assert S3Store(ACCOUNT, REGION).keys_under(f"s3://{BUCKET}/out/fails/") == []


def test_injected_fault_fails_the_next_job_only(aws, model, holdout, emulator):
    sm = aws("sagemaker")
    emulator.fail_next_transform_job("ClientError: injected for the test")
    sm.create_transform_job(**transform_request("faulted"))
    sm.create_transform_job(**transform_request("healthy"))
    assert wait_transform(sm, "faulted")["FailureReason"] == "ClientError: injected for the test"
    assert wait_transform(sm, "healthy")["TransformJobStatus"] == "Completed"


def test_stop_goes_through_stopping_to_stopped(aws, model, holdout, emulator):
    sm = aws("sagemaker")
    emulator.settings(starting_seconds=2.0)
    sm.create_transform_job(**transform_request("to-stop"))
    sm.stop_transform_job(TransformJobName="to-stop")
    assert sm.describe_transform_job(TransformJobName="to-stop")["TransformJobStatus"] == "Stopping"
    job = wait_transform(sm, "to-stop")
    assert job["TransformJobStatus"] == "Stopped" and "TransformEndTime" in job
    with pytest.raises(ClientError) as excinfo:
        sm.stop_transform_job(TransformJobName="to-stop")
    assert _error(excinfo) == (
        "ValidationException",
        "The transform job to-stop is in status Stopped and cannot be stopped.",
    )
    with pytest.raises(ClientError) as excinfo:
        sm.stop_transform_job(TransformJobName="nope")
    assert _error(excinfo)[0] == "ValidationException"


def test_list_filters_sorts_and_pages(aws, model, holdout, emulator):
    sm = aws("sagemaker")
    emulator.fail_next_transform_job()
    names = ["mlops-eval-a", "mlops-eval-b", "other-c", "mlops-eval-d"]
    for name in names:
        sm.create_transform_job(**transform_request(name))
        time.sleep(0.01)  # distinct creation times
    for name in names:
        wait_transform(sm, name)
    newest_first = [s["TransformJobName"] for s in sm.list_transform_jobs()["TransformJobSummaries"]]
    assert newest_first == names[::-1]
    pages = sm.get_paginator("list_transform_jobs").paginate(
        NameContains="mlops-eval", SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2}
    )
    assert [s["TransformJobName"] for page in pages for s in page["TransformJobSummaries"]] == [
        "mlops-eval-a",
        "mlops-eval-b",
        "mlops-eval-d",
    ]
    failed = sm.list_transform_jobs(StatusEquals="Failed")["TransformJobSummaries"]
    assert [s["TransformJobName"] for s in failed] == ["mlops-eval-a"] and "FailureReason" in failed[0]
    created = sm.describe_transform_job(TransformJobName="other-c")["CreationTime"]
    # botocore sends whole epoch seconds: bounds a day apart, not milliseconds apart
    assert len(sm.list_transform_jobs(CreationTimeAfter=created - timedelta(days=1))["TransformJobSummaries"]) == 4
    assert sm.list_transform_jobs(CreationTimeAfter=created + timedelta(days=1))["TransformJobSummaries"] == []
    assert sm.list_transform_jobs(CreationTimeBefore=created - timedelta(days=1))["TransformJobSummaries"] == []
    assert (
        sm.list_transform_jobs(LastModifiedTimeBefore=created + timedelta(days=1), NameContains="other")[
            "TransformJobSummaries"
        ][0]["TransformJobName"]
        == "other-c"
    )


def _operator_config(name: str) -> dict[str, Any]:
    request = transform_request(name)
    request["TransformResources"]["InstanceCount"] = "1"  # templated configs carry strings; the operator casts
    request["Tags"] = [*request["Tags"], *PACKAGE_TAGS]  # what the Airflow role may create (aws:RequestTag)
    return request


def test_provider_transform_operator_waits_for_the_job(airflow_aws, aws, model, holdout):
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTransformOperator

    operator = SageMakerTransformOperator(
        task_id="transform", config=_operator_config("mlops-eval-op"), check_interval=1, aws_conn_id="aws_default"
    )
    result = operator.execute({})
    assert result["Transform"]["TransformJobStatus"] == "Completed"
    assert result["Model"]["ModelName"] == "mlops-model-ic"
    # A second run with the same name gets a timestamped one (the operator's describe finds the first).
    again = SageMakerTransformOperator(
        task_id="transform", config=_operator_config("mlops-eval-op"), check_interval=1, aws_conn_id="aws_default"
    ).execute({})
    assert again["Transform"]["TransformJobName"].startswith("mlops-eval-op-")


def test_provider_transform_operator_deferred_and_its_failure(airflow_aws, aws, model, holdout):
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTransformOperator
    from airflow.sdk.exceptions import TaskDeferred

    def deferred_event(name: str) -> tuple[Any, dict[str, Any]]:
        operator = SageMakerTransformOperator(
            task_id="transform",
            config=_operator_config(name),
            check_interval=1,
            max_attempts=30,
            deferrable=True,
            aws_conn_id="aws_default",
        )
        # The operator defers only if its first DescribeTransformJob, right after the create, finds the job still
        # InProgress; a fast job on a busy host was already over (no TaskDeferred). Held until it has deferred.
        airflow_aws.settings(hold_transform_jobs=True)
        try:
            with pytest.raises(TaskDeferred) as deferred:
                operator.execute({})
        finally:
            airflow_aws.settings(hold_transform_jobs=False)
        classpath, kwargs = deferred.value.trigger.serialize()
        from importlib import import_module

        module, _, cls = classpath.rpartition(".")
        trigger = getattr(import_module(module), cls)(**kwargs)

        async def first() -> dict[str, Any]:
            async for event in trigger.run():
                return event.payload
            raise AssertionError("no event")

        return operator, asyncio.run(first())

    operator, event = deferred_event("mlops-eval-deferred")
    assert event["status"] == "success", event
    assert operator.execute_complete({}, event)["Transform"]["TransformJobStatus"] == "Completed"

    airflow_aws.fail_next_transform_job("ClientError: injected")
    operator, event = deferred_event("mlops-eval-deferred-fails")
    assert event["status"] == "error" and "Failed" in event["message"], event
    with pytest.raises(RuntimeError, match="Error while running transform job"):
        operator.execute_complete({}, event)
    assert aws("sagemaker").describe_transform_job(TransformJobName="mlops-eval-deferred-fails")["FailureReason"] == (
        "ClientError: injected"
    )
