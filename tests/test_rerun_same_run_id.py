"""Re-runs under the same run id (issue 11, item 5), in-process on the emulator: repeating a successful pipeline-1
run re-uses its job and publishes no second Asset event (pipeline 2 does not start again on the same model); the
same run id with other inputs is refused at start_or_attach, naming the change, before anything is created."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dag_runs import leftovers, run_dag

pytestmark = pytest.mark.e2e
DAG_ID = "mnist_train_deploy"


def _model_events() -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return [
            e.extra for e in session.scalars(query.where(AssetModel.name == "sagemaker_mlops.mnist_image_classifier"))
        ]


def test_a_repeated_run_reuses_its_job_and_publishes_once(airflow_db, airflow_aws, aws, datasets, capfd):
    when = datetime.now(UTC).replace(microsecond=0)  # a run id (and job name) new to the session's DB
    before = len(_model_events())
    run, states = run_dag(DAG_ID, datasets.conf(), when=when)
    assert str(run.state) == "success", states
    job_name = [e for e in _model_events()][-1]["training_job_name"]
    assert len(_model_events()) == before + 1

    run, states = run_dag(DAG_ID, datasets.conf(), when=when)  # the same run id again, the same inputs
    assert str(run.state) == "success", states
    assert states["train"] == "skipped" and states["publish_model"] == "skipped", states
    assert len(_model_events()) == before + 1
    assert airflow_aws.actions("sagemaker").count("CreateTrainingJob") == 1
    assert f"already has an event for training job {job_name}" in capfd.readouterr().out

    run, states = run_dag(DAG_ID, datasets.conf(epochs=4), when=when)  # the same run id, other hyperparameters
    assert str(run.state) == "failed" and states["start_or_attach"] == "failed", states
    out = capfd.readouterr().out
    assert "HyperParameters.epochs" in out and "new run id" in out
    assert airflow_aws.actions("sagemaker").count("CreateTrainingJob") == 1
    assert leftovers(aws) == {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}
