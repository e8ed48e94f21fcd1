"""The CreateTrainingJob request of the book's SDK v2 ``Estimator`` (chapter 6), as a pure, checked builder.

Why not the SDK: ``sagemaker`` v2 is deprecated, slow to import and makes network calls (telemetry) in ``fit()``;
v3 has no ``Estimator``. The request is small and fully determined by the book's code, so it is built here as a
dict for the provider's ``SageMakerTrainingOperator(config=...)`` and checked first, because SageMaker does few
checks up front and the SDK none (a bad spot setting is found only after the instances are requested).

Deliberate difference from ``Estimator.fit()``: no ``DebugHookConfig`` / ``ProfilerConfig``. ``fit()`` adds both
(pointing at the output path) in regions where SageMaker Debugger exists (``_validate_and_set_debugger_configs``),
so the SDK's request even differs by region. They only make SageMaker collect Debugger/profiler data under the
output path, which nothing in this project reads; leaving them out gives one request for every region (and the
local emulator), and the SDK's own ``sagemaker.workflow.airflow.training_config`` omits them too. Everything else
matches ``fit()`` key for key (tests/test_request_builders.py compares with the SDK's captured requests).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeGuard

from sagemaker_mlops.core.images import validate_image_uri
from sagemaker_mlops.core.naming import is_valid_sagemaker_name
from sagemaker_mlops.core.tags import as_tag_list, tag_errors
from sagemaker_mlops.core.validation import (
    ParamError,
    validate_bucket_name,
    validate_role_arn,
    validate_s3_prefix,
    validate_s3_uri,
)

__all__ = [
    "CHANNELS",
    "CHECKPOINT_LOCAL_PATH",
    "GPU_TRAINING_FAMILIES",
    "GPU_TRAINING_TYPES",
    "IMAGE_CONTENT_TYPE",
    "MAX_RUNTIME_LIMIT_SECONDS",
    "MODEL_CHANNEL",
    "MODEL_CONTENT_TYPE",
    "NUM_LAYERS_CHOICES",
    "OUTPUT_FOLDER",
    "SUGGESTED_TRAINING_INSTANCE_TYPES",
    "Hyperparameters",
    "TrainingSpec",
    "TrainingSpecError",
    "build_training_request",
    "output_path",
    "parse_image_shape",
    "validate_spec",
]

CHANNELS = ("train", "validation", "train_lst", "validation_lst")
"""The book's four image-format channels, in the order the SDK sends them."""
MODEL_CHANNEL = "model"
IMAGE_CONTENT_TYPE = "application/x-image"
MODEL_CONTENT_TYPE = "application/x-sagemaker-model"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"

GPU_TRAINING_TYPES = (
    "ml.p2.xlarge",
    "ml.p3.2xlarge",
    "ml.g4dn.xlarge",
    "ml.g4dn.2xlarge",
    "ml.g5.xlarge",
    "ml.g5.2xlarge",
)
"""The types the trigger form offers. Training is GPU-only for this algorithm (the AWS docs list P2, P3, G4dn, G5)."""
GPU_TRAINING_FAMILIES = tuple(dict.fromkeys(name.rsplit(".", 1)[0] for name in GPU_TRAINING_TYPES))
"""The families of those types: any size of them passes :func:`validate_spec` (``ml.p3.16xlarge`` too)."""
SUGGESTED_TRAINING_INSTANCE_TYPES = ("ml.g4dn.xlarge", "ml.g5.xlarge")
"""Substitutes for ml.p2.xlarge, which EC2 has retired and accounts often have no quota for."""
_GPU_TRAINING_RE = re.compile(rf"(?:{'|'.join(map(re.escape, GPU_TRAINING_FAMILIES))})\.\d*xlarge")

NUM_LAYERS_CHOICES = (18, 34, 50, 101, 152, 200, 20, 32, 44, 56, 110)
"""The documented network depths: the first six for large images, the last five for small ones."""
PRECISION_CHOICES = ("float32", "float16")
MAX_RUNTIME_LIMIT_SECONDS = 28 * 24 * 60 * 60
"""SageMaker's upper bound for MaxRuntimeInSeconds (28 days)."""


class TrainingSpecError(ParamError):
    """A training request cannot be built: names each bad field and the fix."""


@dataclass(frozen=True, kw_only=True)
class Hyperparameters:
    """The book's hyperparameters; ``num_training_samples`` has no default because it must be counted from the data.

    The algorithm uses it for its learning-rate schedule, and a wrong value silently hurts distributed training.
    """

    num_training_samples: int
    num_layers: int = 18
    image_shape: str = "1,28,28"
    num_classes: int = 10
    mini_batch_size: int = 100
    epochs: int = 3
    learning_rate: float = 0.01
    top_k: int | None = 5
    precision_dtype: str = "float32"

    def as_request(self) -> dict[str, str]:
        """The ``HyperParameters`` map: every value ``str()``-ed like the SDK (``"0.01"``, ``"100"``), book order."""
        values: dict[str, object] = {
            "num_training_samples": self.num_training_samples,
            "num_layers": self.num_layers,
            "image_shape": self.image_shape,
            "num_classes": self.num_classes,
            "mini_batch_size": self.mini_batch_size,
            "epochs": self.epochs,
            "learning_rate": self.learning_rate,
            "top_k": self.top_k,
            "precision_dtype": self.precision_dtype,
        }
        return {key: str(value) for key, value in values.items() if value is not None}

    def errors(self) -> list[ParamError]:
        """Every problem with these values (empty when valid), each naming the field and the fix."""
        errors: list[ParamError] = []
        for name, minimum in (("num_training_samples", 1), ("num_classes", 2), ("mini_batch_size", 1), ("epochs", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < minimum:
                fix = "count the images under train/ (one per .lst line)" if name == "num_training_samples" else None
                errors.append(
                    ParamError(name, f"{value!r} is not an integer >= {minimum}", fix or f"use an integer >= {minimum}")
                )
        if not _is_int(self.num_layers) or self.num_layers not in NUM_LAYERS_CHOICES:
            errors.append(
                ParamError(
                    "num_layers",
                    f"{self.num_layers!r} is not a supported depth",
                    f"use one of {', '.join(map(str, NUM_LAYERS_CHOICES))} (the book uses 18)",
                )
            )
        errors += _image_shape_errors(self.image_shape)
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            errors.append(ParamError("learning_rate", f"{rate!r} is not in (0, 1]", "use e.g. 0.01 (the book's value)"))
        if self.top_k is not None and (not _is_int(self.top_k) or self.top_k < 2):
            errors.append(
                ParamError("top_k", f"{self.top_k!r} is not an integer > 1", "use e.g. 5 (the book's) or None to omit")
            )
        elif self.top_k is not None and _is_int(self.num_classes) and 2 <= self.num_classes <= self.top_k:
            # A top-k accuracy over num_classes or more classes is always 1: a metric that says nothing.
            errors.append(
                ParamError(
                    "top_k",
                    f"{self.top_k} is not below num_classes ({self.num_classes}): its top-k accuracy is always 1",
                    f"use a top_k below {self.num_classes}, or leave it empty",
                )
            )
        if self.precision_dtype not in PRECISION_CHOICES:
            errors.append(
                ParamError("precision_dtype", f"{self.precision_dtype!r} is not supported", "use float32 or float16")
            )
        return errors


@dataclass(frozen=True, kw_only=True)
class TrainingSpec:
    """Everything one training job needs; defaults are the book's and the SDK v2's.

    ``model_uri`` makes it incremental training (a ``model`` channel); ``use_spot`` needs ``max_wait_seconds``;
    checkpoints go to ``checkpoint_s3_uri`` (synced from ``checkpoint_local_path`` on every instance).
    """

    job_name: str
    role_arn: str
    image_uri: str
    bucket: str
    prefix: str
    hyperparameters: Hyperparameters
    instance_type: str = "ml.p2.xlarge"
    instance_count: int = 2
    volume_size_gb: int = 30
    max_runtime_seconds: int = 86400
    network_isolation: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)
    model_uri: str | None = None
    use_spot: bool = False
    max_wait_seconds: int | None = None
    checkpoint_s3_uri: str | None = None
    checkpoint_local_path: str = CHECKPOINT_LOCAL_PATH
    data_prefix: str | None = None  # the channels' prefix (the zip's content address); None: ``prefix`` itself


def _is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool (``True`` would otherwise pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def parse_image_shape(image_shape: object, field_name: str = "image_shape") -> tuple[int, int, int]:
    """``"channels,height,width"`` (the algorithm's image_shape hyperparameter, no spaces) as three positive ints."""
    match = re.fullmatch(r"(\d+),(\d+),(\d+)", image_shape) if isinstance(image_shape, str) else None
    if match is None or 0 in (shape := tuple(map(int, match.groups()))):
        raise ParamError(
            field_name, f"{image_shape!r} is not 'channels,height,width'", "use e.g. '1,28,28' or '3,224,224'"
        )
    return shape


def _image_shape_errors(shape: object) -> list[ParamError]:
    try:
        channels, _, _ = parse_image_shape(shape)
    except ParamError as error:
        return [error]
    if channels not in (1, 3):
        return [ParamError("image_shape", f"{shape!r} has {channels} channels", "use 1 (grayscale) or 3 (RGB)")]
    return []


def _run(errors: list[ParamError], check: Callable[..., object], *args: object) -> None:
    """Run a validation.py-style check and keep its errors instead of stopping at the first."""
    try:
        check(*args)
    except ParamError as error:
        errors.extend(error.errors)


def _positive_int_error(value: object, name: str, fix: str) -> list[ParamError]:
    if _is_int(value) and value >= 1:
        return []
    return [ParamError(name, f"{value!r} is not an integer >= 1", fix)]


def validate_spec(spec: TrainingSpec) -> None:
    """Raise one :class:`TrainingSpecError` listing every problem of ``spec``; return None when it is valid."""
    errors: list[ParamError] = []
    if not is_valid_sagemaker_name(spec.job_name):
        errors.append(
            ParamError("job_name", f"{spec.job_name!r} is not a valid job name", "build it with naming.resource_name()")
        )
    _run(errors, validate_role_arn, spec.role_arn, "role_arn")
    _run(errors, validate_image_uri, spec.image_uri, "image_uri")
    _run(errors, validate_bucket_name, spec.bucket, "bucket")
    _run(errors, validate_s3_prefix, spec.prefix, "prefix")
    if spec.data_prefix is not None:
        _run(errors, validate_s3_prefix, spec.data_prefix, "data_prefix")
    if not isinstance(spec.hyperparameters, Hyperparameters):
        errors.append(ParamError("hyperparameters", "is not a Hyperparameters", "pass Hyperparameters(...)"))
    else:
        errors += spec.hyperparameters.errors()

    if not isinstance(spec.instance_type, str) or not _GPU_TRAINING_RE.fullmatch(spec.instance_type):
        errors.append(
            ParamError(
                "instance_type",
                f"{spec.instance_type!r} is not a GPU training type of this algorithm"
                f" (families {', '.join(f + '.*' for f in GPU_TRAINING_FAMILIES)})",
                f"use {' or '.join(SUGGESTED_TRAINING_INSTANCE_TYPES)} (the book's ml.p2.xlarge often has no quota)",
            )
        )
    errors += _positive_int_error(spec.instance_count, "instance_count", "use 1 or more (the book uses 2)")
    errors += _positive_int_error(spec.volume_size_gb, "volume_size_gb", "use 1 or more GB (the SDK default is 30)")
    runtime = spec.max_runtime_seconds
    errors += _positive_int_error(runtime, "max_runtime_seconds", "use seconds >= 1 (the SDK default is 86400)")
    if _is_int(runtime) and runtime > MAX_RUNTIME_LIMIT_SECONDS:
        errors.append(
            ParamError("max_runtime_seconds", f"{runtime} exceeds 28 days", f"use at most {MAX_RUNTIME_LIMIT_SECONDS}")
        )
    if not isinstance(spec.network_isolation, bool):
        errors.append(ParamError("network_isolation", f"{spec.network_isolation!r} is not a bool", "pass True/False"))
    errors += tag_errors(spec.tags, "tags")

    errors += _spot_errors(spec)
    if spec.model_uri is not None:
        _run(errors, validate_s3_uri, spec.model_uri, "model_uri")
    if spec.checkpoint_s3_uri is not None:
        _run(errors, validate_s3_uri, spec.checkpoint_s3_uri, "checkpoint_s3_uri")
    local = spec.checkpoint_local_path
    if not isinstance(local, str) or not local.startswith("/") or any(ch.isspace() for ch in local):
        errors.append(
            ParamError("checkpoint_local_path", f"{local!r} is not an absolute path", f"use {CHECKPOINT_LOCAL_PATH!r}")
        )
    if errors:
        raise TrainingSpecError.combine(errors)


def _spot_errors(spec: TrainingSpec) -> list[ParamError]:
    """Spot rules the SDK does not check and SageMaker checks only after the instances are requested: a max wait is
    for spot only, spot needs one, and it must cover the max runtime."""
    wait, runtime = spec.max_wait_seconds, spec.max_runtime_seconds
    if not isinstance(spec.use_spot, bool):
        return [ParamError("use_spot", f"{spec.use_spot!r} is not a bool", "pass True or False")]
    if not spec.use_spot:
        if wait is not None:
            return [
                ParamError(
                    "max_wait_seconds",
                    f"is set ({wait!r}) but use_spot is False; SageMaker accepts a max wait only for spot training",
                    "set use_spot=True or leave max_wait_seconds empty",
                )
            ]
        return []
    if wait is None:
        return [
            ParamError(
                "max_wait_seconds",
                "is required with use_spot=True (how long to wait for spot capacity plus the run time)",
                f"set it >= max_runtime_seconds ({runtime!r}); the book uses 3600 with a 1800 s run",
            )
        ]
    errors = _positive_int_error(wait, "max_wait_seconds", "use seconds >= max_runtime_seconds")
    if not errors and _is_int(runtime) and wait < runtime:
        errors.append(
            ParamError(
                "max_wait_seconds",
                f"{wait} is less than max_runtime_seconds ({runtime}); SageMaker requires max wait >= max runtime",
                f"raise max_wait_seconds to at least {runtime} or lower max_runtime_seconds",
            )
        )
    return errors


# Under the run's prefix, SageMaker writes each training job's model to OUTPUT_FOLDER/<job name>/output/.
OUTPUT_FOLDER = "output"


def output_path(bucket: str, prefix: str) -> str:
    """``s3://<bucket>/<prefix>/output``: the estimator's ``output_path`` in the book (``map_path("output")``)."""
    return f"s3://{bucket}/{prefix}/{OUTPUT_FOLDER}"


def _s3_channel(name: str, uri: str, content_type: str) -> dict[str, object]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
        "ContentType": content_type,
    }


def build_training_request(spec: TrainingSpec) -> dict[str, object]:
    """The CreateTrainingJob request that ``Estimator(...).fit(channels)`` sends for the book's code (part 1 and 2).

    Validates ``spec`` first (:func:`validate_spec`). For incremental training the ``model`` channel comes last
    with ``InputMode: File``; with spot, ``EnableManagedSpotTraining`` and ``MaxWaitTimeInSeconds`` are added
    (both omitted otherwise, like the SDK); ``CheckpointConfig`` only when a checkpoint URI is given.
    """
    validate_spec(spec)
    base = f"s3://{spec.bucket}/{spec.data_prefix or spec.prefix}"
    channels = [_s3_channel(name, f"{base}/{name}", IMAGE_CONTENT_TYPE) for name in CHANNELS]
    if spec.model_uri is not None:
        model_channel = _s3_channel(MODEL_CHANNEL, spec.model_uri, MODEL_CONTENT_TYPE)
        model_channel["InputMode"] = "File"
        channels.append(model_channel)
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": spec.max_runtime_seconds}
    if spec.use_spot and spec.max_wait_seconds is not None:
        stopping["MaxWaitTimeInSeconds"] = spec.max_wait_seconds

    request: dict[str, object] = {
        "TrainingJobName": spec.job_name,
        "AlgorithmSpecification": {"TrainingImage": spec.image_uri, "TrainingInputMode": "File"},
        "RoleArn": spec.role_arn,
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": output_path(spec.bucket, spec.prefix)},
        "ResourceConfig": {
            "InstanceCount": spec.instance_count,
            "InstanceType": spec.instance_type,
            "VolumeSizeInGB": spec.volume_size_gb,
        },
        "StoppingCondition": stopping,
        "HyperParameters": spec.hyperparameters.as_request(),
        "EnableNetworkIsolation": spec.network_isolation,
    }
    if spec.use_spot:
        request["EnableManagedSpotTraining"] = True
    if spec.checkpoint_s3_uri is not None:
        request["CheckpointConfig"] = {"S3Uri": spec.checkpoint_s3_uri, "LocalPath": spec.checkpoint_local_path}
    if spec.tags:
        request["Tags"] = as_tag_list(spec.tags)
    return request
