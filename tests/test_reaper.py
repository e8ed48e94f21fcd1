"""The reaper: only expired, package-tagged resources go, plus running jobs whose DAG run is over; dry runs touch
nothing; each run reports what it found, removed and kept, and why.

The rules are tested pure (``sagemaker_mlops.reaper.rules.plan``); the DAG runs in-process against the emulator with
expired, unexpired, foreign-tagged and untagged resources, and DAG runs in the metadata DB in various states.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.core.tags import resource_tags
from sagemaker_mlops.reaper import rules as reaper
from sagemaker_mlops.reaper.rules import Resource

from constants import DATA_BUCKET, ROLE_ARN
from dag_runs import run_dag, xcom
from emulator_helpers import (
    IC_IMAGE,
    all_trials,
    completed_job,
    dataset_zip,
    deploy,
    first_png,
    training_request,
    tuning_request,
    upload_zip,
    wait_endpoint,
    wait_training,
    wait_tuning,
)

DAG_ID = "sagemaker_mlops_reaper"
REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAST, FUTURE = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
OWNER_DAG = "mnist_train_deploy"
TUNING_DAG = "mnist_tuning"


def _tags(expires: datetime, run_id: str = "manual__2026-06-01T10:00:00+00:00", dag_id: str = OWNER_DAG) -> dict:
    return resource_tags(dag_id, run_id, expires)


def _r(kind: str, name: str, tags: dict, status: str | None = None) -> Resource:
    return Resource(kind=kind, name=name, arn=f"arn:aws:sagemaker:us-east-1:1:{kind}/{name}", status=status, tags=tags)


def _decided(decisions: list[reaper.Decision]) -> dict[str, tuple[str, str]]:
    return {d.resource.name: (d.action, d.reason) for d in decisions}


# -- the rules, pure ---------------------------------------------------------------------------------------------------
def test_only_expired_package_tagged_deployments_are_deleted() -> None:
    foreign = {**_tags(PAST), "mlops:created-by": "someone-else"}
    resources = [
        _r("endpoint", "mlops-ep-old", _tags(PAST), "InService"),
        _r("endpoint", "mlops-ep-kept-on-purpose", _tags(PAST), "InService"),  # keep_endpoint: same tags
        _r("endpoint", "mlops-ep-new", _tags(FUTURE), "InService"),
        _r("endpoint", "mlops-ep-creating", _tags(PAST), "Creating"),
        _r("endpoint", "mlops-ep-updating", _tags(PAST), "Updating"),
        _r("endpoint", "mlops-ep-deleting", _tags(PAST), "Deleting"),
        _r("endpoint", "mlops-ep-failed", _tags(PAST), "Failed"),
        _r("endpoint_config", "mlops-epc-old", _tags(PAST)),
        _r("model", "mlops-model-old", _tags(PAST)),
        _r("model", "mlops-model-foreign", foreign),
        _r("model", "mlops-model-untagged", {}),
        _r("model", "mlops-model-bad-expiry", {**_tags(PAST), "mlops:expires-at": "tomorrow"}),
    ]
    decided = _decided(reaper.plan(resources, NOW, lambda d, r: None))
    deleted = {name for name, (action, _) in decided.items() if action == "delete"}
    assert deleted == {
        "mlops-ep-old",
        "mlops-ep-kept-on-purpose",
        "mlops-ep-failed",
        "mlops-epc-old",
        "mlops-model-old",
    }
    assert "retry next run" in decided["mlops-ep-creating"][1] and "Updating" in decided["mlops-ep-updating"][1]
    assert "already Deleting" in decided["mlops-ep-deleting"][1]
    assert (
        "never touched" in decided["mlops-model-foreign"][1] and "never touched" in decided["mlops-model-untagged"][1]
    )
    assert "no valid mlops:expires-at" in decided["mlops-model-bad-expiry"][1]
    assert decided["mlops-ep-new"] == ("keep", "expires at 2026-06-01T13:00:00Z")


def test_a_live_run_s_endpoint_is_kept_past_its_ttl_and_deleted_once_the_run_ended() -> None:
    """Issue 19 defect 7: expiry counts from the deployment, and nothing a running run uses is removed."""
    long_ago = NOW - timedelta(days=10)  # a spot run waiting for weeks: its tag (start + 24 h) passed long ago
    tags = _tags(long_ago + timedelta(hours=24), "manual__spot")
    deployed_late = [  # deployed 2 h ago, near the end of that run
        _r("endpoint", "mlops-ep-late", tags, "InService"),
        _r("endpoint_config", "mlops-epc-late", tags),
        _r("model", "mlops-model-late", tags),
    ]
    deployed_late = [dataclasses.replace(r, deployed_at=NOW - timedelta(hours=2)) for r in deployed_late]
    old = [dataclasses.replace(r, deployed_at=long_ago) for r in deployed_late]  # deployed 10 days ago: past any TTL

    def state_is(state: str | None) -> reaper.RunState:
        return lambda dag_id, run_id: state if (dag_id, run_id) == (OWNER_DAG, "manual__spot") else None

    for state in ("running", "queued"):
        decided = _decided(reaper.plan(old, NOW, state_is(state)))
        assert {action for action, _ in decided.values()} == {"keep"}, decided
        assert all(f"is {state}: in use" in reason for _, reason in decided.values())
    for state in ("success", "failed", None):  # ended, or unknown to this Airflow
        assert {a for a, _ in _decided(reaper.plan(old, NOW, state_is(state))).values()} == {"delete"}
        # ... but one deployed 2 h ago has its 24 h from the deployment, whatever the run-start tag says
        decided = _decided(reaper.plan(deployed_late, NOW, state_is(state), reaper.Policy(idle=None)))
        assert set(decided.values()) == {("keep", "expires at 2026-06-02T10:00:00Z")}
    short = reaper.Policy(ttl=timedelta(hours=1), idle=None)
    assert {a for a, _ in _decided(reaper.plan(deployed_late, NOW, state_is("success"), short)).values()} == {"delete"}
    # A later tag (a long TTL chosen on the form) still wins over the deployment's TTL.
    later = [dataclasses.replace(r, tags=_tags(NOW + timedelta(days=3), "manual__spot")) for r in old]
    assert {a for a, _ in _decided(reaper.plan(later, NOW, state_is("success"))).values()} == {"keep"}


def test_only_resources_with_the_package_s_owner_tags_are_acted_on() -> None:
    """Issue 20 item 5: an ``mlops-*`` name, or the created-by tag alone, is not ownership."""
    owned = _tags(PAST)
    resources = [
        _r("endpoint", "mlops-ep-foreign", {}, "InService"),  # someone else's endpoint in the mlops-* space
        _r("endpoint", "mlops-ep-created-by-only", {"mlops:created-by": owned["mlops:created-by"]}, "InService"),
        _r("endpoint", "mlops-ep-no-run", {k: v for k, v in owned.items() if k != "mlops:dag-run-id"}, "InService"),
        _r("endpoint", "mlops-ep-ours", owned, "InService"),
    ]
    resources = [dataclasses.replace(r, deployed_at=NOW - timedelta(days=30)) for r in resources]
    decided = _decided(reaper.plan(resources, NOW, lambda d, r: None))
    assert {name for name, (action, _) in decided.items() if action != "keep"} == {"mlops-ep-ours"}
    for name in ("mlops-ep-foreign", "mlops-ep-created-by-only", "mlops-ep-no-run"):
        assert "never touched" in decided[name][1]


def _used(resource: Resource, last: datetime | None, deployed: datetime, hourly: float = 0.115) -> Resource:
    usage = reaper.Usage(since=NOW - timedelta(days=14), last_invocation=last)
    return dataclasses.replace(resource, usage=usage, deployed_at=deployed, hourly_usd=hourly)


def test_an_idle_endpoint_goes_before_its_ttl_production_is_only_reported() -> None:
    """Issue 22 part 3: no Invocations for the idle window deletes a package endpoint early; never production's,
    never one a running run uses."""
    from sagemaker_mlops.production.production_config import production_tags

    fresh = _tags(FUTURE + timedelta(hours=20))  # TTL far away
    deployed = NOW - timedelta(hours=5)
    resources = [
        _used(_r("endpoint", "mlops-ep-idle", fresh, "InService"), None, deployed),
        _used(_r("endpoint", "mlops-ep-used", fresh, "InService"), NOW - timedelta(minutes=30), deployed),
        _used(_r("endpoint", "mlops-ep-young", fresh, "InService"), None, NOW - timedelta(hours=1)),
        _used(_r("endpoint", "mlops-ep-unread", fresh, "InService"), None, deployed, None),
        _used(
            _r("endpoint", "mlops-ep-elsewhere", _tags(FUTURE, "manual__other-airflow"), "InService"), None, deployed
        ),
        _used(
            _r("endpoint", "mlops-ep-live", _tags(FUTURE, "manual__live"), "InService"), None, NOW - timedelta(days=2)
        ),
        _used(
            _r("endpoint", "mlops-production", production_tags("mnist_deploy_production", "manual__p", "arn:p")),
            NOW - timedelta(hours=50),
            NOW - timedelta(days=9),
            0.23,
        ),
    ]
    resources[3] = dataclasses.replace(resources[3], usage=None)  # CloudWatch could not be read: not idle
    # Idle deletion needs the run known here and over; one unknown (another Airflow, a laptop) waits for expiry.
    live = {(OWNER_DAG, "manual__live"): "running", (OWNER_DAG, "manual__2026-06-01T10:00:00+00:00"): "success"}
    decided = _decided(
        reaper.plan(resources, NOW, lambda d, r: live.get((d, r)), reaper.Policy(idle=timedelta(hours=3)))
    )
    assert {name for name, (action, _) in decided.items() if action == "delete"} == {"mlops-ep-idle"}
    assert decided["mlops-ep-idle"][1] == "idle: no Invocations for 5.0 h (limit 3.0 h)"
    assert "in use" in decided["mlops-ep-live"][1]
    assert "expires at" in decided["mlops-ep-elsewhere"][1]
    assert decided["mlops-production"] == (
        "keep",
        "production (mlops:environment): never reaped; costs 5.52 USD/day, idle 50.0 h",
    )
    assert "expires at" in decided["mlops-ep-used"][1] and "expires at" in decided["mlops-ep-young"][1]
    off = _decided(reaper.plan(resources, NOW, lambda d, r: live.get((d, r)), reaper.Policy(idle=None)))
    assert off["mlops-ep-idle"][0] == "keep"
    result = reaper.report(reaper.plan(resources, NOW, lambda d, r: None), now=NOW, region="us-east-1", dry_run=True)
    production = next(e for e in result["kept"] if e["name"] == "mlops-production")
    assert (production["usd_per_hour"], production["idle_hours"]) == (0.23, 50.0)


def test_the_reaper_s_variables_are_checked() -> None:
    assert reaper.policy_from(None, None) == reaper.Policy(ttl=timedelta(hours=24), idle=timedelta(hours=3))
    assert reaper.policy_from("48", "0") == reaper.Policy(ttl=timedelta(hours=48), idle=None)
    with pytest.raises(ValueError, match=r"sagemaker_mlops_reaper_idle_hours.*Fix"):
        reaper.policy_from("24", "soon")
    with pytest.raises(ValueError, match="sagemaker_mlops_reaper_ttl_hours"):
        reaper.policy_from("0", None)


def test_metric_periods_follow_cloudwatch_retention() -> None:
    from sagemaker_mlops.core.metrics import metric_period

    assert metric_period(NOW - timedelta(hours=3), NOW, NOW) == 60
    assert metric_period(NOW - timedelta(days=14), NOW, NOW) % 60 == 0
    assert (NOW - (NOW - timedelta(days=14))).total_seconds() / metric_period(
        NOW - timedelta(days=14), NOW, NOW
    ) <= 1440
    assert metric_period(NOW - timedelta(days=20), NOW, NOW) % 300 == 0
    assert metric_period(NOW - timedelta(days=70), NOW, NOW) % 3600 == 0


def test_removals_come_first_endpoints_before_configs_before_models() -> None:
    resources = [
        _r("model", "mlops-model-a", _tags(PAST)),
        _r("endpoint_config", "mlops-epc-a", _tags(PAST)),
        _r("model", "mlops-model-keep", _tags(FUTURE)),
        _r("endpoint", "mlops-ep-a", _tags(PAST), "InService"),
    ]
    order = [(d.resource.kind, d.action) for d in reaper.plan(resources, NOW, lambda d, r: None)]
    assert order == [("endpoint", "delete"), ("endpoint_config", "delete"), ("model", "delete"), ("model", "keep")]


def test_running_jobs_are_stopped_only_when_their_dag_run_is_over() -> None:
    runs = {
        "manual__running": "running",
        "manual__queued": "queued",
        "manual__failed": "failed",
        "manual__success": "success",
    }

    def state(dag_id: str, run_id: str) -> str | None:
        return runs.get(run_id) if dag_id == OWNER_DAG else None

    jobs = [
        _r("training_job", "mlops-train-running", _tags(PAST, "manual__running"), "InProgress"),
        _r("training_job", "mlops-train-queued", _tags(FUTURE, "manual__queued"), "InProgress"),
        _r("training_job", "mlops-train-failed", _tags(FUTURE, "manual__failed"), "InProgress"),
        _r("training_job", "mlops-train-success", _tags(FUTURE, "manual__success"), "InProgress"),
        _r("training_job", "mlops-train-unknown", _tags(FUTURE, "manual__elsewhere"), "InProgress"),
        _r("training_job", "mlops-train-unknown-old", _tags(PAST, "manual__elsewhere"), "InProgress"),
        _r("training_job", "mlops-train-done", _tags(PAST, "manual__failed"), "Completed"),
        _r("training_job", "mlops-train-stopping", _tags(PAST, "manual__failed"), "Stopping"),
        _r(
            "training_job",
            "mlops-train-cut-id",
            {**_tags(FUTURE, "manual__failed"), "mlops:run-token": "0" * 10},
            "InProgress",
        ),
        _r(
            "training_job",
            "mlops-train-foreign",
            {**_tags(PAST, "manual__failed"), "mlops:created-by": "x"},
            "InProgress",
        ),
    ]
    decided = _decided(reaper.plan(jobs, NOW, state))
    stopped = {name for name, (action, _) in decided.items() if action == "stop"}
    assert stopped == {"mlops-train-failed", "mlops-train-success", "mlops-train-unknown-old"}
    assert "is running" in decided["mlops-train-running"][1]  # expired, but its run still owns it
    assert "is failed" in decided["mlops-train-failed"][1]
    assert "another environment" in decided["mlops-train-unknown"][1]
    assert "never deleted" in decided["mlops-train-done"][1]
    assert decided["mlops-train-cut-id"][0] == "keep"  # the run id in the tag is not the run's: do not guess


def test_running_tuning_jobs_follow_the_job_rules_and_their_trials_their_tuning_job() -> None:
    runs = {"manual__running": "running", "manual__failed": "failed"}

    def state(dag_id: str, run_id: str) -> str | None:
        return runs.get(run_id) if dag_id == TUNING_DAG else None

    def tuning(name: str, tags: dict, status: str = "InProgress") -> Resource:
        return _r("tuning_job", name, tags, status)

    def trial(tuning_job: str, index: int, tags: dict, status: str = "InProgress") -> Resource:
        return _r("training_job", f"{tuning_job}-{index:03d}-0123abcd", tags, status)

    over, live = _tags(FUTURE, "manual__failed", TUNING_DAG), _tags(PAST, "manual__running", TUNING_DAG)
    resources = [
        tuning("mlops-hpo-orphan", over),
        trial("mlops-hpo-orphan", 1, over),
        trial("mlops-hpo-orphan", 2, over, "Stopping"),
        tuning("mlops-hpo-live", live),  # expired, but its run still owns it
        trial("mlops-hpo-live", 1, live),
        tuning("mlops-hpo-unknown-old", _tags(PAST, "manual__elsewhere", TUNING_DAG)),
        tuning("mlops-hpo-unknown", _tags(FUTURE, "manual__elsewhere", TUNING_DAG)),
        # Its expiry pushed back by hand after the trial launched (AddTags): the trial follows its tuning job.
        tuning("mlops-hpo-extended", _tags(FUTURE, "manual__elsewhere", TUNING_DAG)),
        trial("mlops-hpo-extended", 1, _tags(PAST, "manual__elsewhere", TUNING_DAG)),
        tuning("mlops-hpo-foreign", {**over, "mlops:created-by": "x"}),
        tuning("mlops-hpo-done", over, "Completed"),
        # A trial whose tuning job was not listed (already Stopping): a running training job like any other.
        trial("mlops-hpo-stopping", 1, over),
    ]
    decisions = reaper.plan(resources, NOW, state)
    decided = _decided(decisions)
    stopped = [(d.resource.kind, d.resource.name) for d in decisions if d.action == "stop"]
    assert stopped == [  # tuning jobs first: none launches a trial after its trials were stopped
        ("tuning_job", "mlops-hpo-orphan"),
        ("tuning_job", "mlops-hpo-unknown-old"),
        ("training_job", "mlops-hpo-stopping-001-0123abcd"),
    ]
    assert decided["mlops-hpo-orphan"][1] == (
        "still InProgress but its DAG run mnist_tuning / manual__failed is failed"
    )
    assert "which is stopped: SageMaker stops its trials" in decided["mlops-hpo-orphan-001-0123abcd"][1]
    assert decided["mlops-hpo-orphan-002-0123abcd"] == ("keep", "already Stopping")
    assert "is running" in decided["mlops-hpo-live"][1] and "is running" in decided["mlops-hpo-live-001-0123abcd"][1]
    assert "another environment" in decided["mlops-hpo-unknown"][1]
    extended = decided["mlops-hpo-extended-001-0123abcd"]
    assert extended[0] == "keep" and "which is kept" in extended[1] and "launch the next" in extended[1]
    assert "never touched" in decided["mlops-hpo-foreign"][1]
    assert "tuning jobs are never deleted" in decided["mlops-hpo-done"][1]


class _Listing:
    """A SageMaker client with canned List pages that records what it was asked (sweep, no AWS)."""

    def __init__(self, pages: dict[str, list[dict]], tags: dict[str, dict[str, str]]) -> None:
        self.pages, self.tags = pages, tags
        self.asked: dict[str, dict] = {}
        self.calls: list[tuple[str, str]] = []

    def get_paginator(self, operation: str) -> Any:
        client = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> list[dict]:
                if operation == "list_tags":
                    tags = client.tags.get(kwargs["ResourceArn"], {})
                    return [{"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
                client.asked[operation] = kwargs
                return client.pages.get(operation, [{}])

        return Paginator()

    def describe_hyper_parameter_tuning_job(self, HyperParameterTuningJobName: str) -> dict:
        self.calls.append(("DescribeHyperParameterTuningJob", HyperParameterTuningJobName))
        return {
            "HyperParameterTuningJobName": HyperParameterTuningJobName,
            "HyperParameterTuningJobStatus": "InProgress",
        }

    def stop_hyper_parameter_tuning_job(self, HyperParameterTuningJobName: str) -> None:
        self.calls.append(("StopHyperParameterTuningJob", HyperParameterTuningJobName))

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the sweep called {name}, which this test did not expect")


def test_the_sweep_lists_running_mlops_tuning_jobs_and_stops_one_without_its_trials() -> None:
    from sagemaker_mlops.reaper import sweep

    arn = "arn:aws:sagemaker:us-east-1:1:hyper-parameter-tuning-job/"
    summaries = [
        {"HyperParameterTuningJobName": n, "HyperParameterTuningJobArn": arn + n, "HyperParameterTuningJobStatus": s}
        for n, s in (("mlops-hpo-orphan", "InProgress"), ("team-mlops-hpo", "InProgress"))
    ]
    trial = "mlops-hpo-orphan-001-0123abcd"
    pages = {
        "list_hyper_parameter_tuning_jobs": [{"HyperParameterTuningJobSummaries": summaries}],
        "list_training_jobs": [
            {
                "TrainingJobSummaries": [
                    {"TrainingJobName": trial, "TrainingJobArn": f"arn:t/{trial}", "TrainingJobStatus": "InProgress"}
                ]
            }
        ],
    }
    tags = _tags(PAST, "manual__gone", TUNING_DAG)
    client = _Listing(pages, {arn + "mlops-hpo-orphan": tags, f"arn:t/{trial}": tags})
    found = sweep.inventory(client)
    assert client.asked["list_hyper_parameter_tuning_jobs"] == {"NameContains": "mlops-", "StatusEquals": "InProgress"}
    assert client.asked["list_training_jobs"] == {"NameContains": "mlops-", "StatusEquals": "InProgress"}
    assert [(r.kind, r.name, r.status, dict(r.tags)) for r in found] == [
        ("tuning_job", "mlops-hpo-orphan", "InProgress", tags),  # "team-mlops-hpo" is not the package's name
        ("training_job", trial, "InProgress", tags),
    ]
    decisions = reaper.plan(found, NOW, lambda d, r: None)  # its run unknown here, and expired
    outcomes = sweep.carry_out(client, decisions)
    assert client.calls == [
        ("DescribeHyperParameterTuningJob", "mlops-hpo-orphan"),
        ("StopHyperParameterTuningJob", "mlops-hpo-orphan"),
    ]  # and nothing on the trial: stopping the tuning job stops it
    assert outcomes == {arn + "mlops-hpo-orphan": "stopped"}
    entries = reaper.report(decisions, now=NOW, region="us-east-1", dry_run=False, done=outcomes)
    assert [(e["kind"], e["name"], e["outcome"]) for e in entries["removed"]] == [
        ("tuning_job", "mlops-hpo-orphan", "stopped")
    ]
    assert [(e["kind"], e["name"]) for e in entries["kept"]] == [("training_job", trial)]


def test_dry_run_is_the_default_of_manual_triggers_only() -> None:
    assert reaper.is_dry_run("manual", True, None) is True
    # Issue 20 review: the admin's Variable wins over a triggerer's {"dry_run": false}
    assert reaper.is_dry_run("manual", False, "true") is True
    assert reaper.is_dry_run("manual", False, None) is False
    assert reaper.is_dry_run("scheduled", True, None) is False
    assert reaper.is_dry_run("scheduled", True, "True") is True


def test_the_report_says_what_was_removed_kept_and_why() -> None:
    decisions = reaper.plan(
        [
            _r("model", "mlops-model-old", _tags(PAST)),
            _r("model", "mlops-model-bad", _tags(PAST)),
            _r("model", "mlops-model-new", _tags(FUTURE)),
        ],
        NOW,
        lambda d, r: None,
    )
    done = {decisions[0].resource.arn: "error: AccessDenied", decisions[1].resource.arn: "deleted"}
    result = reaper.report(decisions, now=NOW, region="us-east-1", dry_run=False, done=done)
    assert (result["found"], result["to_remove"], result["failed"]) == (3, 2, 1)
    assert [e["name"] for e in result["removed"]] == ["mlops-model-old"]
    assert [e["outcome"] for e in result["errors"]] == ["error: AccessDenied"]
    assert [e["name"] for e in result["kept"]] == ["mlops-model-new"]
    dry = reaper.report(decisions, now=NOW, region="us-east-1", dry_run=True)
    assert dry["removed"] == [] and len(dry["would_remove"]) == 2 and dry["failed"] == 0
    json.dumps(result)


# -- the DAG on the emulator -------------------------------------------------------------------------------------------
def _dag_run(dag_id: str, run_id: str, state: str) -> None:
    """A DAG run row, as the scheduler would have left it."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType

    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).delete()
        session.add(
            DagRun(dag_id=dag_id, run_id=run_id, run_type=DagRunType.MANUAL, state=state, run_after=datetime.now(UTC))
        )


@pytest.fixture()
def estate(airflow_db: Any, airflow_aws: Any, aws: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Expired, unexpired, foreign-tagged and untagged resources, and running jobs of over and running DAG runs."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    now = datetime.now(UTC)
    past, future = now - timedelta(hours=2), now + timedelta(hours=2)
    sm = aws("sagemaker")
    samples = upload_zip(aws("s3"), dataset_zip(tmp_path), "mlops-test-bucket", "ch06")
    # CreateModel refuses model data that does not exist (as SageMaker does): the planted models share one object.
    aws("s3").put_object(Bucket="mlops-test-bucket", Key="m.tar.gz", Body=b"planted model")

    def as_list(tags: dict[str, str]) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in tags.items()]

    def model(name: str, tags: dict[str, str]) -> None:
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE_ARN,
            Tags=as_list(tags) if tags else [],
            PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": "s3://mlops-test-bucket/m.tar.gz"},
        )

    # A real, served model: an expired endpoint in service, as keep_endpoint leaves it.
    sm.create_training_job(
        **training_request(
            "mlops-train-done", "mlops-test-bucket", "ch06", samples, Tags=as_list(_tags(past, "manual__done"))
        )
    )
    artifact = wait_training(sm, "mlops-train-done")["ModelArtifacts"]["S3ModelArtifacts"]
    deploy(sm, artifact, "mlops-old")
    for arn in (
        sm.describe_model(ModelName="mlops-old")["ModelArn"],
        sm.describe_endpoint_config(EndpointConfigName="mlops-old")["EndpointConfigArn"],
        sm.describe_endpoint(EndpointName="mlops-old")["EndpointArn"],
    ):
        sm.add_tags(ResourceArn=arn, Tags=as_list(_tags(past, "manual__old")))
    wait_endpoint(sm, "mlops-old")
    # Expired but still Creating: AWS cannot delete it yet.
    airflow_aws.settings(endpoint_create_seconds=120)
    sm.create_endpoint(
        EndpointName="mlops-creating", EndpointConfigName="mlops-old", Tags=as_list(_tags(past, "manual__old"))
    )
    airflow_aws.settings(endpoint_create_seconds=0.2)
    model("mlops-model-fresh", _tags(future))
    model("mlops-model-foreign", {**_tags(past), "mlops:created-by": "another-team"})
    model("mlops-model-untagged", {})
    model("prod-model", _tags(past))  # the package's tag, but not its name: never even looked at
    # Jobs still training: one whose DAG run failed, one whose DAG run is still running.
    airflow_aws.settings(starting_seconds=300)
    for name, run_id in (("mlops-train-orphan", "manual__orphan"), ("mlops-train-live", "manual__live")):
        sm.create_training_job(
            **training_request(name, "mlops-test-bucket", "ch06", samples, Tags=as_list(_tags(future, run_id)))
        )
    _dag_run(OWNER_DAG, "manual__orphan", "failed")
    _dag_run(OWNER_DAG, "manual__live", "running")
    # Tuning jobs still launching trials (one at a time, each still Starting): one whose DAG run failed, one whose
    # run is still running, and one of another team's (expired, its run failed too). Their trials carry their tags.
    for name, run_id, tags in (
        ("mlops-hpo-orphan", "manual__hpo-orphan", {}),
        ("mlops-hpo-live", "manual__hpo-live", {}),
        ("mlops-hpo-foreign", "manual__hpo-orphan", {"mlops:created-by": "another-team"}),
    ):
        request = tuning_request(name, "mlops-test-bucket", "ch06", samples, jobs=2, parallel=1)
        request["TrainingJobDefinition"]["HyperParameterTuningResourceConfig"]["InstanceType"] = "ml.p3.2xlarge"
        request["Tags"] = as_list({**_tags(past if tags else future, run_id, TUNING_DAG), **tags})
        sm.create_hyper_parameter_tuning_job(**request)
    _dag_run(TUNING_DAG, "manual__hpo-orphan", "failed")
    _dag_run(TUNING_DAG, "manual__hpo-live", "running")
    deadline = time.monotonic() + 30
    while len(_trials(sm)) < 3:  # each tuning job's first trial has started
        assert time.monotonic() < deadline, _trials(sm)
        time.sleep(0.05)
    # Deployed 2 h ago (past the test's 1 h TTL), so their tags decide (past or future), not the clock's progress.
    served = ["mlops-old", "mlops-creating", "mlops-model-fresh", "mlops-model-foreign", "mlops-model-untagged"]
    _deployed_hours_ago(aws, [*served, "prod-model"], DEPLOYED_HOURS_AGO)
    airflow_aws.clear_requests()
    yield {"sm": sm, "s3": aws("s3")}
    with create_session() as session:
        session.execute(
            delete(DagRun).where(DagRun.dag_id == OWNER_DAG, DagRun.run_id.in_(["manual__orphan", "manual__live"]))
        )
        session.execute(
            delete(DagRun).where(
                DagRun.dag_id == TUNING_DAG, DagRun.run_id.in_(["manual__hpo-orphan", "manual__hpo-live"])
            )
        )


def _trials(sm: Any, tuning_job: str | None = None) -> dict[str, str]:
    """Trial name -> status, of one tuning job or of all three of the estate."""
    names = [tuning_job] if tuning_job else ["mlops-hpo-orphan", "mlops-hpo-live", "mlops-hpo-foreign"]
    return {t["TrainingJobName"]: t["TrainingJobStatus"] for name in names for t in all_trials(sm, name)}


def _names(sm: Any) -> dict[str, set[str]]:
    return {
        "endpoints": {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]},
        "configs": {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]},
        "models": {m["ModelName"] for m in sm.list_models()["Models"]},
        "running": {
            j["TrainingJobName"] for j in sm.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]
        },
        "tuning": {
            j["HyperParameterTuningJobName"]
            for j in sm.list_hyper_parameter_tuning_jobs(StatusEquals="InProgress")["HyperParameterTuningJobSummaries"]
        },
    }


@pytest.mark.e2e
def test_the_reaper_removes_only_expired_package_tagged_resources(
    estate: dict[str, Any], airflow_aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Deployed 2 h ago (the estate): a TTL of 1 h from the deployment lets their run-start tags decide (past or
    # future). A TTL of 1 s from a deployment seconds ago once left mlops-old unexpired on a loaded CI machine.
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_REAPER_TTL_HOURS", "1")
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_REAPER_IDLE_HOURS", "0")
    sm = estate["sm"]
    before = _names(sm)
    trials = {
        name: next(iter(_trials(sm, name))) for name in ("mlops-hpo-orphan", "mlops-hpo-live", "mlops-hpo-foreign")
    }
    assert before["tuning"] == set(trials) and set(trials.values()) <= before["running"]
    run, states = run_dag(DAG_ID, {"dry_run": True})
    assert str(run.state) == "success", states
    assert _names(sm) == before  # a dry run deletes nothing
    assert not {a for a in airflow_aws.actions("sagemaker") if a.startswith(("Delete", "Stop"))}
    dry = xcom(run, "reap")
    assert {(e["kind"], e["name"]) for e in dry["would_remove"]} == {
        ("endpoint", "mlops-old"),
        ("endpoint_config", "mlops-old"),
        ("model", "mlops-old"),
        ("tuning_job", "mlops-hpo-orphan"),
        ("training_job", "mlops-train-orphan"),
    }
    dry_kept = {e["name"]: e["reason"] for e in dry["kept"]}
    assert "a trial of tuning job mlops-hpo-orphan, which is stopped" in dry_kept[trials["mlops-hpo-orphan"]]

    run, states = run_dag(DAG_ID, {"dry_run": False})
    assert str(run.state) == "success", states
    after = _names(sm)
    assert after["endpoints"] == {"mlops-creating"}  # in transition: kept, retried next run
    assert after["configs"] == set()
    assert after["models"] == {"mlops-model-fresh", "mlops-model-foreign", "mlops-model-untagged", "prod-model"}
    assert after["tuning"] == {"mlops-hpo-live", "mlops-hpo-foreign"}
    assert after["running"] == {"mlops-train-live", trials["mlops-hpo-live"], trials["mlops-hpo-foreign"]}
    # Stopping the tuning job stopped its trial (SageMaker's doing, not a StopTrainingJob of the reaper's), and it
    # launched no other.
    assert wait_tuning(sm, "mlops-hpo-orphan", timeout=20)["HyperParameterTuningJobStatus"] == "Stopped"
    assert _trials(sm, "mlops-hpo-orphan") == {trials["mlops-hpo-orphan"]: "Stopped"}
    acted = [a for a in airflow_aws.actions("sagemaker") if a.startswith("Stop")]
    assert sorted(acted) == ["StopHyperParameterTuningJob", "StopTrainingJob"]  # mlops-train-orphan's
    assert sm.describe_training_job(TrainingJobName="mlops-train-orphan")["TrainingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    assert sm.describe_training_job(TrainingJobName="mlops-train-done")["TrainingJobStatus"] == "Completed"
    result = xcom(run, "reap")
    removed = {(e["kind"], e["name"], e["outcome"]) for e in result["removed"]}
    assert removed == {
        ("endpoint", "mlops-old", "deleted"),
        ("endpoint_config", "mlops-old", "deleted"),
        ("model", "mlops-old", "deleted"),
        ("tuning_job", "mlops-hpo-orphan", "stopped"),
        ("training_job", "mlops-train-orphan", "stopped"),
    }
    kept = {e["name"]: e["reason"] for e in result["kept"]}
    assert "retry next run" in kept["mlops-creating"] and "is running" in kept["mlops-train-live"]
    assert "never touched" in kept["mlops-model-foreign"] and "never touched" in kept["mlops-model-untagged"]
    assert "is running" in kept["mlops-hpo-live"] and "is running" in kept[trials["mlops-hpo-live"]]
    assert "never touched" in kept["mlops-hpo-foreign"] and "never touched" in kept[trials["mlops-hpo-foreign"]]
    assert "prod-model" not in kept
    # No call named a resource outside mlops-* (the IAM policy would refuse it anyway).
    assert not [r for r in airflow_aws.requests() if "prod-model" in json.dumps(r)]
    bucket, key = result["report_uri"][5:].split("/", 1)
    stored = json.loads(estate["s3"].get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored["removed"] == result["removed"] and key.startswith("reaper/")


DEPLOYED_HOURS_AGO = 2  # the fixture's endpoints were deployed this long ago (past the tests' 1 h TTL and idle window)


def _deployed_hours_ago(aws: Any, names: list[str], hours: float) -> None:
    """Move the emulator's deployment time of ``names`` back by ``hours``, as if deployed that long ago: the tests'
    TTL and idle window can then be an hour, far from any run's duration (with a 1 s window a loaded machine took
    longer than that between the busy endpoint's invocation and the sweep, and reaped it as idle)."""
    from moto.sagemaker.models import sagemaker_backends

    sm = aws("sagemaker")
    account = aws("sts").get_caller_identity()["Account"]
    backend = sagemaker_backends[account][sm.meta.region_name]
    back = timedelta(hours=hours)
    for name in names:
        if name in backend.endpoints:
            endpoint = backend.endpoints[name]
            endpoint.creation_time = endpoint.last_modified_time = endpoint.last_modified_time - back
        for kind in (backend.endpoint_configs, backend._models):
            if name in kind:
                kind[name].creation_time -= back


@pytest.fixture()
def endpoints(airflow_db: Any, airflow_aws: Any, aws: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Served endpoints (ml.m5.xlarge): one of a running DAG run, one of an ended run, an idle and a busy one of
    ended runs (tags far from expiry), and a foreign ``mlops-*`` endpoint without the package's tags."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    sm, now = aws("sagemaker"), datetime.now(UTC)
    airflow_aws.set_quota("ml.m5.xlarge for endpoint usage", 5)  # the account default (4) is one short here
    artifact = completed_job(aws, dataset_zip(tmp_path), "mlops-test-bucket", "ch06", "mlops-train-ep")
    artifact = artifact["ModelArtifacts"]["S3ModelArtifacts"]
    plan = {
        "mlops-live": _tags(now - timedelta(days=9), "manual__live"),  # a long run: its start-tag passed long ago
        "mlops-ended": _tags(now - timedelta(days=9), "manual__ended"),
        "mlops-idle": _tags(now + timedelta(days=2), "manual__ended"),
        "mlops-busy": _tags(now + timedelta(days=2), "manual__ended"),
        "mlops-foreign": {},
    }
    for name, tags in plan.items():
        deploy(sm, artifact, name)
        for arn in (
            sm.describe_model(ModelName=name)["ModelArn"],
            sm.describe_endpoint_config(EndpointConfigName=name)["EndpointConfigArn"],
            sm.describe_endpoint(EndpointName=name)["EndpointArn"],
        ):
            if tags:
                sm.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    for name in plan:
        wait_endpoint(sm, name)
    _dag_run(OWNER_DAG, "manual__live", "running")
    _dag_run(OWNER_DAG, "manual__ended", "success")
    _deployed_hours_ago(aws, list(plan), DEPLOYED_HOURS_AGO)
    png, _ = first_png(dataset_zip(tmp_path / "png"))
    aws("sagemaker-runtime").invoke_endpoint(EndpointName="mlops-busy", ContentType="application/x-image", Body=png)
    airflow_aws.clear_requests()
    yield {"sm": sm, "plan": plan}
    with create_session() as session:
        session.execute(
            delete(DagRun).where(DagRun.dag_id == OWNER_DAG, DagRun.run_id.in_(["manual__live", "manual__ended"]))
        )


@pytest.mark.e2e
def test_a_live_run_s_endpoint_stays_foreign_ones_are_untouched_idle_ones_go(
    endpoints: dict[str, Any], airflow_aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issues 19.7, 20.5, 22.3 on the emulator: expiry from the deployment, never what a running run uses, never a
    foreign ``mlops-*`` endpoint, idle (no ``Invocations`` in CloudWatch) before the TTL."""
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_REAPER_TTL_HOURS", "1")  # the deployments are 2 h old
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_REAPER_IDLE_HOURS", "1")
    sm = endpoints["sm"]
    run, states = run_dag(DAG_ID, {"dry_run": True})
    assert str(run.state) == "success", states
    dry = xcom(run, "reap")
    assert {(e["kind"], e["name"]) for e in dry["would_remove"]} == {
        ("endpoint", "mlops-ended"),
        ("endpoint_config", "mlops-ended"),
        ("model", "mlops-ended"),
        ("endpoint", "mlops-idle"),
    }
    priced = {(e["kind"], e["name"]): e["usd_per_hour"] for e in dry["would_remove"] + dry["kept"]}
    assert priced[("endpoint", "mlops-idle")] == 0.23 and priced[("model", "mlops-ended")] == 0.0  # ml.m5.xlarge
    assert priced[("endpoint", "mlops-foreign")] is None  # nothing read about it
    assert dry["usd_per_hour"] == round(4 * 0.23, 4)
    assert {a for a in airflow_aws.actions("sagemaker") if a.startswith("Delete")} == set()
    # Nothing but its listing and tags was asked about the foreign endpoint (no Describe, no metrics, no delete).
    foreign = {r["action"] for r in airflow_aws.requests() if "mlops-foreign" in json.dumps(r)}
    assert foreign <= {"ListTags"}, foreign
    kept = {e["name"]: e["reason"] for e in dry["kept"] if e["kind"] == "endpoint"}
    assert "is running: in use" in kept["mlops-live"] and "never touched" in kept["mlops-foreign"]
    assert "expires at" in kept["mlops-busy"]
    idle = {e["name"]: e.get("idle_hours") for e in dry["would_remove"] + dry["kept"] if e["kind"] == "endpoint"}
    # Its Invocations were read: invoked just now (within CloudWatch's whole-second timestamps), unlike mlops-idle.
    assert idle["mlops-busy"] < 0.1 and idle["mlops-idle"] >= DEPLOYED_HOURS_AGO

    run, states = run_dag(DAG_ID, {"dry_run": False})
    assert str(run.state) == "success", states
    assert _names(sm)["endpoints"] == {"mlops-live", "mlops-busy", "mlops-foreign"}
    assert _names(sm)["models"] == {"mlops-live", "mlops-idle", "mlops-busy", "mlops-foreign"}  # idle: only what bills
    # The run ends: the same endpoint, now past its TTL from the deployment, goes.
    _dag_run(OWNER_DAG, "manual__live", "success")
    run, states = run_dag(DAG_ID, {"dry_run": False})
    assert str(run.state) == "success", states
    assert _names(sm)["endpoints"] == {"mlops-busy", "mlops-foreign"}
    assert "mlops-foreign" in _names(sm)["configs"]


def _reap_cli(emulator_url: str, *args: str) -> str:
    import subprocess

    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": emulator_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    env.pop("AWS_PROFILE", None)
    done = subprocess.run(
        ["make", "-s", "reap", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.e2e
def test_make_reap_lists_the_package_with_its_cost_and_deletes_only_with_apply(
    endpoints: dict[str, Any], airflow_aws: Any
) -> None:
    """Issue 21 item 6: from a laptop, through the DAG's sweep: a dry run by default, APPLY=1 acts."""
    sm = endpoints["sm"]
    out = _reap_cli(airflow_aws.url, "REAP_ARGS=--ttl-hours 0.0003")
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("endpoint ")}
    assert "0.230" in lines["mlops-idle"] and "keep" in lines["mlops-idle"]  # runs unknown here: no idle deletion
    assert "delete (dry run: not done)" in lines["mlops-ended"] and "delete (dry run" in lines["mlops-live"]
    assert "never touched" in lines["mlops-foreign"]
    assert "bills 0.920 USD/h now" in out  # four of the package's endpoints; the foreign one is not priced
    assert not [a for a in airflow_aws.actions("sagemaker") if a.startswith("Delete")]
    assert len(_names(sm)["endpoints"]) == 5
    out = _reap_cli(airflow_aws.url, "APPLY=1", "REAP_ARGS=--ttl-hours 0.0003")
    # A laptop knows no DAG runs: what expired goes (the live run's too: its run is unknown here, as from another
    # Airflow), what has not expired stays, and the foreign endpoint is untouched.
    assert _names(sm)["endpoints"] == {"mlops-idle", "mlops-busy", "mlops-foreign"}
    assert "applied" in out


def test_one_failed_removal_does_not_stop_the_others_and_is_reported() -> None:
    from botocore.exceptions import ClientError

    from sagemaker_mlops.reaper import sweep

    class Denying:
        def __init__(self) -> None:
            self.deleted: list[str] = []

        def delete_model(self, ModelName: str) -> None:
            if ModelName == "mlops-model-a":
                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DeleteModel")
            self.deleted.append(ModelName)

    decisions = reaper.plan(
        [_r("model", "mlops-model-a", _tags(PAST)), _r("model", "mlops-model-b", _tags(PAST))], NOW, lambda d, r: None
    )
    client = Denying()
    outcomes = sweep.carry_out(client, decisions)
    assert client.deleted == ["mlops-model-b"]
    assert outcomes[decisions[0].resource.arn].startswith("error: ClientError")
    assert reaper.report(decisions, now=NOW, region="r", dry_run=False, done=outcomes)["failed"] == 1


@pytest.mark.e2e
def test_on_a_fresh_install_the_reaper_only_logs_its_report(airflow_db: Any, airflow_aws: Any, caplog: Any) -> None:
    """The Variable's bucket is created by pipeline 1's first run: until then, no red reaper runs."""
    run, states = run_dag(DAG_ID, {"dry_run": False})
    assert str(run.state) == "success", states
    assert "report_uri" not in xcom(run, "reap")
    assert "does not exist yet: report only logged" in caplog.text


@pytest.mark.e2e
def test_the_form_cannot_choose_where_the_report_goes(airflow_db: Any, airflow_aws: Any, aws: Any) -> None:
    """Issue 20 review: a report written into ``<prefix>/datasets/<sha256>/validation_lst`` made every later upload of
    that zip refuse (its content-addressed prefix held a stray object). The report's place is the admin's: a conf
    ``report_bucket``/``report_prefix`` fails the run before anything is written."""
    s3 = aws("s3")
    s3.create_bucket(Bucket=DATA_BUCKET)
    prefix = f"ch06/datasets/{'a' * 64}"
    for conf in ({"report_prefix": f"{prefix}/validation_lst"}, {"report_bucket": DATA_BUCKET}):
        run, states = run_dag(DAG_ID, {"dry_run": True, **conf})
        assert str(run.state) == "failed" and states["reap"] == "failed", (conf, states)
    assert not s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="ch06/").get("Contents")
    run, states = run_dag(DAG_ID, {"dry_run": True}, datetime(2026, 6, 3, tzinfo=UTC))
    assert str(run.state) == "success", states
    assert xcom(run, "reap")["report_uri"].startswith(f"s3://{DATA_BUCKET}/reaper/")


def _without_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A laptop where boto3 finds nothing: no credential variables, no profile files, no instance metadata."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "AIRFLOW_CONN_")) or name == "REAP_CONN_ID":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_make_reap_without_credentials_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Issue 21 review: `make reap` on a laptop without credentials ended in botocore's traceback."""
    import importlib.util

    _without_aws_credentials(monkeypatch, tmp_path)
    spec = importlib.util.spec_from_file_location("reap_cli", REPO / "include" / "dev" / "reap.py")
    assert spec and spec.loader
    reap_cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reap_cli)
    with pytest.raises(SystemExit) as exit_info:
        reap_cli.main(["--region", "us-east-1"])
    message = str(exit_info.value.code)
    assert "no AWS credentials" in message and "CONN=" in message and "\n" not in message
    with pytest.raises(SystemExit) as exit_info:
        reap_cli.main([])
    assert "REGION=<region>" in str(exit_info.value.code)
