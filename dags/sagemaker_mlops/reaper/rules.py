"""The reaper's rules: which of the package's SageMaker resources to remove, and why (pure, no AWS).

Why a reaper: a run's teardown deletes what it deployed, but a worker killed mid-run, a run marked failed while its
job was deferred, or ``keep_endpoint`` leave resources billing. Every resource the DAGs create carries
``mlops:created-by`` and ``mlops:expires-at`` (and the DAG run it belongs to), so an hourly DAG can find them again.

The rules, in order (the first that applies decides):

* a resource without ``mlops:created-by = airflow-sagemaker-mlops`` is never touched (kept, "not the package's");
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
* an endpoint, endpoint config or model without a valid ``mlops:expires-at`` is kept (reported); one not expired
  yet is kept; an expired one is deleted — an endpoint kept with ``keep_endpoint`` included — except an endpoint
  in transition (Creating, Updating, ...), which AWS refuses to delete: kept, "retry next run".

Deletions are ordered endpoints, then endpoint configs, then models (what serves goes first); tuning jobs are
stopped before training jobs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
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

TAG_ENVIRONMENT = "mlops:environment"  # production_config sets it on the production endpoint's resources

__all__ = ["KINDS", "Decision", "Resource", "plan", "report"]

Kind = Literal["endpoint", "endpoint_config", "model", "tuning_job", "training_job"]
Action = Literal["delete", "stop", "keep"]
KINDS: tuple[Kind, ...] = ("endpoint", "endpoint_config", "model", "tuning_job", "training_job")
JOB_KINDS: frozenset[Kind] = frozenset({"tuning_job", "training_job"})  # stopped, never deleted
RUNNING_JOB = frozenset({"InProgress"})
TRIAL_NAME = re.compile(r"(?P<tuning_job>.+)-[0-9]{3}-[0-9a-f]{8}")  # SageMaker's names of a tuning job's trials
ENDPOINT_IN_TRANSITION = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"})
ALREADY_GOING = frozenset({"Deleting"})


@dataclass(frozen=True)
class Resource:
    """One SageMaker resource as the reaper found it (name, ARN, status where the kind has one, tags)."""

    kind: Kind
    name: str
    arn: str
    status: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    resource: Resource
    action: Action
    reason: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["resource"]["tags"] = dict(self.resource.tags)
        return data


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
    if state in ("running", "queued") and verified:
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


def _decide_deployed(resource: Resource, now: datetime) -> Decision:
    expires = _expiry(resource.tags)
    if expires is None:
        return Decision(
            resource,
            "keep",
            f"no valid {TAG_EXPIRES_AT} tag ({resource.tags.get(TAG_EXPIRES_AT)!r}); delete it by hand if unused",
        )
    if expires > now:
        return Decision(resource, "keep", f"expires at {expires:%Y-%m-%dT%H:%M:%SZ}")
    if resource.status in ALREADY_GOING:
        return Decision(resource, "keep", f"expired; already {resource.status}")
    if resource.status in ENDPOINT_IN_TRANSITION:
        return Decision(
            resource,
            "keep",
            f"expired but {resource.status}: an endpoint in transition cannot be deleted; retry next run",
        )
    return Decision(resource, "delete", f"expired at {expires:%Y-%m-%dT%H:%M:%SZ}")


def _decide(resource: Resource, now: datetime, run_state: RunState) -> Decision:
    if resource.tags.get(TAG_CREATED_BY) != CREATED_BY:
        return Decision(resource, "keep", f"not the package's (no {TAG_CREATED_BY}={CREATED_BY} tag): never touched")
    if resource.tags.get(TAG_ENVIRONMENT) == "production":
        return Decision(resource, "keep", "production (mlops:environment): never reaped")
    if resource.kind in JOB_KINDS:
        return _decide_job(resource, now, run_state)
    return _decide_deployed(resource, now)


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


def plan(resources: Iterable[Resource], now: datetime, run_state: RunState) -> list[Decision]:
    """One decision per resource; those that act come first, endpoints → configs → models → tuning → training jobs."""
    decisions = [_decide(resource, now, run_state) for resource in resources]
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
        }
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
        "to_remove": len(acting),
        "failed": len(failed),
        "removed": [e for e in acting if e not in failed and not dry_run],
        "would_remove": acting if dry_run else [],
        "errors": failed,
        "kept": [e for e in entries if e["action"] == "keep"],
    }


DRY_RUN_VARIABLE = "sagemaker_mlops_reaper_dry_run"


def is_dry_run(run_type: object, dry_run_param: object, dry_run_variable: str | None) -> bool:
    """A manual trigger follows its ``dry_run`` param (on by default: look before you delete); scheduled runs
    delete, unless the Variable ``sagemaker_mlops_reaper_dry_run`` is "true" (watch them first on a new account)."""
    if str(getattr(run_type, "value", run_type)) == "manual":
        return bool(dry_run_param)
    return (dry_run_variable or "").strip().lower() in ("1", "true", "yes", "on")
