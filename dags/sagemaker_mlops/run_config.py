"""The run's configuration: trigger-form Params, Airflow Variables as account defaults, validated in one place.

Pointing the package at a real account takes only the ``aws_default`` connection and a few Variables
(``sagemaker_mlops_bucket``, ``sagemaker_mlops_incremental_bucket`` for pipeline 2, ``sagemaker_mlops_role_arn``,
optionally ``sagemaker_mlops_region``); every Param left empty falls back to them. :func:`resolve` turns Params + Variables into a :class:`RunConfig` — or raises one
:class:`ParamError` listing every problem — before anything is created or billed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sagemaker_mlops import deploy_config, images, naming, training_config, validation
from sagemaker_mlops.validation import ParamError

VARIABLE_PREFIX = "sagemaker_mlops_"
BOOK_BATCH1_URL = "https://bit.ly/37zmQeb"
BOOK_BATCH2_URL = "https://bit.ly/3KyonQE"
# The files the book's short links point at (raw.githubusercontent.com/.../chapter06/batch1.zip, batch2.zip).
BOOK_DATASET_FILES = {BOOK_BATCH1_URL: "batch1.zip", BOOK_BATCH2_URL: "batch2.zip"}
DATASET_MIRROR_VARIABLE = f"{VARIABLE_PREFIX}dataset_mirror"
GPU_TRAINING_TYPES = ["ml.p2.xlarge", "ml.p3.2xlarge", "ml.g4dn.xlarge", "ml.g4dn.2xlarge", "ml.g5.xlarge",
                      "ml.g5.2xlarge"]
INFERENCE_TYPES = ["ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge", "ml.g4dn.xlarge"]
MAX_RUNTIME_CAP = 28 * 24 * 3600  # CreateTrainingJob's limit
MAX_WAIT_CAP = 2 * MAX_RUNTIME_CAP  # the form's maximum for a spot job's max wait


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything the run's tasks need, JSON-friendly so it travels through XCom unchanged."""

    dag_id: str
    run_id: str
    aws_conn_id: str
    region: str
    bucket: str
    prefix: str
    create_bucket: bool
    role_arn: str
    image_uri: str
    dataset_url: str
    dataset_sha256: str | None
    training_instance_type: str
    training_instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    network_isolation: bool
    hyperparameters: dict[str, Any]
    inference_instance_type: str
    inference_instance_count: int
    smoke_sample_size: int
    min_accuracy: float
    keep_endpoint: bool
    expires_at: str
    names: dict[str, str]
    tags: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        return cls(**data)

    def hyperparameters_for(self, num_training_samples: int) -> training_config.Hyperparameters:
        return training_config.Hyperparameters(num_training_samples=num_training_samples, **self.hyperparameters)


def _param(default: Any, type_: Any, title: str, description: str, **schema: Any) -> Any:
    from airflow.sdk import Param

    return Param(default, type=type_, title=title, description=description, **schema)


def common_params(*, dataset_url: str, prefix: str, bucket_variable: str = f"{VARIABLE_PREFIX}bucket") -> dict[str, Any]:
    """The trigger form shared by both pipelines (the book's values as defaults)."""
    return {
        "dataset_url": _param(dataset_url, "string", "Dataset URL",
                              "Zip in the book's layout (train/, validation/, train_lst/, validation_lst/, test/). "
                              "Streamed to disk, never held in memory.", minLength=8),
        "dataset_sha256": _param(None, ["null", "string"], "Dataset SHA-256",
                                 "Optional: the zip's SHA-256; the run stops before uploading when it differs.",
                                 pattern="^[0-9a-fA-F]{64}$"),
        "bucket": _param(None, ["null", "string"], "S3 bucket",
                         f"Bucket for inputs and outputs. Empty: Variable {bucket_variable}."),
        "s3_prefix": _param(prefix, "string", "S3 prefix", "Key prefix for this run's channels and outputs.",
                            minLength=1),
        "create_bucket": _param(True, "boolean", "Create the bucket if missing",
                                "Created with Block Public Access and default encryption. Never emptied or deleted."),
        "role_arn": _param(None, ["null", "string"], "SageMaker execution role ARN",
                           f"Role SageMaker assumes. Empty: Variable {VARIABLE_PREFIX}role_arn."),
        "region": _param(None, ["null", "string"], "AWS region",
                         f"Empty: Variable {VARIABLE_PREFIX}region, else the AWS connection's region."),
        "training_image": _param(None, ["null", "string"], "Training image URI",
                                 "Empty: the region's built-in image-classification:1 image."),
        "training_instance_type": _param("ml.p2.xlarge", "string", "Training instance type",
                                         "GPU types only (the algorithm's P2, P3, G4dn, G5). ml.p2 is retired in many "
                                         "accounts: ml.g4dn.xlarge or ml.g5.xlarge are supported substitutes.",
                                         enum=GPU_TRAINING_TYPES),
        "training_instance_count": _param(2, "integer", "Training instance count",
                                          "Distributed training across this many instances.", minimum=1, maximum=20),
        "volume_size_gb": _param(30, "integer", "Training volume (GB)", "EBS volume per instance.",
                                 minimum=1, maximum=16384),
        "max_runtime_seconds": _param(86400, "integer", "Max runtime (s)",
                                      "SageMaker stops the job after this long.", minimum=60, maximum=MAX_RUNTIME_CAP),
        "network_isolation": _param(True, "boolean", "Network isolation",
                                    "Run the training and inference containers without network access."),
        "num_layers": _param(18, "integer", "num_layers", "Network depth.",
                             enum=list(training_config.NUM_LAYERS_CHOICES)),
        "image_shape": _param("1,28,28", "string", "image_shape", "channels,height,width of the input.",
                              pattern=r"^[13],\d+,\d+$"),
        "num_classes": _param(10, "integer", "num_classes", "Number of labels.", minimum=2),
        "mini_batch_size": _param(100, "integer", "mini_batch_size", "Batch size.", minimum=1),
        "epochs": _param(3, "integer", "epochs", "Training passes over the data.", minimum=1, maximum=1000),
        "learning_rate": _param(0.01, "number", "learning_rate", "SGD learning rate.", exclusiveMinimum=0, maximum=1),
        "top_k": _param(5, "integer", "top_k", "Report top-k accuracy.", minimum=2),
        "precision_dtype": _param("float32", "string", "precision_dtype", "Training precision.",
                                  enum=list(training_config.PRECISION_CHOICES)),
        "inference_instance_type": _param("ml.m5.xlarge", "string", "Inference instance type",
                                          "Instance type of the test endpoint.", enum=INFERENCE_TYPES),
        "inference_instance_count": _param(1, "integer", "Inference instance count", "Endpoint instances.",
                                           minimum=1, maximum=10),
        "smoke_sample_size": _param(50, "integer", "Smoke-test sample size",
                                    "Labeled validation images sent to the endpoint to measure accuracy.",
                                    minimum=1, maximum=1000),
        "min_accuracy": _param(0.7, "number", "Minimum smoke-test accuracy",
                               "The run fails (and still tears everything down) below this.", minimum=0, maximum=1),
        "keep_endpoint": _param(False, "boolean", "Keep the endpoint",
                                "Skip the teardown of endpoint, endpoint config and model (they keep billing!)."),
        "endpoint_ttl_hours": _param(24, "integer", "Expiry tag (hours)",
                                     "Resources are tagged mlops:expires-at = now + this, for janitors.",
                                     minimum=1, maximum=24 * 30),
    }


def _pick(params: Mapping[str, Any], name: str, variable: Callable[[str], str | None],
          variable_name: str | None = None) -> Any:
    value = params.get(name)
    if value in (None, ""):
        value = variable(variable_name or VARIABLE_PREFIX + name)
    return value


def mirrored_dataset_url(url: Any, mirror: str | None) -> Any:
    """The form's dataset URL, with a book default swapped for the mirror's file of the same name.

    Why: the trigger form defaults to the book's links, which a machine without internet (the local emulator,
    ``make airflow``) cannot fetch. Setting the Variable ``sagemaker_mlops_dataset_mirror`` (e.g. to the local
    dataset server's ``http://127.0.0.1:8765``) makes those defaults resolve to ``<mirror>/batch1.zip`` /
    ``batch2.zip``; any other URL is kept, and without the Variable (a real account) the book's URLs stay.
    """
    if not mirror or url not in BOOK_DATASET_FILES:
        return url
    base = validation.validate_url(mirror, DATASET_MIRROR_VARIABLE)
    return f"{base.rstrip('/')}/{BOOK_DATASET_FILES[url]}"


def resolve(params: Mapping[str, Any], *, dag_id: str, run_id: str, aws_conn_id: str,
            variable: Callable[[str], str | None], connection_region: Callable[[], str | None],
            now: datetime | None = None, bucket_variable: str | None = None) -> RunConfig:
    """Params + Variables → a validated RunConfig, or one ParamError listing every problem (nothing is created)."""
    errors: list[ParamError] = []

    def check(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ParamError as error:
            errors.append(error)
            return None

    region = _pick(params, "region", variable) or connection_region()
    if not region:
        errors.append(ParamError("region", "no region in the form, the Variable or the AWS connection",
                                 f"set the region field, Variable {VARIABLE_PREFIX}region, or the connection's "
                                 "region_name extra"))
    else:
        region = check(lambda: validation.validate_region(region))
    bucket = check(lambda: validation.validate_bucket_name(_pick(params, "bucket", variable, bucket_variable),
                                                           "bucket"))
    prefix = check(lambda: validation.validate_s3_prefix(params.get("s3_prefix"), "s3_prefix"))
    role_arn = check(lambda: validation.validate_role_arn(_pick(params, "role_arn", variable), "role_arn"))
    url = check(lambda: validation.validate_url(
        mirrored_dataset_url(params.get("dataset_url"), variable(DATASET_MIRROR_VARIABLE)), "dataset_url"))
    sha = check(lambda: validation.validate_sha256(params.get("dataset_sha256"), "dataset_sha256"))
    image = None
    if region:
        image = check(lambda: images.training_image_uri(region, params.get("training_image") or None))
    hyper = {name: params[name] for name in ("num_layers", "image_shape", "num_classes", "mini_batch_size", "epochs",
                                             "learning_rate", "top_k", "precision_dtype")}
    errors += training_config.Hyperparameters(num_training_samples=1, **hyper).errors()
    for name in ("training_instance_count", "volume_size_gb", "max_runtime_seconds", "inference_instance_count",
                 "smoke_sample_size"):
        if not isinstance(params.get(name), int) or isinstance(params.get(name), bool) or params[name] < 1:
            errors.append(ParamError(name, f"{params.get(name)!r} is not a positive integer", "use an integer >= 1"))
    instance_type = params.get("training_instance_type", "")
    if not training_config._GPU_TRAINING_RE.fullmatch(str(instance_type)):
        errors.append(ParamError("training_instance_type", f"{instance_type!r} is not a GPU type the built-in "
                                 "image-classification algorithm trains on",
                                 "use ml.g4dn.xlarge or ml.g5.xlarge (or ml.p2/ml.p3 where your account has them)"))
    min_accuracy = params.get("min_accuracy")
    if not isinstance(min_accuracy, (int, float)) or not 0 <= min_accuracy <= 1:
        errors.append(ParamError("min_accuracy", f"{min_accuracy!r} is not in [0, 1]", "use e.g. 0.8"))
    if errors:
        raise ParamError.combine(errors)

    now = now or datetime.now(timezone.utc)
    expires = now + timedelta(hours=int(params.get("endpoint_ttl_hours") or 24))
    kinds = {"job": "train", "model": "model", "base_model": "basemodel", "endpoint_config": "epc", "endpoint": "ep"}
    names = {key: naming.resource_name(naming.NAME_PREFIX, kind, dag_id, run_id) for key, kind in kinds.items()}
    return RunConfig(
        dag_id=dag_id, run_id=run_id, aws_conn_id=aws_conn_id, region=region, bucket=bucket, prefix=prefix,
        create_bucket=bool(params.get("create_bucket")), role_arn=role_arn, image_uri=image, dataset_url=url,
        dataset_sha256=sha, training_instance_type=instance_type,
        training_instance_count=params["training_instance_count"], volume_size_gb=params["volume_size_gb"],
        max_runtime_seconds=params["max_runtime_seconds"], network_isolation=bool(params.get("network_isolation")),
        hyperparameters=hyper, inference_instance_type=params["inference_instance_type"],
        inference_instance_count=params["inference_instance_count"], smoke_sample_size=params["smoke_sample_size"],
        min_accuracy=float(min_accuracy), keep_endpoint=bool(params.get("keep_endpoint")),
        expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"), names=names,
        tags=deploy_config.resource_tags(dag_id, run_id, expires),
    )


def incremental_params() -> dict[str, Any]:
    """Pipeline 2's extra form fields: the base model, managed spot and checkpoints (the book's part 2 values)."""
    return {
        "base_model_uri": _param(None, ["null", "string"], "Base model S3 URI",
                                 "model.tar.gz to start from. Empty: base_training_job, else the latest model "
                                 "Asset (pipeline 1's, or a promoted pipeline 2 model)."),
        "base_training_job": _param(None, ["null", "string"], "Base training job",
                                    "A completed training job whose model to start from (read like Estimator.attach)."),
        "use_spot": _param(True, "boolean", "Managed spot training", "Train on spot capacity (cheaper, can be "
                                                                     "interrupted; resumes from checkpoints)."),
        "max_runtime_seconds": _param(1800, "integer", "Max runtime (s)", "SageMaker stops the job after this long.",
                                      minimum=60, maximum=MAX_RUNTIME_CAP),
        "max_wait_seconds": _param(3600, "integer", "Max wait (s)",
                                   "Spot: runtime plus time waiting for capacity; must be >= max runtime.",
                                   minimum=60, maximum=MAX_WAIT_CAP),
        "resume_checkpoint_uri": _param(None, ["null", "string"], "Resume from checkpoints",
                                        "Checkpoint S3 URI of an interrupted earlier run to continue from. Empty: "
                                        "s3://<bucket>/<job name>/checkpoints."),
        "min_improvement": _param(0.0, "number", "Minimum improvement to promote",
                                  "Publish the new model only if its accuracy >= the base model's + this, on the "
                                  "same labeled sample.", minimum=0, maximum=1),
    }
