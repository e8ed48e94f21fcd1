"""Admin ceilings: Airflow Variables that bound what any run may ask, which the trigger form cannot raise.

Why: far more people may *trigger* a DAG than may edit Variables. The form's schema keeps AWS's own limits (up to
20 training instances, 28 days, 16 TB volumes); whoever may edit Variables narrows them here, and a run asking for
more is refused before anything is created, naming the field, the ceiling and the Variable that sets it.

Why one Variable per ceiling (not one JSON Variable): each ceiling then is one row in the Variables list, one
``AIRFLOW_VAR_...`` line in ``.env`` or one MWAA secret, with its own description; a typo in one cannot disable
the others (a broken JSON document would refuse every run), and an error names exactly the Variable to change.
Lists are a comma list (``ml.g4dn.xlarge,ml.g5.xlarge``) or a JSON array. An unset Variable means the default
below, chosen to fit the book's workflow (``make run`` and the tests pass with none of them set). Stdlib only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sagemaker_mlops.core.validation import ParamError

PREFIX = "sagemaker_mlops_"
Variables = Callable[[str], Any]


@dataclass(frozen=True)
class Ceiling:
    """One admin ceiling: the Variable that sets it, its default (None: no narrowing beyond the form's own list),
    and what it bounds (for the docs and the messages)."""

    variable: str
    default: Any
    bounds: str


MAX_COST_USD = Ceiling(
    variable=f"{PREFIX}max_cost_usd",
    default=200.0,
    bounds="max_cost_usd (the form may lower it, never raise it)",
)
TRAINING_TYPES = Ceiling(
    variable=f"{PREFIX}allowed_training_instance_types",
    default=None,
    bounds="training_instance_type",
)
INFERENCE_TYPES = Ceiling(
    variable=f"{PREFIX}allowed_inference_instance_types",
    default=None,
    bounds="inference_instance_type (test endpoint)",
)
PRODUCTION_TYPES = Ceiling(
    variable=f"{PREFIX}allowed_production_instance_types",
    default=None,
    bounds="instance_type (production)",
)
TRAINING_COUNT = Ceiling(
    variable=f"{PREFIX}max_training_instance_count",
    default=4,
    bounds="training_instance_count",
)
INFERENCE_COUNT = Ceiling(
    variable=f"{PREFIX}max_inference_instance_count",
    default=2,
    bounds="inference_instance_count",
)
PRODUCTION_COUNT = Ceiling(
    variable=f"{PREFIX}max_production_instance_count",
    default=4,
    bounds="instance_count (production)",
)
MAX_RUNTIME = Ceiling(
    variable=f"{PREFIX}max_runtime_seconds",
    default=86400,
    bounds="max_runtime_seconds (per job, per tuning trial)",
)
VOLUME = Ceiling(
    variable=f"{PREFIX}max_volume_size_gb",
    default=100,
    bounds="volume_size_gb",
)
TUNING_JOBS = Ceiling(
    variable=f"{PREFIX}max_tuning_jobs",
    default=20,
    bounds="max_number_of_training_jobs",
)
TUNING_PARALLEL = Ceiling(
    variable=f"{PREFIX}max_parallel_training_jobs",
    default=3,
    bounds="max_parallel_training_jobs",
)
ENDPOINT_TTL = Ceiling(
    variable=f"{PREFIX}max_endpoint_ttl_hours",
    default=24,
    bounds="endpoint_ttl_hours (how long a kept endpoint bills)",
)
REGIONS = Ceiling(
    variable=f"{PREFIX}allowed_regions",
    default=None,
    bounds="region (default: the regions the price table knows)",
)
PRODUCTION_PER_DAY = Ceiling(
    variable=f"{PREFIX}production_max_cost_usd_per_day",
    default=25.0,
    bounds="production cost per day",
)
IMAGE_REPOSITORIES = Ceiling(
    variable=f"{PREFIX}allowed_image_repositories",
    default=None,
    bounds="training_image (default: the region's AWS algorithm image only)",
)
ALLOW_NETWORK_ACCESS = Ceiling(
    variable=f"{PREFIX}allow_network_access",
    default=False,
    bounds="network_isolation (off only when true)",
)

ALL: tuple[Ceiling, ...] = (
    MAX_COST_USD,
    TRAINING_TYPES,
    INFERENCE_TYPES,
    PRODUCTION_TYPES,
    TRAINING_COUNT,
    INFERENCE_COUNT,
    PRODUCTION_COUNT,
    MAX_RUNTIME,
    VOLUME,
    TUNING_JOBS,
    TUNING_PARALLEL,
    ENDPOINT_TTL,
    REGIONS,
    PRODUCTION_PER_DAY,
    IMAGE_REPOSITORIES,
    ALLOW_NETWORK_ACCESS,
)


def _raw(variable: Variables, ceiling: Ceiling) -> Any:
    value = variable(ceiling.variable)
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def number(variable: Variables, ceiling: Ceiling) -> float:
    """The ceiling's number (the default when unset); a Variable that is not a positive number is refused."""
    raw = _raw(variable, ceiling)
    if raw is None:
        return ceiling.default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not value > 0:
        raise ParamError(
            ceiling.variable,
            f"the admin ceiling is {raw!r}, not a positive number",
            f"set Variable {ceiling.variable} to a number (default {ceiling.default})",
        )
    return int(value) if isinstance(ceiling.default, int) and value.is_integer() else value


def names(variable: Variables, ceiling: Ceiling, default: Iterable[str] | None = None) -> tuple[str, ...] | None:
    """The ceiling's list: a comma list or a JSON array of strings; ``default`` (or the ceiling's) when unset."""
    raw = _raw(variable, ceiling)
    if raw is None:
        fallback = ceiling.default if default is None else default
        return None if fallback is None else tuple(fallback)
    if isinstance(raw, str) and raw.strip().startswith("["):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raw = None
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise ParamError(
            ceiling.variable,
            f"the admin list is {variable(ceiling.variable)!r}, not a comma list or JSON array of names",
            f'set Variable {ceiling.variable} to e.g. "a,b" or ["a", "b"]',
        )
    return tuple(item.strip() for item in items if item.strip())


def flag(variable: Variables, ceiling: Ceiling) -> bool:
    """A true/false admin switch (the default when unset)."""
    raw = _raw(variable, ceiling)
    if raw is None:
        return bool(ceiling.default)
    text = str(raw).strip().lower()
    if text not in {"true", "false", "1", "0", "yes", "no"}:
        raise ParamError(
            ceiling.variable, f"the admin switch is {raw!r}", f"set Variable {ceiling.variable} to true or false"
        )
    return text in {"true", "1", "yes"}


def at_most(field: str, value: Any, variable: Variables, ceiling: Ceiling) -> None:
    """Refuse ``value`` above the ceiling, naming the field, the ceiling and the Variable (and the fix)."""
    limit = number(variable, ceiling)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
        raise ParamError(
            field,
            f"{value:g} is above the admin's ceiling of {limit:g} (Variable {ceiling.variable})",
            f"choose {field} <= {limit:g}, or ask whoever may edit Variables to raise {ceiling.variable}",
        )


def one_of(field: str, value: Any, variable: Variables, ceiling: Ceiling, default: Iterable[str] | None = None) -> None:
    """Refuse ``value`` outside the admin's list (``default`` when the Variable is unset; None: no list)."""
    allowed = names(variable, ceiling, default)
    if allowed is not None and value not in allowed:
        raise ParamError(
            field,
            f"{value!r} is not in the admin's list ({', '.join(allowed) or 'empty'}; Variable {ceiling.variable})",
            f"choose one of them, or ask whoever may edit Variables to add it to {ceiling.variable}",
        )
