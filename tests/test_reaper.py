"""The reaper: only expired, package-tagged resources go, plus running jobs whose DAG run is over; dry runs touch
nothing; each run reports what it found, removed and kept, and why.

The rules are tested pure (``sagemaker_mlops.reaper.rules.plan``); the DAG runs in-process against the emulator with
expired, unexpired, foreign-tagged and untagged resources, and DAG runs in the metadata DB in various states.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.core.tags import resource_tags
from sagemaker_mlops.reaper import rules as reaper
from sagemaker_mlops.reaper.rules import Resource

from constants import ROLE_ARN
from dag_runs import run_dag, xcom
from emulator_helpers import (
    IC_IMAGE,
    all_trials,
    dataset_zip,
    deploy,
    training_request,
    tuning_request,
    upload_zip,
    wait_endpoint,
    wait_training,
    wait_tuning,
)

DAG_ID = "sagemaker_mlops_reaper"
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
    assert reaper.is_dry_run("manual", False, "true") is False
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
def test_the_reaper_removes_only_expired_package_tagged_resources(estate: dict[str, Any], airflow_aws: Any) -> None:
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
@pytest.mark.iam_denied_expected  # its report goes to a bucket that does not exist (and the role may not write)
def test_the_reaper_s_own_failure_fails_the_run(airflow_db: Any, airflow_aws: Any, capfd: Any) -> None:
    run, states = run_dag(DAG_ID, {"dry_run": True, "report_bucket": "mlops-no-such-report-bucket"})
    assert str(run.state) == "failed" and states["reap"] == "failed", states
    out = capfd.readouterr().out
    assert "report_bucket: mlops-no-such-report-bucket does not exist" in out and "Fix:" in out
