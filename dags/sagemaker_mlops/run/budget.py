"""The budget guard: the worst case a run can cost, from the price table, checked before the first Create call.

Why: a typo in max_runtime_seconds or instance count is paid for in full; none of the book's notebooks bounds it.
The worst case is what the account is billed if every job runs to its limit:

* training: instances x max runtime (managed spot: max wait, since SageMaker may keep the job until then) x the
  on-demand hourly price (spot is cheaper, so this is an upper bound) x ``jobs`` (a tuning job's maximum number
  of training jobs; how many run in parallel does not change the sum);
* the test endpoint: instances x variants x :data:`ENDPOINT_WORST_SECONDS` x its hourly price.

Reuse (e.g. the tuning DAG)::

    from sagemaker_mlops.run import budget
    worst = budget.worst_case(
        training=budget.TrainingLimits("ml.g4dn.xlarge", instance_count=1, max_runtime_seconds=3600, jobs=20),
        endpoint=budget.EndpointLimits("ml.m5.xlarge", instance_count=1, variants=1),
    )
    budget.check(worst, max_cost_usd=50.0)   # ParamError("max_cost_usd", ...) when worst["usd"] > 50

``endpoint=None`` when nothing is deployed. Stdlib only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sagemaker_mlops.core.report import prices
from sagemaker_mlops.core.validation import ParamError

PARAM = "max_cost_usd"
VARIABLE = "sagemaker_mlops_max_cost_usd"
# Used when neither the form nor the Variable sets a budget: covers the book's 2 instances of every training type
# the form offers for the full 24 h default max runtime (ml.p3.2xlarge: 184 USD; the book's ml.p2.xlarge: 54 USD)
# and stops a mistyped count or runtime from costing thousands.
DEFAULT_MAX_COST_USD = 200.0
# The longest the test endpoint may live in a run: the create wait's limit (the endpoint operator's
# max_ingestion_time, 1 h) plus 30 min for the smoke test and the teardown's delete.
ENDPOINT_CREATE_TIMEOUT_SECONDS = 3600
SMOKE_AND_TEARDOWN_SECONDS = 1800
ENDPOINT_WORST_SECONDS = ENDPOINT_CREATE_TIMEOUT_SECONDS + SMOKE_AND_TEARDOWN_SECONDS


@dataclass(frozen=True)
class TrainingLimits:
    """One training job's limits (``jobs``: how many such jobs a run may start, e.g. a tuning job's maximum)."""

    instance_type: str
    instance_count: int
    max_runtime_seconds: int
    use_spot: bool = False
    max_wait_seconds: int | None = None
    jobs: int = 1

    @property
    def seconds(self) -> int:
        """Billed at most until max wait on spot (SageMaker keeps a spot job until then), else max runtime."""
        return int(self.max_wait_seconds) if self.use_spot and self.max_wait_seconds else int(self.max_runtime_seconds)


@dataclass(frozen=True)
class EndpointLimits:
    instance_type: str
    instance_count: int
    variants: int = 1
    seconds: int = ENDPOINT_WORST_SECONDS


def _hourly(kind: str, instance_type: str, field: str) -> float:
    hourly = prices()[kind].get(instance_type)
    if hourly is None:
        raise ParamError(
            field,
            f"{instance_type} has no {kind} price in the package's price table, so the worst-case cost is unknown",
            f"choose a listed type ({', '.join(sorted(prices()[kind]))}) or add its price to "
            "dags/sagemaker_mlops/data/prices.json",
        )
    return float(hourly)


def _cents_up(usd: float) -> float:
    """Rounded up to the cent: a guard must never under-state the worst case."""
    return math.ceil(round(usd * 100, 6)) / 100


def worst_case(*, training: TrainingLimits, endpoint: EndpointLimits | None = None) -> dict[str, Any]:
    """The run's worst-case cost in USD with the arithmetic spelled out (``how``), per part and in total."""
    table = prices()
    t_hourly = _hourly("training", training.instance_type, "training_instance_type")
    limit = "max_wait_seconds" if training.use_spot and training.max_wait_seconds else "max_runtime_seconds"
    t_usd = t_hourly * training.instance_count * training.seconds / 3600.0 * training.jobs
    jobs = f" x {training.jobs} jobs" if training.jobs != 1 else ""
    how = [
        f"training {training.instance_count} x {training.instance_type} x {training.seconds} s ({limit}) x "
        f"{t_hourly} USD/h{jobs} = {t_usd:.2f} USD"
    ]
    e_usd = 0.0
    if endpoint is not None:
        e_hourly = _hourly("inference", endpoint.instance_type, "inference_instance_type")
        e_usd = e_hourly * endpoint.instance_count * endpoint.variants * endpoint.seconds / 3600.0
        how.append(
            f"endpoint {endpoint.instance_count} x {endpoint.instance_type} x {endpoint.variants} variant(s) x "
            f"{endpoint.seconds} s (create timeout + smoke test) x {e_hourly} USD/h = {e_usd:.2f} USD"
        )
    return {
        "usd": _cents_up(t_usd + e_usd),
        "training_usd": _cents_up(t_usd),
        "endpoint_usd": _cents_up(e_usd),
        "training_limit": limit,
        "how": how,
        "price_region": table["region"],
        "price_as_of": table["as_of"],
        "spot_priced_on_demand": training.use_spot,
    }


def budget_from(param: Any, variable: str | None) -> tuple[float, str]:
    """The budget and where it came from: the form's max_cost_usd, else the Variable, else the package default."""
    if param not in (None, ""):
        return float(param), f"param {PARAM}"
    if variable not in (None, ""):
        try:
            return float(variable), f"Variable {VARIABLE}"
        except ValueError:
            raise ParamError(
                PARAM, f"Variable {VARIABLE} is {variable!r}, not a number", "set it to USD, e.g. 50"
            ) from None
    return DEFAULT_MAX_COST_USD, "the package default"


def check(worst: dict[str, Any], max_cost_usd: float, source: str = f"param {PARAM}") -> None:
    """Raise a ParamError naming the worst case, how it was computed and which param lowers it, when over budget."""
    if worst["usd"] <= max_cost_usd:
        return
    lower = (
        f"lower {worst['training_limit']} or training_instance_count"
        if worst["training_usd"] >= worst["endpoint_usd"]
        else "lower inference_instance_count"
    )
    raise ParamError(
        PARAM,
        f"the worst case of this run is {worst['usd']:.2f} USD, above the budget of {max_cost_usd:g} USD ({source}); "
        f"computed as {'; '.join(worst['how'])} ({worst['price_region']} list prices of {worst['price_as_of']})",
        f"{lower}, or raise {PARAM} (form) / Variable {VARIABLE} if this spend is intended",
    )
