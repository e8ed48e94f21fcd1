"""A fresh install does not start with a red run (issue 11, item 8).

Unpaused, pipeline 2's cron fires at once (catchup=False still creates the latest interval's run); with no model
published yet, that run — or an asset-triggered one whose event names no job — must end skipped with the reason,
training nothing. A manual trigger without a base model still fails, naming the fix.
"""

from __future__ import annotations

from typing import Any

import pytest

from dag_runs import ACTIONS_THAT_CREATE, run_dag

DAG_ID = "mnist_incremental_spot"
MODEL_ASSETS = ("sagemaker_mlops.mnist_image_classifier", "sagemaker_mlops.mnist_image_classifier_champion")


@pytest.mark.parametrize(
    ("run_type", "skips"),
    [
        ("scheduled", True),
        ("asset_triggered", True),
        ("manual", False),
        ("backfill", False),
        ("operator_triggered", False),
    ],
)
def test_only_runs_nobody_asked_for_skip_without_a_base_model(run_type: str, skips: bool) -> None:
    from airflow.utils.types import DagRunType

    from sagemaker_mlops.training import incremental

    assert incremental.skips_without_base(run_type) is skips
    assert incremental.skips_without_base(DagRunType(run_type)) is skips


@pytest.fixture()
def fresh_install(airflow_db: Any, airflow_aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """No model Asset event exists (as on a fresh install), and pipeline 2's bucket Variable is set, as is the
    dataset automatic runs train on (without it they skip earlier: tests/test_automatic_dataset.py)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET", "incremental-bucket")
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_URL", "https://data.example.com/batch2.zip")
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_SHA256", "ab" * 32)
    with create_session() as session:
        ids = session.scalars(select(AssetModel.id).where(AssetModel.name.in_(MODEL_ASSETS))).all()
        session.execute(delete(AssetEvent).where(AssetEvent.asset_id.in_(ids)))
    return airflow_aws


def _as_run_type(monkeypatch: pytest.MonkeyPatch, run_type: str) -> None:
    """``dag.test`` always makes a manual run; this turns the run it creates into one of ``run_type``, as the
    scheduler would have created it."""
    import airflow.models.dagrun as dagrun_module
    from airflow.utils.types import DagRunType

    original = dagrun_module.get_or_create_dagrun

    def create(*, session: Any, **kwargs: Any) -> Any:
        run = original(session=session, **kwargs)
        run.run_type = DagRunType(run_type)
        session.merge(run)
        session.commit()
        return run

    monkeypatch.setattr(dagrun_module, "get_or_create_dagrun", create)


@pytest.mark.e2e
@pytest.mark.parametrize("run_type", ["scheduled", "asset_triggered"])
def test_an_automatic_run_without_a_base_model_ends_skipped_with_the_reason(
    fresh_install: Any, capfd: Any, monkeypatch: pytest.MonkeyPatch, run_type: str
) -> None:
    _as_run_type(monkeypatch, run_type)
    run, states = run_dag(DAG_ID, {})
    out = capfd.readouterr().out
    assert str(getattr(run.run_type, "value", run.run_type)) == run_type
    assert str(run.state) == "success", states
    assert states["validate_and_preflight"] == "success" and states["resolve_base_model"] == "skipped"
    assert states.pop("run_outcome") == "success", states  # nothing failed: the watcher lets the run succeed
    assert {state for task_id, state in states.items() if task_id != "validate_and_preflight"} == {"skipped"}
    assert f"No base model yet for this {run_type} run" in out and "run pipeline 1 (mnist_train_deploy)" in out
    assert not ACTIONS_THAT_CREATE & set(fresh_install.actions())


@pytest.mark.e2e
def test_a_manual_run_without_a_base_model_fails_naming_the_fix(fresh_install: Any, capfd: Any) -> None:
    run, states = run_dag(DAG_ID, {})
    out = capfd.readouterr().out
    assert str(run.state) == "failed" and states["resolve_base_model"] == "failed", states
    assert "base_model_uri" in out and "Fix: run pipeline 1 (mnist_train_deploy) first" in out
    assert not ACTIONS_THAT_CREATE & set(fresh_install.actions())


@pytest.mark.e2e
def test_an_automatic_run_whose_asset_event_names_a_vanished_job_ends_skipped(
    fresh_install: Any, capfd: Any, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make airflow``'s emulator starts empty while Airflow's DB keeps the Asset events: after a restart, the cron
    run finds the training job the latest model event names gone. Nobody asked for that run: it skips, saying so."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == MODEL_ASSETS[0]))
        if asset is None:
            asset = AssetModel(name=MODEL_ASSETS[0], uri=MODEL_ASSETS[0])
            session.add(asset)
            session.flush()
        session.add(AssetEvent(asset_id=asset.id, extra={"training_job_name": "mlops-train-gone-since-a-restart"}))
    _as_run_type(monkeypatch, "scheduled")
    run, states = run_dag(DAG_ID, {})
    out = capfd.readouterr().out
    assert str(run.state) == "success" and states["resolve_base_model"] == "skipped", states
    assert "No base model yet for this scheduled run" in out and "run pipeline 1 (mnist_train_deploy)" in out
    assert "names mlops-train-gone-since-a-restart: not in us-east-1" in caplog.text + out
    assert not ACTIONS_THAT_CREATE & set(fresh_install.actions())
