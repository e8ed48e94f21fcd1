"""The reaper's rules: which of the package's SageMaker resources to remove, and why (pure, no AWS).

Why a reaper: a run's teardown deletes what it deployed, but a worker killed mid-run, a run marked failed while its
job was deferred, or ``keep_endpoint`` leave resources billing. Every resource the DAGs create carries
``mlops:created-by`` and ``mlops:expires-at`` (and the DAG run it belongs to), so an hourly DAG can find them again.

The rules, in order (the first that applies decides):

* a resource without the package's tags (``mlops:created-by = airflow-sagemaker-mlops`` and the owning DAG run's
  ``mlops:dag-id``, ``mlops:dag-run-id``, ``mlops:run-token``) is never touched (kept, "not the package's"): a
  foreign ``mlops-*`` name is not enough, and nothing else (metrics, costs) is read for it;
* one tagged ``mlops:environment = production`` (mnist_deploy_production) is kept, whatever its expiry says;
* a training or hyperparameter tuning job ``InProgress`` whose DAG run is no longer running is stopped; while its
  run runs it is kept (the run's own teardown stops it). A run this Airflow does not know (another environment in
  the same account, or a cut run id) is treated as gone only once the job's ``mlops:expires-at`` has passed. A
  tuning job left running keeps launching trials until its limit, so it is as billable as a training job;
* a trial (a training job a listed tuning job launched, named ``<tuning job>-NNN-<8 hex>`` by SageMaker, and
  carrying the tuning job's tags) is never stopped on its own: stopping the tuning job stops its trials, and a
  trial stopped alone only makes its tuning job launch the next one;
* an ended job is kept: it no longer bills, and it is the lineage of a published model (pipeline 2 reads the base
  model from a training job; a champion names its tuning job), so the reaper never deletes it;
* an endpoint, endpoint config or model whose DAG run is still running (or queued) is kept: the run uses it and its
  teardown owns it, however old it is (pipeline 1 may train for 24 h, spot waits last weeks);
* an endpoint, endpoint config or model without a valid ``mlops:expires-at`` is kept (reported); otherwise it
  expires ``Policy.ttl`` after its *deployment* (an endpoint's ``LastModifiedTime``, a config's or model's
  ``CreationTime``, from the List calls), or at its tag's ``mlops:expires-at`` (counted from the run's start) if
  that is later — so a model deployed late in a long run still gets its full time. An expired one is deleted (an
  endpoint kept with ``keep_endpoint`` included) except an endpoint in transition (Creating, Updating, ...), which
  AWS refuses to delete: kept, "retry next run";
* an ``InService`` endpoint not expired yet, whose DAG run this Airflow knows to be over, that has served no
  ``Invocations`` (CloudWatch) for ``Policy.idle`` since its deployment is deleted as idle (its config and model
  follow at their expiry: they do not bill). A run unknown here (another Airflow, or ``make reap`` on a laptop,
  which knows no runs) may still be about to call it: its endpoint goes at its expiry only.

Deletions are ordered endpoints, then endpoint configs, then models (what serves goes first); tuning jobs are
stopped before training jobs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sagemaker_mlops.core.naming import NAME_PREFIX, run_token
from sagemaker_mlops.core.tags import (
    CREATED_BY,
    TAG_CREATED_BY,
    TAG_DAG_ID,
    TAG_DAG_RUN_ID,
    TAG_EXPIRES_AT,
    TAG_RUN_TOKEN,
)
from sagemaker_mlops.core.validation import ParamError

TAG_ENVIRONMENT = "mlops:environment"  # production_config sets it on the production endpoint's resources

__all__ = ["KINDS", "Decision", "Policy", "Resource", "Usage", "is_owned", "plan", "report"]

Kind = Literal["endpoint", "endpoint_config", "model", "tuning_job", "training_job"]
Action = Literal["delete", "stop", "keep"]
KINDS: tuple[Kind, ...] = ("endpoint", "endpoint_config", "model", "tuning_job", "training_job")
JOB_KINDS: frozenset[Kind] = frozenset({"tuning_job", "training_job"})  # stopped, never deleted
RUNNING_JOB = frozenset({"InProgress"})
TRIAL_NAME = re.compile(r"(?P<tuning_job>.+)-[0-9]{3}-[0-9a-f]{8}")  # SageMaker's names of a tuning job's trials
ENDPOINT_IN_TRANSITION = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"})
ALREADY_GOING = frozenset({"Deleting"})
LIVE_RUN = frozenset({"running", "queued"})
OWNER_TAGS = (TAG_CREATED_BY, TAG_DAG_ID, TAG_DAG_RUN_ID, TAG_RUN_TOKEN)
DEFAULT_TTL_HOURS = 24  # the form's default endpoint_ttl_hours, counted from the deployment here
DEFAULT_IDLE_HOURS = 3  # see Policy.idle


@dataclass(frozen=True)
class Policy:
    """How long a deployment may live, and how long an endpoint may sit unused.

    ``ttl``: counted from the deployment (default 24 h, the form's default *Expiry tag*); the tag's own expiry, when
    later, wins. ``idle``: an endpoint with no ``Invocations`` for this long is deleted before its TTL (default 3 h:
    longer than a person's pause between tries of a kept endpoint, short enough that a forgotten ml.m5.large costs
    well under a dollar instead of the TTL's ~2.8 USD; ``None`` turns it off).
    """

    ttl: timedelta = timedelta(hours=DEFAULT_TTL_HOURS)
    idle: timedelta | None = timedelta(hours=DEFAULT_IDLE_HOURS)


@dataclass(frozen=True)
class Usage:
    """An endpoint's ``Invocations`` (CloudWatch) over ``since`` .. now: the last period that had any, or None."""

    since: datetime
    last_invocation: datetime | None


@dataclass(frozen=True)
class Resource:
    """One SageMaker resource as the reaper found it (name, ARN, status where the kind has one, tags)."""

    kind: Kind
    name: str
    arn: str
    status: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    deployed_at: datetime | None = None  # endpoint: LastModifiedTime; config, model: CreationTime; job: CreationTime
    hourly_usd: float | None = None  # what it bills per hour now (core's price table), None when unknown
    usage: Usage | None = None  # endpoints of the package only


@dataclass(frozen=True)
class Decision:
    resource: Resource
    action: Action
    reason: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["resource"]["tags"] = dict(self.resource.tags)
        return data


def is_owned(resource: Resource) -> bool:
    """Whether ``resource`` carries the package's tags: created by it, and naming the DAG run it belongs to."""
    tags = resource.tags
    return tags.get(TAG_CREATED_BY) == CREATED_BY and all(tags.get(key) for key in OWNER_TAGS)


def idle_for(resource: Resource, now: datetime) -> timedelta | None:
    """How long an endpoint has served nothing: since the end of its last period with invocations, or its
    deployment if later; at least the whole lookback when it had none. None when its usage was not read."""
    usage = resource.usage
    if usage is None:
        return None
    last = max(t for t in (usage.last_invocation or usage.since, resource.deployed_at) if t is not None)
    return max(now - last, timedelta(0))


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


RunState = Callable[[str, str], str | None]
"""(dag_id, run_id) -> the DAG run's state ("running", "queued", "success", ...) or None when this Airflow has none."""


def is_candidate(name: str) -> bool:
    """Only ``mlops-`` names can be the package's (naming.py); the IAM policy scopes every action to them too."""
    return name.startswith(f"{NAME_PREFIX}-")


def _expiry(tags: Mapping[str, str]) -> datetime | None:
    try:
        return datetime.strptime(tags.get(TAG_EXPIRES_AT, ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _decide_job(job: Resource, now: datetime, run_state: RunState) -> Decision:
    if job.status == "Stopping":
        return Decision(job, "keep", "already Stopping")
    if job.status not in RUNNING_JOB:
        return Decision(
            job,
            "keep",
            f"{job.status}: an ended job no longer bills and is a published model's "
            f"lineage; {job.kind.replace('_', ' ')}s are never deleted",
        )
    dag_id, run_id = job.tags.get(TAG_DAG_ID, ""), job.tags.get(TAG_DAG_RUN_ID, "")
    expires = _expiry(job.tags)
    state = run_state(dag_id, run_id) if dag_id and run_id else None
    verified = bool(dag_id and run_id) and job.tags.get(TAG_RUN_TOKEN) in (None, run_token(dag_id, run_id))
    if state in LIVE_RUN and verified:
        return Decision(job, "keep", f"its DAG run {dag_id} / {run_id} is {state}; the run's teardown owns it")
    if state is not None and verified:
        return Decision(job, "stop", f"still {job.status} but its DAG run {dag_id} / {run_id} is {state}")
    if expires is not None and expires <= now:
        return Decision(
            job,
            "stop",
            f"still {job.status}, its DAG run {dag_id or '?'} / {run_id or '?'} is unknown "
            f"to this Airflow, and it expired at {expires:%Y-%m-%dT%H:%M:%SZ}",
        )
    return Decision(
        job,
        "keep",
        f"its DAG run {dag_id or '?'} / {run_id or '?'} is unknown to this Airflow (another "
        "environment?) and it has not expired: stopped once it expires",
    )


def _owner_state(resource: Resource, run_state: RunState) -> str | None:
    """The owning DAG run's state as this Airflow knows it, or None (unknown here, or tags not the run's own)."""
    dag_id, run_id = resource.tags.get(TAG_DAG_ID, ""), resource.tags.get(TAG_DAG_RUN_ID, "")
    if resource.tags.get(TAG_RUN_TOKEN) not in (None, run_token(dag_id, run_id)):
        # A run id cut or cleaned for the tag: the run may still be live, and a lookup cannot tell.
        return None
    return run_state(dag_id, run_id)


def _deployed_expiry(resource: Resource, policy: Policy) -> datetime | None:
    """The later of the tag's expiry and ``policy.ttl`` after the deployment; None without a valid tag."""
    tagged = _expiry(resource.tags)
    if tagged is None or resource.deployed_at is None:
        return tagged
    return max(tagged, resource.deployed_at + policy.ttl)


def _decide_deployed(resource: Resource, now: datetime, run_state: RunState, policy: Policy) -> Decision:
    state = _owner_state(resource, run_state)
    if state in LIVE_RUN:
        return Decision(
            resource,
            "keep",
            f"its DAG run {resource.tags[TAG_DAG_ID]} / {resource.tags[TAG_DAG_RUN_ID]} is {state}: in use, the "
            "run's teardown owns it",
        )
    expires = _deployed_expiry(resource, policy)
    if expires is None:
        return Decision(
            resource,
            "keep",
            f"no valid {TAG_EXPIRES_AT} tag ({resource.tags.get(TAG_EXPIRES_AT)!r}); delete it by hand if unused",
        )
    why = None
    if expires <= now:
        why = f"expired at {expires:%Y-%m-%dT%H:%M:%SZ}"
    elif resource.kind == "endpoint" and resource.status == "InService" and policy.idle is not None and state:
        # Only when its run is known here and over: a run of another Airflow (or unseen from a laptop) may be
        # about to call it; such an endpoint goes at its expiry.
        idle = idle_for(resource, now)
        if idle is not None and idle >= policy.idle:
            why = f"idle: no Invocations for {_hours(idle)} (limit {_hours(policy.idle)})"
    if why is None:
        return Decision(resource, "keep", f"expires at {expires:%Y-%m-%dT%H:%M:%SZ}")
    if resource.status in ALREADY_GOING:
        return Decision(resource, "keep", f"{why}; already {resource.status}")
    if resource.status in ENDPOINT_IN_TRANSITION:
        return Decision(
            resource,
            "keep",
            f"{why} but {resource.status}: an endpoint in transition cannot be deleted; retry next run",
        )
    return Decision(resource, "delete", why)


def _production(resource: Resource, now: datetime) -> Decision:
    reason = "production (mlops:environment): never reaped"
    if resource.kind == "endpoint":
        cost = "unknown" if resource.hourly_usd is None else f"{resource.hourly_usd * 24:.2f} USD/day"
        idle = idle_for(resource, now)
        reason += f"; costs {cost}, idle {'unknown' if idle is None else _hours(idle)}"
    return Decision(resource, "keep", reason)


def _decide(resource: Resource, now: datetime, run_state: RunState, policy: Policy) -> Decision:
    if not is_owned(resource):
        return Decision(
            resource,
            "keep",
            f"not the package's (no {TAG_CREATED_BY}={CREATED_BY} with its {TAG_DAG_ID}, {TAG_DAG_RUN_ID} and "
            f"{TAG_RUN_TOKEN} tags): never touched",
        )
    if resource.tags.get(TAG_ENVIRONMENT) == "production":
        return _production(resource, now)
    if resource.kind in JOB_KINDS:
        return _decide_job(resource, now, run_state)
    return _decide_deployed(resource, now, run_state, policy)


def _as_trial(decision: Decision, tuning_jobs: Mapping[str, Decision]) -> Decision:
    """A trial the rules would stop follows its tuning job instead, when that one was listed too."""
    job = decision.resource
    match = TRIAL_NAME.fullmatch(job.name) if job.kind == "training_job" and decision.action == "stop" else None
    parent = tuning_jobs.get(match["tuning_job"]) if match else None
    if parent is None:
        return decision
    if parent.action == "stop":
        return Decision(
            job, "keep", f"a trial of tuning job {parent.resource.name}, which is stopped: SageMaker stops its trials"
        )
    return Decision(
        job,
        "keep",
        f"a trial of tuning job {parent.resource.name}, which is kept ({parent.reason}): stopped alone, "
        "its tuning job would only launch the next",
    )


def plan(
    resources: Iterable[Resource], now: datetime, run_state: RunState, policy: Policy | None = None
) -> list[Decision]:
    """One decision per resource; those that act come first, endpoints → configs → models → tuning → training jobs."""
    policy = policy or Policy()
    decisions = [_decide(resource, now, run_state, policy) for resource in resources]
    tuning_jobs = {d.resource.name: d for d in decisions if d.resource.kind == "tuning_job"}
    decisions = [_as_trial(decision, tuning_jobs) for decision in decisions]
    order = {kind: index for index, kind in enumerate(KINDS)}
    return sorted(decisions, key=lambda d: (d.action == "keep", order[d.resource.kind], d.resource.name))


def report(
    decisions: Iterable[Decision], *, now: datetime, region: str, dry_run: bool, done: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The run's JSON report: what was found, what was (or, in a dry run, would be) removed, kept, and why.

    ``done`` maps a resource ARN to its outcome ("deleted", "stopped", "gone", or an error); absent in a dry run.
    """
    done = done or {}
    entries = []
    for decision in decisions:
        entry = {
            "kind": decision.resource.kind,
            "name": decision.resource.name,
            "arn": decision.resource.arn,
            "status": decision.resource.status,
            "action": decision.action,
            "reason": decision.reason,
            "usd_per_hour": decision.resource.hourly_usd,
        }
        if decision.resource.deployed_at is not None:
            entry["deployed_at"] = decision.resource.deployed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        idle = idle_for(decision.resource, now)
        if idle is not None:
            entry["idle_hours"] = round(idle.total_seconds() / 3600, 4)
        if decision.action != "keep":
            entry["outcome"] = "dry run: not done" if dry_run else done.get(decision.resource.arn, "not attempted")
        entries.append(entry)
    acting = [e for e in entries if e["action"] != "keep"]
    failed = [e for e in acting if not dry_run and e["outcome"] not in ("deleted", "stopped", "gone")]
    return {
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "dry_run": dry_run,
        "found": len(entries),
        # What the package's resources bill per hour now (prices: core's table); None entries are not in it.
        "usd_per_hour": round(sum(e["usd_per_hour"] or 0.0 for e in entries if e["usd_per_hour"]), 4),
        "to_remove": len(acting),
        "failed": len(failed),
        "removed": [e for e in acting if e not in failed and not dry_run],
        "would_remove": acting if dry_run else [],
        "errors": failed,
        "kept": [e for e in entries if e["action"] == "keep"],
    }


DRY_RUN_VARIABLE = "sagemaker_mlops_reaper_dry_run"
TTL_VARIABLE = "sagemaker_mlops_reaper_ttl_hours"
IDLE_VARIABLE = "sagemaker_mlops_reaper_idle_hours"


def _hours_setting(value: str | None, name: str, default: float, allow_zero: bool) -> float:
    text = (value or "").strip()
    if not text:
        return default
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if not (0 <= hours <= 24 * 30) or (hours == 0 and not allow_zero):
        low = "0 (off)" if allow_zero else "above 0"
        raise ParamError(name, f"{text!r} is not hours from {low} to 720", f"set it to e.g. {default:g}, or unset it")
    return hours


def policy_from(ttl_hours: str | None, idle_hours: str | None) -> Policy:
    """The :class:`Policy` from the Variables' text, in hours (decimals allowed; unset: 24 h TTL, 3 h idle; idle 0
    turns idle deletion off)."""
    ttl = _hours_setting(ttl_hours, TTL_VARIABLE, DEFAULT_TTL_HOURS, allow_zero=False)
    idle = _hours_setting(idle_hours, IDLE_VARIABLE, DEFAULT_IDLE_HOURS, allow_zero=True)
    return Policy(ttl=timedelta(hours=ttl), idle=timedelta(hours=idle) if idle else None)


def is_dry_run(run_type: object, dry_run_param: object, dry_run_variable: str | None) -> bool:
    """The Variable ``sagemaker_mlops_reaper_dry_run`` = "true" (the admin watching a new account) makes every run a
    dry run: a triggerer's ``{"dry_run": false}`` cannot override it. Otherwise a manual trigger follows its
    ``dry_run`` param (on by default: look before you delete) and scheduled runs delete."""
    if (dry_run_variable or "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    if str(getattr(run_type, "value", run_type)) == "manual":
        return dry_run_param is not False  # only an explicit false acts
    return False
