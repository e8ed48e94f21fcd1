"""The budget guard: the worst case a run can cost, from the price table, checked before the first Create call.

Why: a typo in max_runtime_seconds or instance count is paid for in full; none of the book's notebooks bounds it.
The worst case is what the account is billed if every job runs to its limit, term by term (``terms``):

* ``training``: instances x max runtime x the on-demand hourly price x ``jobs`` (a tuning job's maximum number of
  training jobs; how many run in parallel does not change the sum). Managed spot is priced the same: SageMaker
  bills at most ``MaxRuntimeInSeconds`` of a spot job (time waiting for capacity, up to max wait, is not billed),
  and the spot discount is not assumed (no spot price in the table);
* ``training_storage``: each instance's ML storage volume (``volume_size_gb``) per GB-month, prorated by the max
  runtime (a month is 730 h), x instances x jobs;
* ``endpoint``: the test endpoint, instances x variants x its hourly price x how long it can live: the create wait
  plus smoke test and teardown (:data:`ENDPOINT_WORST_SECONDS`), or, when it is kept, until the reaper deletes it
  after its expiry tag (``endpoint_ttl_hours`` + :data:`REAPER_INTERVAL_SECONDS`);
* ``transform``: the holdout evaluation's batch transform jobs (the new model, and the champion in the DAGs that
  compare with one), each one instance of the cheapest CPU type for as long as the operator waits plus the
  teardown's stop (``TransformLimits.seconds``), at the inference price (Batch Transform's list price is the same);
  priced whether or not a holdout is pinned yet (the Variables are read after this check);

every price times the region's factor (:mod:`sagemaker_mlops.core.prices`; an unknown region or type fails closed).

Reuse (e.g. the tuning DAG)::

    from sagemaker_mlops.run import budget
    worst = budget.worst_case(
        training=budget.TrainingLimits("ml.g4dn.xlarge", instance_count=1, max_runtime_seconds=3600, jobs=20),
        endpoint=budget.EndpointLimits("ml.m5.xlarge", instance_count=1, variants=1),
        region="us-east-1",
    )
    budget.check(worst, max_cost_usd=50.0)   # ParamError("max_cost_usd", ...) when worst["usd"] > 50

``endpoint=None`` when nothing is deployed. Stdlib only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sagemaker_mlops.core import ceilings, prices
from sagemaker_mlops.core.validation import ParamError

PARAM = "max_cost_usd"
VARIABLE = ceilings.MAX_COST_USD.variable
# Used when the Variable sets no budget: covers the book's 2 instances of every training type the form offers for
# the full 24 h default max runtime (ml.p3.2xlarge: 184 USD; the book's ml.p2.xlarge: 54 USD) and stops a mistyped
# count or runtime from costing thousands. The form's max_cost_usd may lower it, never raise it.
DEFAULT_MAX_COST_USD = float(ceilings.MAX_COST_USD.default)
# The longest the test endpoint may live in a run: the create wait's limit (the endpoint operator's
# max_ingestion_time, 1 h) plus 30 min for the smoke test and the teardown's delete.
ENDPOINT_CREATE_TIMEOUT_SECONDS = 3600
SMOKE_AND_TEARDOWN_SECONDS = 1800
ENDPOINT_WORST_SECONDS = ENDPOINT_CREATE_TIMEOUT_SECONDS + SMOKE_AND_TEARDOWN_SECONDS
# A kept endpoint bills until the reaper (hourly) deletes it after its mlops:expires-at tag.
REAPER_INTERVAL_SECONDS = 3600


@dataclass(frozen=True)
class TrainingLimits:
    """One training job's limits (``jobs``: how many such jobs a run may start, e.g. a tuning job's maximum).

    ``max_wait_seconds`` is kept for the report only: spot waiting is not billed."""

    instance_type: str
    instance_count: int
    max_runtime_seconds: int
    use_spot: bool = False
    max_wait_seconds: int | None = None
    jobs: int = 1
    volume_size_gb: int = 0

    @property
    def seconds(self) -> int:
        """Billable at most: max runtime (on spot too: BillableTimeInSeconds <= MaxRuntimeInSeconds)."""
        return int(self.max_runtime_seconds)


@dataclass(frozen=True)
class TransformLimits:
    """The holdout evaluation's batch transform jobs: how many a run may start, each on ``instance_count`` x
    ``instance_type`` for at most ``seconds`` (the operator's wait plus the teardown's stop)."""

    instance_type: str
    jobs: int
    seconds: int
    instance_count: int = 1


@dataclass(frozen=True)
class EndpointLimits:
    instance_type: str
    instance_count: int
    variants: int = 1
    kept_hours: int | None = None  # keep_endpoint: billed until the expiry tag + the reaper's interval

    @property
    def seconds(self) -> int:
        if self.kept_hours:
            return max(ENDPOINT_WORST_SECONDS, int(self.kept_hours) * 3600 + REAPER_INTERVAL_SECONDS)
        return ENDPOINT_WORST_SECONDS

    @property
    def why(self) -> str:
        if self.kept_hours:
            return f"kept: endpoint_ttl_hours {self.kept_hours} h + the reaper's hour"
        return "create timeout + smoke test"


def _cents_up(usd: float) -> float:
    """Rounded up to the cent: a guard must never under-state the worst case."""
    return math.ceil(round(usd * 100, 6)) / 100


def worst_case(
    *,
    training: TrainingLimits,
    endpoint: EndpointLimits | None = None,
    transform: TransformLimits | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """The run's worst-case cost in USD, per term (``terms``, each with its arithmetic in ``how``) and in total."""
    table = prices.table()
    factor = prices.region_multiplier(region)
    t_hourly = prices.hourly("training", training.instance_type, region, "training_instance_type")
    jobs = f" x {training.jobs} jobs" if training.jobs != 1 else ""
    t_usd = t_hourly * training.instance_count * training.seconds / 3600.0 * training.jobs
    spot = " (spot: billable time <= max runtime, priced on demand)" if training.use_spot else ""
    how = [
        f"training {training.instance_count} x {training.instance_type} x {training.seconds} s "
        f"(max_runtime_seconds{spot}) x {t_hourly} USD/h{jobs} = {t_usd:.2f} USD"
    ]
    gb_month = prices.storage_gb_month(region)
    s_usd = (
        gb_month
        * training.volume_size_gb
        * training.instance_count
        * training.seconds
        / (prices.HOURS_PER_MONTH * 3600.0)
        * training.jobs
    )
    how.append(
        f"training storage {training.instance_count} x {training.volume_size_gb} GB x {gb_month} USD/GB-month x "
        f"{training.seconds} s / {prices.HOURS_PER_MONTH} h{jobs} = {s_usd:.2f} USD"
    )
    e_usd = 0.0
    if endpoint is not None:
        e_hourly = prices.hourly("inference", endpoint.instance_type, region, "inference_instance_type")
        e_usd = e_hourly * endpoint.instance_count * endpoint.variants * endpoint.seconds / 3600.0
        how.append(
            f"endpoint {endpoint.instance_count} x {endpoint.instance_type} x {endpoint.variants} variant(s) x "
            f"{endpoint.seconds} s ({endpoint.why}) x {e_hourly} USD/h = {e_usd:.2f} USD"
        )
    x_usd = 0.0
    if transform is not None and transform.jobs:
        x_hourly = prices.transform_hourly(transform.instance_type, region)
        x_usd = x_hourly * transform.instance_count * transform.seconds / 3600.0 * transform.jobs
        how.append(
            f"holdout evaluation {transform.jobs} batch transform job(s) x {transform.instance_count} x "
            f"{transform.instance_type} x {transform.seconds} s (operator wait + teardown stop) x {x_hourly} USD/h "
            f"= {x_usd:.2f} USD"
        )
    terms = {
        "training": _cents_up(t_usd),
        "training_storage": _cents_up(s_usd),
        "endpoint": _cents_up(e_usd),
        "transform": _cents_up(x_usd),
    }
    return {
        "usd": _cents_up(t_usd + s_usd + e_usd + x_usd),
        "terms": terms,
        "training_usd": terms["training"],
        "storage_usd": terms["training_storage"],
        "endpoint_usd": terms["endpoint"],
        "transform_usd": terms["transform"],
        "endpoint_kept": bool(endpoint and endpoint.kept_hours),
        "training_limit": "max_runtime_seconds",
        "how": how,
        "region": region,
        "region_factor": factor,
        "price_region": table["region"],
        "price_as_of": table["as_of"],
        "spot_priced_on_demand": training.use_spot,
    }


def budget_from(param: Any, variable: str | None) -> tuple[float, str]:
    """The budget and where it came from. The Variable (else the package default) is the admin's ceiling; the
    form's max_cost_usd may lower it, never raise it (a higher value is refused, naming the Variable)."""
    ceiling, source = DEFAULT_MAX_COST_USD, "the package default"
    if variable not in (None, ""):
        try:
            ceiling, source = float(variable), f"Variable {VARIABLE}"
        except ValueError:
            raise ParamError(
                PARAM, f"Variable {VARIABLE} is {variable!r}, not a number", "set it to USD, e.g. 50"
            ) from None
    if param in (None, ""):
        return ceiling, source
    if float(param) > ceiling:
        raise ParamError(
            PARAM,
            f"{float(param):g} USD is above the admin's ceiling of {ceiling:g} USD ({source}; set by Variable "
            f"{VARIABLE}, which the form may lower but never raise)",
            f"choose max_cost_usd <= {ceiling:g}, or ask whoever may edit Variables to raise {VARIABLE}",
        )
    return float(param), f"param {PARAM}"


def check(worst: dict[str, Any], max_cost_usd: float, source: str = f"param {PARAM}") -> None:
    """Raise a ParamError naming the worst case, how it was computed and which param lowers it, when over budget."""
    if worst["usd"] <= max_cost_usd:
        return
    terms = worst["terms"]
    largest = max(terms, key=lambda name: terms[name])
    lower = {
        "training": f"lower {worst['training_limit']} or training_instance_count",
        "training_storage": "lower volume_size_gb",
        "endpoint": "lower inference_instance_count"
        + (" or endpoint_ttl_hours (or do not keep the endpoint)" if worst.get("endpoint_kept") else ""),
        "transform": "raise the budget: the holdout evaluation's transform jobs are fixed (one cheapest CPU instance)",
    }[largest]
    raise ParamError(
        PARAM,
        f"the worst case of this run is {worst['usd']:.2f} USD, above the budget of {max_cost_usd:g} USD ({source}); "
        f"computed as {'; '.join(worst['how'])} ({worst['price_region']} list prices of {worst['price_as_of']} "
        f"x {worst['region_factor']:g} for {worst['region']})",
        f"{lower}, or (if this spend is intended) ask whoever may edit Variables to raise Variable {VARIABLE}",
    )
