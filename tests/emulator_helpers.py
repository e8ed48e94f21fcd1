"""Helpers for emulator tests: put the book's dataset into emulated S3 and build the book's requests."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_emulator.storage import S3Store

from constants import ACCOUNT, DATA_BUCKET, REGION, ROLE_ARN

IC_IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
# The tag every resource of the package carries (core.tags.resource_tags): the Airflow role may Stop/Delete/Update only
# what has it (IAM aws:ResourceTag), so a job a test plants for DAG code to act on carries it too, as a run's would.
PACKAGE_TAGS = [{"Key": "mlops:created-by", "Value": "airflow-sagemaker-mlops"}]
CHANNELS = ("train", "validation", "train_lst", "validation_lst")
# The book's hyperparameters (MLE on AWS ch. 6, PART01), less num_training_samples, which is counted from the data.
BOOK_HYPERPARAMETERS = {
    "num_layers": "18",
    "image_shape": "1,28,28",
    "num_classes": "10",
    "mini_batch_size": "100",
    "epochs": "3",
    "learning_rate": "0.01",
    "top_k": "5",
    "precision_dtype": "float32",
}


def dataset_zip(tmp_root: Path, batch: str = "batch1") -> Path:
    from local_datasets.builder import build_dataset

    out = tmp_root / f"{batch}.zip"
    if not out.exists():
        build_dataset(out, batch)
    return out


def upload_zip(s3: Any, zip_path: Path, bucket: str, prefix: str, *, create_bucket: bool = True) -> int:
    """Uploads every file of the zip under s3://bucket/prefix/; returns the number of training samples."""
    if create_bucket:
        s3.create_bucket(Bucket=bucket)
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        files = {name: archive.read(name) for name in names}
    # Test set-up only: write straight into the in-process emulator's S3 (700 PUTs over HTTP cost seconds per
    # test); the upload path itself is tested over HTTP in test_upload.py.
    store = S3Store(ACCOUNT, REGION)
    for name, data in files.items():
        store.write(f"s3://{bucket}/{prefix}/{name}", data)
    return sum(1 for n in names if n.startswith("train/") and n.endswith(".png"))


def training_request(name: str, bucket: str, prefix: str, samples: int, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IC_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE_ARN,
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{bucket}/{prefix}/{channel}",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "application/x-image",
            }
            for channel in CHANNELS
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{prefix}/output"},
        "ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.p2.xlarge", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": dict(BOOK_HYPERPARAMETERS, num_training_samples=str(samples)),
        "EnableNetworkIsolation": True,
        "Tags": list(PACKAGE_TAGS),
    }
    request.update(overrides)
    return request


def tuning_request(
    name: str, bucket: str, prefix: str, samples: int, *, jobs: int = 4, parallel: int = 2, **definition: Any
) -> dict[str, Any]:
    """CreateHyperParameterTuningJob of the book's job: learning_rate and optimizer tuned, the package's tag."""
    training = training_request("unused", bucket, prefix, samples)
    static = {k: v for k, v in training["HyperParameters"].items() if k not in ("learning_rate", "optimizer")}
    job_definition = {
        "AlgorithmSpecification": training["AlgorithmSpecification"],
        "RoleArn": training["RoleArn"],
        "InputDataConfig": training["InputDataConfig"],
        "OutputDataConfig": training["OutputDataConfig"],
        "HyperParameterTuningResourceConfig": {
            "InstanceCount": 1,
            "InstanceType": "ml.p2.xlarge",
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": training["StoppingCondition"],
        "StaticHyperParameters": static,
        "EnableNetworkIsolation": True,
        **definition,
    }
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.005", "MaxValue": "0.05", "ScalingType": "Logarithmic"}
                ],
                "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "nag"]}],
                "IntegerParameterRanges": [],
            },
            "TrainingJobEarlyStoppingType": "Auto",
        },
        "TrainingJobDefinition": job_definition,
        "Tags": list(PACKAGE_TAGS),
    }


def wait_training(sm: Any, name: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sm.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"training job {name} did not finish in {timeout}s")


def wait_tuning(sm: Any, name: str, timeout: float = 90.0, watch: list | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if watch is not None:
            watch.append(job["TrainingJobStatusCounters"]["InProgress"])
        if job["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"tuning job {name} did not finish in {timeout}s")


def all_trials(sm: Any, name: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=name, **kwargs
    )
    return [summary for page in pages for summary in page["TrainingJobSummaries"]]


def completed_job(aws: Any, zip_path: Path, bucket: str, prefix: str, name: str) -> dict[str, Any]:
    """A completed image-classification job on the zip, in its own bucket: a model to start from or compare with."""
    samples = upload_zip(aws("s3"), zip_path, bucket, prefix)
    sm = aws("sagemaker")
    sm.create_training_job(**training_request(name, bucket, prefix, samples))
    job = wait_training(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job
    return job


def approved_packages(
    aws: Any, zip_path: Path, bucket: str, job_name: str, count: int, **package: Any
) -> tuple[str, list[str]]:
    """What a production deployment starts from: ``job_name`` trained on the zip, its model registered ``count``
    times, Approved, in the group ``mnist-image-classifier`` (``package``: more CreateModelPackage fields).
    Returns the model artifact's URI and the ARNs."""
    artifact = completed_job(aws, zip_path, bucket, "ch06", job_name)["ModelArtifacts"]["S3ModelArtifacts"]
    return artifact, register_approved(aws("sagemaker"), artifact, count, **package)


def register_approved(sm: Any, artifact: str, count: int = 1, **package: Any) -> list[str]:
    """``artifact`` registered ``count`` times, Approved, in the group ``mnist-image-classifier`` (created unless it
    exists; ``package``: more CreateModelPackage fields). Returns the ARNs."""
    try:
        sm.create_model_package_group(ModelPackageGroupName="mnist-image-classifier")
    except sm.exceptions.ClientError:
        pass  # already there
    return [
        sm.create_model_package(
            ModelPackageGroupName="mnist-image-classifier",
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [{"Image": IC_IMAGE, "ModelDataUrl": artifact}],
                "SupportedContentTypes": ["image/png"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            **package,
        )["ModelPackageArn"]
        for _ in range(count)
    ]


def register_package(sm: Any, job: dict[str, Any], status: str) -> str:
    """A package of the default group for the job's model, set to ``status`` as a person would."""
    from sagemaker_mlops.registry import registry_config as rc
    from sagemaker_mlops.registry import tasks as registry_tasks

    registry_tasks.ensure_group(sm, rc.build_group_request(rc.DEFAULT_GROUP, {}))
    spec = rc.PackageSpec(
        group=rc.DEFAULT_GROUP,
        image_uri=job["AlgorithmSpecification"]["TrainingImage"],
        model_data_url=job["ModelArtifacts"]["S3ModelArtifacts"],
        evaluation_s3_uri="s3://base-bucket/evaluation.json",
        training_job=job["TrainingJobName"],
        dataset_sha256="0" * 64,
        dag_id="mnist_train_deploy",
        dag_run="manual__test",
        inference_instance_type="ml.m5.xlarge",
        tags={},
    )
    arn = sm.create_model_package(**rc.build_package_request(spec))["ModelPackageArn"]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)
    return arn


def wait_endpoint(sm: Any, name: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        endpoint = sm.describe_endpoint(EndpointName=name)
        if endpoint["EndpointStatus"] not in ("Creating", "Updating"):
            return endpoint
        time.sleep(0.05)
    raise AssertionError(f"endpoint {name} did not settle in {timeout}s")


def deploy(sm: Any, model_data_url: str, name: str, image: str = IC_IMAGE) -> None:
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        EnableNetworkIsolation=True,
        PrimaryContainer={"Image": image, "ModelDataUrl": model_data_url},
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def another_runs_endpoint(
    aws: Any, tmp_path: Path, name: str = "mlops-ep-manual-20261207t070000-0123456789abcdef"
) -> str:
    """An in-service endpoint of another (test-endpoint) run: an Approved model of its own, the package's tags
    naming ``mnist_train_deploy``/``manual__victim``, never production's — what the production DAGs must refuse."""
    from sagemaker_mlops.core.tags import resource_tags

    sm = aws("sagemaker")
    artifact, _ = approved_packages(aws, dataset_zip(tmp_path), DATA_BUCKET, "mlops-train-victim", 1)
    deploy(sm, artifact, name)
    tags = resource_tags("mnist_train_deploy", "manual__victim", datetime.now(UTC))
    sm.add_tags(
        ResourceArn=sm.describe_endpoint(EndpointName=name)["EndpointArn"],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    wait_endpoint(sm, name)
    return name


def first_png(zip_path: Path, folder: str = "validation/") -> tuple[bytes, int]:
    with zipfile.ZipFile(zip_path) as archive:
        name = sorted(n for n in archive.namelist() if n.startswith(folder) and n.endswith(".png"))[0]
        return archive.read(name), int(name.split("/")[1])


def png_bytes_of(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- the re-wait tests' stub (tests/test_training_rewait.py, tests/test_tuning_rewait.py) ----------------------------
def waiter_error(job_name: str) -> dict[str, str]:
    """The event SageMakerTrigger sends when its waiter gives up (``max_attempts`` spent) on ``job_name``."""
    return {"status": "error", "message": "Waiter error: max attempts reached", "job_name": job_name}


def resumed_operator(operator_class: type, task_id: str, config: dict[str, Any]) -> Any:
    """``operator_class`` (one of the package's explained operators) configured as a deferred wait: polls every
    second, gives up after 5 attempts, on the emulator's ``aws_default`` connection."""
    return operator_class(
        task_id=task_id,
        config=config,
        aws_conn_id="aws_default",
        deferrable=True,
        check_interval=1,
        max_attempts=5,
    )


def capturing_model_and_config(sm: Any, artifact: str, model: str, config: str, destination: str) -> None:
    """A SageMaker model of ``artifact`` and an endpoint config serving it on one ml.m5.xlarge with every request
    and answer captured under ``destination`` (the production set-up the monitor tests read)."""
    sm.create_model(
        ModelName=model, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": artifact}
    )
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.xlarge"}
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": destination,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
