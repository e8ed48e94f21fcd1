"""A cancelled run ends red (issue 11 item 7): each DAG ends in the ``run_outcome`` watcher, and Airflow computes
the run's state from it alone.

Airflow 3.3 decides a finished run's state from its *effective leaves* (``DagRun._tis_for_dagrun_state``): after
mark-failed those were the skipped ``publish_model`` and the teardowns that succeeded, so the run ended
``success``. These checks use Airflow's own leaf rule on the parsed DAGs; the real cancel, through the REST API on
the real services, is in tests/test_fault_matrix_cancel.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_mlops.run import outcome

from dag_runs import load_dag

DAG_IDS = ("mnist_train_deploy", "mnist_incremental_spot", "mnist_tuning")


def _effective_leaves(dag: Any) -> set[str]:
    """Airflow's own rule, applied to fake task instances of every task."""
    from dataclasses import dataclass

    from airflow.models.dagrun import DagRun

    @dataclass(frozen=True)
    class FakeTI:
        task_id: str
        state: str = "success"

    tis = [FakeTI(t.task_id) for t in dag.tasks]
    return {ti.task_id for ti in DagRun._tis_for_dagrun_state(None, dag=dag, tis=tis)}  # self is unused


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_the_run_outcome_watcher_alone_decides_the_run_state(airflow_db: Any, dag_id: str) -> None:
    dag = load_dag(dag_id)
    watcher = dag.get_task("run_outcome")
    # a teardown (mark-failed neither skips nor fails it) whose failure fails the run, with no set-up (so it is
    # never skipped for a skipped set-up), after every other task
    assert watcher.is_teardown and watcher.on_failure_fail_dagrun
    assert not any(t.is_setup for t in watcher.upstream_list)
    assert set(watcher.get_flat_relative_ids(upstream=True)) == set(dag.task_ids) - {"run_outcome"}
    assert _effective_leaves(dag) == {"run_outcome"}


def test_failed_tasks_lists_failed_and_upstream_failed_teardowns_included() -> None:
    states = {
        "train": "failed",  # marked failed by a person (or the run marked failed while it was deferred)
        "training_result": "skipped",  # what mark-failed does to pending tasks
        "publish_model": "upstream_failed",
        "delete_endpoint": "failed",  # a teardown that could not delete: still fails the run
        "stop_training_if_running": "success",
        "reattach_training": "skipped",
        "run_outcome": "running",
    }
    assert outcome.failed_tasks(states, ignore="run_outcome") == ["delete_endpoint", "publish_model", "train"]
    assert outcome.failed_tasks({"a": "success", "b": "skipped", "c": None, "w": "failed"}, ignore="w") == []


def _run_state(dag: Any, states: dict[str, str]) -> str:
    """The state Airflow gives a finished run: failed when one of its effective leaves failed."""
    from dataclasses import dataclass

    from airflow.models.dagrun import DagRun

    @dataclass(frozen=True)
    class FakeTI:
        task_id: str
        state: str

    leaves = DagRun._tis_for_dagrun_state(None, dag=dag, tis=[FakeTI(t, s) for t, s in states.items()])
    return "failed" if any(ti.state in outcome.FAILED_STATES for ti in leaves) else "success"


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_a_delete_endpoint_that_failed_fails_the_run(airflow_db: Any, dag_id: str, monkeypatch: Any) -> None:
    """The DeleteEndpoint outage of the fault matrix: delete_endpoint failed, the teardowns after it succeeded.
    Airflow's leaf rule ignores a teardown followed by another teardown, so without the watcher that run ended
    ``success`` (what tests/test_fault_matrix_recovery.py first saw); the watcher fails it."""
    from sagemaker_mlops.run import tasks

    dag = load_dag(dag_id)
    states = {t: "success" for t in dag.task_ids} | {"delete_endpoint": "failed"}
    states["run_outcome"] = "failed" if outcome.failed_tasks(states, ignore="run_outcome") else "success"
    assert _run_state(dag, states) == "failed"

    monkeypatch.setattr(tasks, "end_with_run_outcome", lambda dag: None)
    without_watcher = load_dag(dag_id)
    assert "run_outcome" not in without_watcher.task_ids
    assert _run_state(without_watcher, {t: s for t, s in states.items() if t != "run_outcome"}) == "success"
