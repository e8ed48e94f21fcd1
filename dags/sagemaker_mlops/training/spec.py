"""This run's training job as a :class:`TrainingSpec`, from its :class:`RunConfig`, and the training request's
checks in the trigger form's field names: the run's resolver and the incremental pipeline's base-model check call
:func:`check_training_spec`; the training tasks build their request from :func:`training_spec`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.training import training_config

MAX_WAIT_CAP = 2 * training_config.MAX_RUNTIME_LIMIT_SECONDS  # the form's maximum for a spot job's max wait
# Form field for each TrainingSpec field whose name differs, so a builder's error names what the user types into.
FORM_FIELDS = {
    "instance_type": "training_instance_type",
    "instance_count": "training_instance_count",
    "prefix": "s3_prefix",
    "image_uri": "training_image",
    "model_uri": "base_model_uri",
    "checkpoint_s3_uri": "resume_checkpoint_uri",
    "training_image_uri": "training_image",
}


def hyperparameters_for(cfg: RunConfig, num_training_samples: int) -> training_config.Hyperparameters:
    """The run's hyperparameters with the dataset's sample count."""
    return training_config.Hyperparameters(num_training_samples=num_training_samples, **cfg.hyperparameters)


def training_spec(
    cfg: RunConfig,
    num_training_samples: int,
    incremental: Mapping[str, Any] | None = None,
    data_prefix: str | None = None,
) -> training_config.TrainingSpec:
    """This run's training job; ``incremental`` (pipeline 2) adds the base model, spot and checkpoints;
    ``data_prefix``: where the upload put this run's zip (its content address), read by the channels."""
    incremental = incremental or {}
    return training_config.TrainingSpec(
        job_name=cfg.names["job"],
        role_arn=cfg.role_arn,
        image_uri=cfg.image_uri,
        bucket=cfg.bucket,
        prefix=cfg.prefix,
        hyperparameters=hyperparameters_for(cfg, num_training_samples),
        instance_type=cfg.training_instance_type,
        instance_count=cfg.training_instance_count,
        volume_size_gb=cfg.volume_size_gb,
        max_runtime_seconds=cfg.max_runtime_seconds,
        network_isolation=cfg.network_isolation,
        tags=cfg.tags,
        model_uri=incremental.get("model_uri"),
        use_spot=bool(incremental.get("use_spot")),
        max_wait_seconds=incremental.get("max_wait_seconds"),
        checkpoint_s3_uri=incremental.get("checkpoint_s3_uri"),
        data_prefix=data_prefix,
    )


def as_form_fields(error: ParamError) -> list[ParamError]:
    """A builder's errors, each under the trigger-form field the user changes (``prefix`` → ``s3_prefix``)."""
    return [ParamError(FORM_FIELDS.get(one.field, one.field), one.problem, one.fix) for one in error.errors]


def check_training_spec(spec: training_config.TrainingSpec) -> None:
    """:func:`training_config.validate_spec` (instance, spot, name and hyperparameter rules), in form fields; run
    with a placeholder sample count before the dataset is counted, so those errors come before any spend."""
    try:
        training_config.validate_spec(spec)
    except ParamError as error:
        raise ParamError.combine(as_form_fields(error)) from None
