"""Run a DAG in-process (``dag.test``, the same code path as ``airflow dags test``) against the emulator."""

from __future__ import annotations

from typing import Any

from constants import REPO

ACTIONS_THAT_CREATE = {
    "CreateBucket",
    "PutObject",
    "MultipartUpload",
    "CreateTrainingJob",
    "CreateModel",
    "CreateEndpointConfig",
    "CreateEndpoint",
}


def load_dag(dag_id: str) -> Any:
    """Parsed afresh for every run, as the scheduler does (a cached DAG object also kept stale log handlers)."""
    from airflow.models import DagBag

    bag = DagBag(str(REPO / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def sync_dags_to_db() -> None:
    """Every DAG of the bundles serialized into the metadata DB, as the DAG processor leaves them (what an Asset
    event's queued run and the scheduler's tables need; dag.test alone does not write them)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        sync_bag_to_db(
            BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name),
            bundle.name,
            bundle.version,
        )


def run_dag(
    dag_id: str, conf: dict[str, Any], when: Any = None, mark_success_pattern: str | None = None
) -> tuple[Any, dict[str, str]]:
    """Runs the DAG once; returns the DagRun and {task_id: state}. ``when`` fixes the run id
    (``manual__<when>``), so a test can know this run's resource names in advance; tasks matching
    ``mark_success_pattern`` are marked success without running (a task that never ran, e.g. after a crash)."""
    dag = load_dag(dag_id)
    extra: dict[str, Any] = {"mark_success_pattern": mark_success_pattern} if mark_success_pattern else {}
    if when:
        extra.update(run_after=when, logical_date=when)
    run = dag.test(run_conf=conf, **extra)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return run, states


def xcom(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key="return_value")
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def leftovers(aws: Any) -> dict[str, list[str]]:
    sm = aws("sagemaker")
    return {
        "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        "endpoint_configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "running_jobs": [
            j["TrainingJobName"] for j in sm.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]
        ]
        + [j["TransformJobName"] for j in sm.list_transform_jobs(StatusEquals="InProgress")["TransformJobSummaries"]],
    }
