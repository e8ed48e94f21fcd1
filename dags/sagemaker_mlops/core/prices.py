"""Prices per region for the guards (the run's budget, the production endpoint's per-day ceiling), failing closed.

Why a separate module: the budget guard (``run``) and the production DAG's guard (``production``) price the same
instances in the same regions, and ``production`` may not import ``run``. The table is ``data/prices.json``:
us-east-1 list prices per instance-hour, ML storage per GB-month, and one documented upper-bound factor per region
(``region_multipliers``). A region or an instance type the table does not know is refused (a ParamError naming the
field), never guessed. Stdlib only.
"""

from __future__ import annotations

from typing import Any

from sagemaker_mlops.core.report import PRICES_FILE, prices
from sagemaker_mlops.core.validation import ParamError

# AWS bills ML storage per GB-month and counts a month as 730 hours.
HOURS_PER_MONTH = 730


def table() -> dict[str, Any]:
    """The price table (cached)."""
    return prices()


def priced_regions() -> tuple[str, ...]:
    """Regions the table has a factor for: the only regions a guard can price (sorted)."""
    return tuple(sorted(table()["region_multipliers"]))


def region_multiplier(region: str, field: str = "region") -> float:
    """The region's factor on the us-east-1 prices; an unknown region fails closed."""
    factors = table()["region_multipliers"]
    if region not in factors:
        raise ParamError(
            field,
            f"{region!r} has no price factor in the package's price table, so the worst-case cost is unknown",
            f"use a priced region ({', '.join(sorted(factors))}) or add the region's factor to {PRICES_FILE.name} "
            "(region_multipliers)",
        )
    return float(factors[region])


def hourly(kind: str, instance_type: str, region: str, field: str) -> float:
    """USD per instance-hour of ``instance_type`` (``kind``: training or inference) in ``region``."""
    listed = table()[kind].get(instance_type)
    if listed is None:
        raise ParamError(
            field,
            f"{instance_type} has no {kind} price in the package's price table, so the worst-case cost is unknown",
            f"choose a listed type ({', '.join(sorted(table()[kind]))}) or add its price to "
            f"dags/sagemaker_mlops/data/{PRICES_FILE.name}",
        )
    return round(float(listed) * region_multiplier(region), 6)


def transform_hourly(instance_type: str, region: str, field: str = "transform_instance_type") -> float:
    """USD per instance-hour of a batch transform job: SageMaker lists Batch Transform at the same on-demand price
    per instance type as Real-Time Inference, so the table's ``inference`` column prices it."""
    return hourly("inference", instance_type, region, field)


def storage_gb_month(region: str) -> float:
    """USD per GB-month of ML storage (a training job's volume) in ``region``."""
    return round(float(table()["ml_storage_gb_month"]) * region_multiplier(region), 6)
