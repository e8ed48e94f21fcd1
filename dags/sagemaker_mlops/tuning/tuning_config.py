"""The CreateHyperParameterTuningJob request of the book's ``HyperparameterTuner`` (max_jobs=20, max_parallel_jobs=3),
as a pure, checked builder beside :mod:`training_config`.

The training part is :func:`training_config.build_training_request` reshaped the way the SDK v2 reshapes its
``Estimator`` for a tuner: ``TrainingJobName`` and ``Tags`` leave the definition (tags go on the tuning job, which
AWS copies onto every training job it launches), ``ResourceConfig`` becomes ``HyperParameterTuningResourceConfig``
and ``HyperParameters`` becomes ``StaticHyperParameters`` without the tuned names. Everything else matches the SDK's
request key for key (tests/test_tuning_config.py compares with ``tests/fixtures/sdk_requests/tuning_book.json``).

The ranges are the algorithm's own (SageMaker guide, "Tune an image classification model"): every range is checked
against those limits here, before anything is billed; SageMaker itself would reject some only at run time, after
the first training jobs failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sagemaker_mlops.core import naming
from sagemaker_mlops.core.tags import as_tag_list
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.training.training_config import TrainingSpec, build_training_request

__all__ = [
    "CATEGORICAL_CHOICES",
    "MAX_TUNING_JOB_NAME_LENGTH",
    "OBJECTIVE_METRIC",
    "OBJECTIVE_TYPE",
    "TUNABLE_LIMITS",
    "CategoricalRange",
    "NumericRange",
    "TuningSpec",
    "TuningSpecError",
    "build_tuning_request",
    "tuning_job_name",
    "validate_spec",
]

OBJECTIVE_METRIC = "validation:accuracy"
OBJECTIVE_TYPE = "Maximize"
MAX_TUNING_JOB_NAME_LENGTH = 32
"""botocore's HyperParameterTuningJobName: at most 32 characters (AWS appends ``-<NNN>-<8 hex>`` for each trial)."""

TUNABLE_LIMITS: dict[str, tuple[Literal["continuous", "integer"], float, float]] = {
    "beta_1": ("continuous", 1e-6, 0.999),
    "beta_2": ("continuous", 1e-6, 0.999),
    "eps": ("continuous", 1e-8, 1.0),
    "gamma": ("continuous", 1e-8, 0.999),
    "learning_rate": ("continuous", 1e-6, 0.5),
    "mini_batch_size": ("integer", 8, 512),
    "momentum": ("continuous", 0.0, 0.999),
    "weight_decay": ("continuous", 0.0, 0.999),
}
"""The guide's recommended ranges per tunable hyperparameter: a range must lie inside them."""
CATEGORICAL_CHOICES = {"optimizer": ("sgd", "adam", "rmsprop", "nag")}
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
STRATEGIES = ("Bayesian", "Random")
"""Hyperband and Grid exist too; Grid takes no continuous range and Hyperband needs a resource-based algorithm."""
EARLY_STOPPING_TYPES = ("Auto", "Off")
MAX_TRAINING_JOBS_LIMIT = 500
"""AWS's default quota "Number of training jobs per tuning job" (not in botocore's model)."""
MAX_PARALLEL_LIMIT = 10
"""AWS's default "Number of parallel training jobs per hyperparameter tuning job" (can be raised to 100 through
Service Quotas; the preflight reads the account's value)."""


class TuningSpecError(ParamError):
    """A tuning request cannot be built: names each bad field and the fix."""


@dataclass(frozen=True)
class NumericRange:
    """A continuous (float) or integer range; ``scaling`` as the API's ScalingType."""

    name: str
    min_value: float
    max_value: float
    scaling: str = "Auto"

    @property
    def kind(self) -> str:
        return TUNABLE_LIMITS.get(self.name, ("continuous", 0, 0))[0]

    def as_request(self) -> dict[str, str]:
        """Values ``str()``-ed like the SDK (``"0.001"``, ``"16"``)."""
        cast = int if self.kind == "integer" else float
        return {
            "Name": self.name,
            "MinValue": str(cast(self.min_value)),
            "MaxValue": str(cast(self.max_value)),
            "ScalingType": self.scaling,
        }


@dataclass(frozen=True)
class CategoricalRange:
    name: str
    values: tuple[str, ...]

    def as_request(self) -> dict[str, object]:
        return {"Name": self.name, "Values": list(self.values)}


Range = NumericRange | CategoricalRange


@dataclass(frozen=True, kw_only=True)
class TuningSpec:
    """One tuning job: the training definition (``training.job_name`` is ignored) plus ranges and limits."""

    job_name: str
    training: TrainingSpec
    ranges: Sequence[Range] = field(default_factory=tuple)
    max_jobs: int = 20
    max_parallel_jobs: int = 3
    strategy: str = "Bayesian"
    early_stopping: str = "Auto"


def tuning_job_name(dag_id: str, run_id: str) -> str:
    """``mlops-hpo-<run hint>-<token>``, deterministic per run and within the 32-character limit."""
    return naming.resource_name(naming.NAME_PREFIX, "hpo", dag_id, run_id, max_length=MAX_TUNING_JOB_NAME_LENGTH)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count_errors(value: object, field_name: str, limit: int, fix: str) -> list[ParamError]:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= limit:
        return []
    return [ParamError(field_name, f"{value!r} is not an integer in 1..{limit}", fix)]


def _numeric_errors(one: NumericRange, num_training_samples: int) -> list[ParamError]:
    field_name = f"tune_{one.name}"
    kind, low, high = TUNABLE_LIMITS[one.name]
    lo, hi = one.min_value, one.max_value
    if not (_is_number(lo) and _is_number(hi)):
        return [
            ParamError(
                field_name, f"[{lo!r}, {hi!r}] are not two numbers", f"give [min, max] within [{low:g}, {high:g}]"
            )
        ]
    errors = []
    if kind == "integer" and not (float(lo).is_integer() and float(hi).is_integer()):
        errors.append(ParamError(field_name, f"[{lo!r}, {hi!r}] are not integers", "give whole numbers"))
    if not low <= lo < hi <= high:
        errors.append(
            ParamError(
                field_name,
                f"[{lo:g}, {hi:g}] is not a range inside the algorithm's [{low:g}, {high:g}] with min < max",
                f"give min < max within [{low:g}, {high:g}] (or fix the value as a static hyperparameter)",
            )
        )
    if one.scaling not in SCALING_TYPES:
        errors.append(ParamError(field_name, f"scaling {one.scaling!r} is unknown", f"use one of {SCALING_TYPES}"))
    elif one.scaling in ("Logarithmic", "ReverseLogarithmic") and lo <= 0:
        errors.append(ParamError(field_name, f"{one.scaling} scaling needs min > 0, got {lo:g}", "raise min above 0"))
    if one.name == "mini_batch_size" and _is_number(hi) and hi > num_training_samples:
        errors.append(
            ParamError(
                field_name,
                f"max {hi:g} exceeds the {num_training_samples} training samples (the algorithm fails a job whose "
                "mini_batch_size is larger than the training set)",
                f"use max <= {num_training_samples}",
            )
        )
    return errors


def _range_errors(ranges: Sequence[object], num_training_samples: int) -> list[ParamError]:
    errors: list[ParamError] = []
    seen: set[str] = set()
    for one in ranges:
        name = getattr(one, "name", None)
        if name in seen:
            errors.append(ParamError(f"tune_{name}", "is given twice", "give one range per hyperparameter"))
            continue
        seen.add(str(name))
        if isinstance(one, NumericRange) and name in TUNABLE_LIMITS:
            errors += _numeric_errors(one, num_training_samples)
        elif isinstance(one, CategoricalRange) and name in CATEGORICAL_CHOICES:
            choices = CATEGORICAL_CHOICES[name]
            values = tuple(one.values)
            if not values or len(set(values)) != len(values) or not set(values) <= set(choices):
                errors.append(
                    ParamError(
                        f"tune_{name}",
                        f"{list(values)!r} is not a non-empty list of distinct values of {list(choices)}",
                        f"choose among {', '.join(choices)}",
                    )
                )
        else:
            tunable = sorted([*TUNABLE_LIMITS, *CATEGORICAL_CHOICES])
            errors.append(
                ParamError(
                    f"tune_{name}",
                    f"{name!r} is not a tunable hyperparameter of image-classification (as {type(one).__name__})",
                    f"tune only {', '.join(tunable)}",
                )
            )
    if not ranges:
        errors.append(ParamError("ranges", "no hyperparameter is tuned", "give at least one range"))
    return errors


def validate_spec(spec: TuningSpec) -> None:
    """Raise one :class:`TuningSpecError` listing every problem of ``spec`` (the training definition's too)."""
    errors: list[ParamError] = []
    name = spec.job_name
    if not (naming.is_valid_sagemaker_name(name) and len(name) <= MAX_TUNING_JOB_NAME_LENGTH):
        errors.append(
            ParamError(
                "tuning_job_name",
                f"{name!r} is not a tuning job name (1-{MAX_TUNING_JOB_NAME_LENGTH} letters, digits and '-')",
                "build it with tuning_config.tuning_job_name()",
            )
        )
    errors += _count_errors(spec.max_jobs, "max_number_of_training_jobs", MAX_TRAINING_JOBS_LIMIT, "the book uses 20")
    errors += _count_errors(spec.max_parallel_jobs, "max_parallel_training_jobs", MAX_PARALLEL_LIMIT, "the book uses 3")
    if not errors and spec.max_parallel_jobs > spec.max_jobs:
        errors.append(
            ParamError(
                "max_parallel_training_jobs",
                f"{spec.max_parallel_jobs} is more than max_number_of_training_jobs ({spec.max_jobs})",
                "run at most as many jobs at once as in total",
            )
        )
    if spec.strategy not in STRATEGIES:
        errors.append(ParamError("tuning_strategy", f"{spec.strategy!r} is not supported", f"use one of {STRATEGIES}"))
    if spec.early_stopping not in EARLY_STOPPING_TYPES:
        errors.append(
            ParamError(
                "early_stopping", f"{spec.early_stopping!r} is not valid", f"use {' or '.join(EARLY_STOPPING_TYPES)}"
            )
        )
    if spec.training.use_spot or spec.training.model_uri or spec.training.checkpoint_s3_uri:
        errors.append(
            ParamError(
                "training",
                "spot, incremental or checkpointed training is not part of this tuning pipeline",
                "tune from scratch on on-demand instances (pipeline 2 does spot and incremental training)",
            )
        )
    errors += _range_errors(spec.ranges, spec.training.hyperparameters.num_training_samples)
    try:
        build_training_request(replace(spec.training, job_name="tuning-definition"))  # its own rules
    except ParamError as error:
        errors += error.errors
    if errors:
        raise TuningSpecError.combine(errors)


def build_tuning_request(spec: TuningSpec) -> dict[str, object]:
    """The request ``HyperparameterTuner(estimator, "validation:accuracy", ranges, max_jobs, max_parallel_jobs)``
    ``.fit(channels)`` sends for the book's estimator; validates ``spec`` first (:func:`validate_spec`)."""
    validate_spec(spec)
    definition = build_training_request(replace(spec.training, job_name=spec.job_name, tags={}))
    del definition["TrainingJobName"]
    tuned = {one.name for one in spec.ranges}
    static = definition.pop("HyperParameters")
    definition["StaticHyperParameters"] = {k: v for k, v in static.items() if k not in tuned}
    definition["HyperParameterTuningResourceConfig"] = definition.pop("ResourceConfig")
    numeric = [one for one in spec.ranges if isinstance(one, NumericRange)]
    request: dict[str, object] = {
        "HyperParameterTuningJobName": spec.job_name,
        "HyperParameterTuningJobConfig": {
            "Strategy": spec.strategy,
            "HyperParameterTuningJobObjective": {"Type": OBJECTIVE_TYPE, "MetricName": OBJECTIVE_METRIC},
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": spec.max_jobs,
                "MaxParallelTrainingJobs": spec.max_parallel_jobs,
            },
            "ParameterRanges": {
                "ContinuousParameterRanges": [one.as_request() for one in numeric if one.kind == "continuous"],
                "IntegerParameterRanges": [one.as_request() for one in numeric if one.kind == "integer"],
                "CategoricalParameterRanges": [
                    one.as_request() for one in spec.ranges if isinstance(one, CategoricalRange)
                ],
            },
            "TrainingJobEarlyStoppingType": spec.early_stopping,
        },
        "TrainingJobDefinition": definition,
    }
    if spec.training.tags:
        request["Tags"] = as_tag_list(spec.training.tags)
    return request


OPTIMIZER_RANGE_NAMES = ("momentum", "weight_decay", "beta_1", "beta_2", "eps", "gamma")
"""Tuned only when given (``tune_optimizer_ranges``): each applies to some optimizers only (the guide: beta_1 and
beta_2 with adam, momentum with sgd/nag, ...)."""


def ranges_from_form(params: Mapping[str, Any], num_training_samples: int | None = None) -> list[Range]:
    """The trigger form's ranges; ``num_training_samples`` caps mini_batch_size's max at the training set size.

    Learning rate and mini-batch size are tuned when both bounds are given, the optimizer when at least one is
    chosen; ``tune_optimizer_ranges`` maps more names (:data:`OPTIMIZER_RANGE_NAMES`) to ``[min, max]``.
    """
    ranges: list[Range] = []
    if params.get("tune_learning_rate_min") is not None and params.get("tune_learning_rate_max") is not None:
        scaling = params.get("learning_rate_scaling") or "Logarithmic"
        ranges.append(
            NumericRange("learning_rate", params["tune_learning_rate_min"], params["tune_learning_rate_max"], scaling)
        )
    low, high = params.get("tune_mini_batch_size_min"), params.get("tune_mini_batch_size_max")
    if low is not None and high is not None:
        if num_training_samples is not None and _is_number(high) and high > num_training_samples:
            high = max(num_training_samples, low) if _is_number(low) else num_training_samples
        ranges.append(NumericRange("mini_batch_size", low, high))
    if params.get("tune_optimizer"):
        ranges.append(CategoricalRange("optimizer", tuple(params["tune_optimizer"])))
    for name, bounds in sorted((params.get("tune_optimizer_ranges") or {}).items()):
        if isinstance(bounds, Sequence) and len(bounds) == 2:
            ranges.append(NumericRange(name, bounds[0], bounds[1], "Linear" if bounds[0] == 0 else "Auto"))
        else:
            ranges.append(NumericRange(name, float("nan"), float("nan")))  # reported as not two numbers
    return ranges


def spec_from_form(
    params: Mapping[str, Any], job_name: str, training: TrainingSpec, num_training_samples: int | None = None
) -> TuningSpec:
    """The run's TuningSpec from the trigger form (``num_training_samples`` as in :func:`ranges_from_form`)."""
    return TuningSpec(
        job_name=job_name,
        training=training,
        ranges=tuple(ranges_from_form(params, num_training_samples)),
        max_jobs=params.get("max_number_of_training_jobs", 20),
        max_parallel_jobs=params.get("max_parallel_training_jobs", 3),
        strategy=params.get("tuning_strategy", "Bayesian"),
        early_stopping=params.get("early_stopping", "Auto"),
    )
