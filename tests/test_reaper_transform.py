"""The reaper stops the holdout evaluation's batch transform jobs that a killed or failed run left running.

A transform job bills its instances until it ends; the run's own teardown (``stop_transform_jobs``) stops it, but a
worker killed mid-run leaves it. Same rules as training jobs: only the package's (tagged, ``mlops-`` named), only
when its DAG run is over, never deleted. The rules pure first, then the sweep against the emulator.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from test_emulator_transform import holdout, model, transform_request, wait_transform  # noqa: F401 (fixtures)

from sagemaker_mlops.core.tags import resource_tags
from sagemaker_mlops.reaper import rules as reaper
from sagemaker_mlops.reaper.rules import Resource

OWNER_DAG = "mnist_incremental_spot"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _tags(expires: datetime, run_id: str) -> dict[str, str]:
    return resource_tags(OWNER_DAG, run_id, expires)


def test_a_running_transform_job_is_stopped_only_when_its_run_is_over_and_never_deleted() -> None:
    runs = {"manual__failed": "failed", "manual__running": "running"}

    def state(dag_id: str, run_id: str) -> str | None:
        return runs.get(run_id) if dag_id == OWNER_DAG else None

    arn = "arn:aws:sagemaker:us-east-1:1:transform-job/"
    jobs = [
        Resource("transform_job", n, arn + n, s, t)
        for n, s, t in (
            ("mlops-eval-failed", "InProgress", _tags(NOW + timedelta(hours=1), "manual__failed")),
            ("mlops-eval-running", "InProgress", _tags(NOW - timedelta(hours=1), "manual__running")),
            ("mlops-eval-done", "Completed", _tags(NOW - timedelta(hours=1), "manual__failed")),
            ("mlops-eval-foreign", "InProgress", {**_tags(NOW, "manual__failed"), "mlops:created-by": "x"}),
        )
    ]
    decided = {d.resource.name: (d.action, d.reason) for d in reaper.plan(jobs, NOW, state)}
    assert {name for name, (action, _) in decided.items() if action != "keep"} == {"mlops-eval-failed"}
    assert decided["mlops-eval-failed"] == (
        "stop",
        f"still InProgress but its DAG run {OWNER_DAG} / manual__failed is failed",
    )
    assert "is running" in decided["mlops-eval-running"][1]
    assert "never deleted" in decided["mlops-eval-done"][1] and "never touched" in decided["mlops-eval-foreign"][1]


def test_the_sweep_finds_prices_and_stops_an_orphaned_transform_job_and_nothing_else(
    aws: Any,
    model: str,  # noqa: F811
    holdout: dict[str, bytes],  # noqa: F811
    emulator: Any,
) -> None:
    from sagemaker_mlops.reaper import sweep

    sm = aws("sagemaker")
    emulator.set_quota("ml.m5.large for transform job usage", 10)
    emulator.settings(starting_seconds=300)  # every job stays InProgress until stopped
    now = datetime.now(UTC)
    runs = {"manual__orphan": "failed", "manual__live": "running"}
    planted = {
        "mlops-eval-orphan": _tags(now + timedelta(hours=1), "manual__orphan"),
        "mlops-eval-live": _tags(now + timedelta(hours=1), "manual__live"),
        "mlops-eval-foreign": {**_tags(now - timedelta(hours=1), "manual__orphan"), "mlops:created-by": "another"},
        "team-eval": _tags(now - timedelta(hours=1), "manual__orphan"),  # the package's tags, not its name
    }
    for name, tags in planted.items():
        sm.create_transform_job(**transform_request(name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]))
    try:
        found = sweep.price_and_use(sm, None, sweep.inventory(sm), now)
        jobs = {r.name: r for r in found if r.kind == "transform_job"}
        assert set(jobs) == {"mlops-eval-orphan", "mlops-eval-live", "mlops-eval-foreign"}
        assert jobs["mlops-eval-orphan"].hourly_usd == 0.115  # one ml.m5.large at the inference price
        assert jobs["mlops-eval-foreign"].hourly_usd is None  # nothing is read about what is not the package's
        decisions = reaper.plan(found, now, lambda dag_id, run_id: runs.get(run_id))
        emulator.settings(starting_seconds=0.5)  # a stopped job lets go of its instances as long as they took to start
        outcomes = sweep.carry_out(sm, decisions)
        assert outcomes == {jobs["mlops-eval-orphan"].arn: "stopped"}
        assert wait_transform(sm, "mlops-eval-orphan")["TransformJobStatus"] == "Stopped"
        for name in ("mlops-eval-live", "mlops-eval-foreign", "team-eval"):
            assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "InProgress", name
        report = reaper.report(decisions, now=now, region="us-east-1", dry_run=False, done=outcomes)
        assert [(e["kind"], e["name"], e["outcome"]) for e in report["removed"]] == [
            ("transform_job", "mlops-eval-orphan", "stopped")
        ]
    finally:
        for name in planted:
            if sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "InProgress":
                sm.stop_transform_job(TransformJobName=name)
