"""The image-classification algorithm's own limits that the params and the counted dataset already decide, checked
before CreateTrainingJob; and the fix for a job that still fails on one.

SageMaker's API accepts any hyperparameter strings: the algorithm reads them only once its instances are up, so a
job that breaks one of its rules is created, billed for its start-up, and fails. The rules (SageMaker Developer
Guide, "Image Classification Hyperparameters") and where each is checked:

* ``mini_batch_size`` <= the training images: the algorithm fails with "The number of input images must be bigger
  or equal to the mini_batch_size" — :func:`dataset_errors`, called where the dataset is counted (``download_dataset``,
  before the upload). A tuned mini_batch_size range is capped at the training images by the tuning request.
* ``num_classes`` >= 2, ``epochs`` >= 1, ``learning_rate`` in (0, 1], ``num_layers`` a documented depth,
  ``image_shape`` 1 or 3 channels, ``top_k`` > 1 and < ``num_classes`` (a top-k accuracy over every class is always
  1), ``precision_dtype``: :meth:`training_config.Hyperparameters.errors`, in the run's set-up.
* labels in [0, num_classes) and every image at least image_shape's height x width: the dataset's layout check.
* augmentation_type, lr_scheduler_step, checkpoint_frequency, resize: not sent (the book's job sets none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemaker_mlops.core.validation import ParamError

_TUNED_BY_FORM = ("mini_batch_size",)
"""Hyperparameters pipeline 3's form can tune (``tune_<name>_min``/``_max``): their fixed value is not sent."""


def tuned_names(params: Mapping[str, Any]) -> frozenset[str]:
    """The hyperparameters a tuning form tunes (both ends of its range set); empty for pipelines 1 and 2."""
    return frozenset(
        name
        for name in _TUNED_BY_FORM
        if params.get(f"tune_{name}_min") is not None and params.get(f"tune_{name}_max") is not None
    )


def dataset_errors(
    hyperparameters: Mapping[str, Any], num_training_samples: int, tuned: frozenset[str] = frozenset()
) -> list[ParamError]:
    """The algorithm's rules that need the counted dataset (empty when it fits), each naming the field and the fix."""
    errors: list[ParamError] = []
    batch = hyperparameters.get("mini_batch_size")
    if "mini_batch_size" not in tuned and isinstance(batch, int) and batch > num_training_samples:
        errors.append(
            ParamError(
                "mini_batch_size",
                f"{batch} is more than the dataset's {num_training_samples} training images; the algorithm fails "
                "the job once its instances are up ('The number of input images must be bigger or equal to the "
                "mini_batch_size')",
                f"lower mini_batch_size to at most {num_training_samples}, or use a dataset with at least {batch} "
                "training images",
            )
        )
    return errors


def check_dataset(
    hyperparameters: Mapping[str, Any], num_training_samples: int, tuned: frozenset[str] = frozenset()
) -> None:
    """Raises one ParamError listing :func:`dataset_errors`; returns None when the dataset fits the algorithm."""
    errors = dataset_errors(hyperparameters, num_training_samples, tuned)
    if errors:
        raise ParamError.combine(errors)


# A FailureReason's text -> what to change. SageMaker reports the algorithm's own message ("ClientError: ...").
_FIXES = (
    ("mini_batch_size", "lower mini_batch_size to at most the number of training images, or add training images"),
    ("image_shape", "use an image_shape no larger than the smallest image, or larger images"),
    ("num_classes", "set num_classes above the largest label in the .lst files (labels are 0..num_classes-1)"),
    (".lst", "fix the .lst files named above (index<TAB>label<TAB>path, one line per image)"),
    ("hyperparameter", "fix the hyperparameter named above in the trigger form"),
    ("CapacityError", "try another training_instance_type or region, or later"),
    ("ResourceLimitExceeded", "request a higher quota (Service Quotas) or use fewer or smaller instances"),
    ("AccessDenied", "give the SageMaker execution role (Variable sagemaker_mlops_role_arn) access to the bucket"),
)


def failure_fix(reason: str | None) -> str:
    """What to change for a job that failed with ``reason`` (its FailureReason); a generic hint when unknown."""
    for needle, fix in _FIXES:
        if needle.lower() in (reason or "").lower():
            return f"Fix: {fix}, then trigger a new run."
    return "Fix: read the job's CloudWatch log (the task's log copies its first lines), then trigger a new run."
