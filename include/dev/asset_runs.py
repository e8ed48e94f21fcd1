"""An Asset-triggered DAG run made the way Airflow's scheduler makes it, then run like ``airflow dags test``.

``airflow dags test`` always makes a *manual* run with a conf; the drift loop of ``make run`` needs pipeline 2 to
start from the monitor's Asset event, as it does under a scheduler. This runs ``airflow dags test`` in-process with
one substitution: the run it executes is made by the scheduler's own code, not as a manual one —

1. ``DagModel.dags_needing_dagruns``: the DAG's queued Asset events (``AssetDagRunQueue`` rows, written when the
   event was emitted, for an unpaused DAG) must satisfy its schedule's Asset condition, else nothing runs;
2. ``SchedulerJobRunner._create_dag_runs_asset_triggered``: the run (``run_type`` ``asset_triggered``, triggered
   by ``asset``, no conf), the events it consumes (``consumed_asset_events``: what the tasks see as
   ``triggering_asset_events``) and the queue rows deleted;
3. queued -> running, as the scheduler's ``_start_queued_dagruns`` does; then ``dag.test``'s loop runs the tasks.

CLI (the environment is Airflow's, as for ``airflow dags test``): ``python include/dev/asset_runs.py DAG_ID
--trigger-file PATH`` exits 0 when the run succeeded, 1 when it failed, 2 when no Asset event queued a run; the
trigger file gets the run's id, type and consumed events (asset, source run, extra) for ``make run``'s summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from unittest import mock

NOT_QUEUED = 2


class NoQueuedEvent(RuntimeError):
    """The DAG's queued Asset events do not satisfy its schedule: the scheduler would start no run."""


def create_asset_triggered_run(dag_id: str, session: Any) -> Any:
    """The scheduler's asset-triggered run of ``dag_id`` from its queued events, set running; NoQueuedEvent when
    the scheduler would make none. Uses the scheduler's private method (pinned Airflow; tests/test_run_loop.py
    checks it still behaves so)."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType
    from sqlalchemy import select

    _, triggered_date_by_dag = DagModel.dags_needing_dagruns(session)
    if dag_id not in triggered_date_by_dag:
        raise NoQueuedEvent(
            f"{dag_id}: no queued Asset event satisfies its schedule (is it unpaused, and did the event fire?)"
        )
    before = set(session.scalars(select(DagRun.id).where(DagRun.dag_id == dag_id)))
    runner = SchedulerJobRunner(job=Job())
    runner._create_dag_runs_asset_triggered(dag_models=[session.get(DagModel, dag_id)], session=session)
    session.flush()
    [run] = [
        run
        for run in session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_type == DagRunType.ASSET_TRIGGERED)
        )
        if run.id not in before
    ]
    run.set_state(DagRunState.RUNNING)
    session.commit()
    return run


def _scheduler_made_run(made: list[Any]) -> Any:
    """A stand-in for ``get_or_create_dagrun`` (what ``dag.test`` calls to make its manual run)."""

    def scheduler_made_run(*, dag: Any, session: Any, **_manual: Any) -> Any:
        run = create_asset_triggered_run(dag.dag_id, session)
        run.dag = dag  # the deserialized DAG dag.test schedules with, as get_or_create_dagrun sets it
        made.append(run)
        return run

    return scheduler_made_run


def run_asset_triggered(dag: Any, **test_kwargs: Any) -> Any:
    """``dag.test()`` (``airflow dags test``'s loop) on the scheduler's asset-triggered run instead of a manual run;
    ``test_kwargs`` go to ``dag.test`` (e.g. ``mark_success_pattern``)."""
    import airflow.models.dagrun as dagrun_module

    with mock.patch.object(dagrun_module, "get_or_create_dagrun", _scheduler_made_run([])):
        return dag.test(**test_kwargs)


def _text(value: Any) -> str | None:
    """An Airflow enum's value ("asset", not "DagRunTriggeredByType.ASSET")."""
    return None if value is None else str(getattr(value, "value", value))


def trigger_of(run: Any) -> dict[str, Any]:
    """What started ``run``: its type, who triggered it, and each consumed Asset event (name, source, extra)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(select(DagRun).where(DagRun.id == run.id)).one()
        return {
            "dag_id": row.dag_id,
            "run_id": row.run_id,
            "run_type": _text(row.run_type),
            "triggered_by": _text(row.triggered_by),
            "state": _text(row.state),
            "conf": row.conf or {},
            "consumed_asset_events": [
                {
                    "asset": event.name,
                    "source_dag_id": event.source_dag_id,
                    "source_run_id": event.source_run_id,
                    "source_task_id": event.source_task_id,
                    "timestamp": event.timestamp.isoformat(),
                    "extra": event.extra or {},
                }
                for event in row.consumed_asset_events
            ],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dag_id")
    parser.add_argument("--trigger-file", type=Path, required=True, help="where the run's trigger is written (JSON)")
    args = parser.parse_args(argv)

    import airflow.models.dagrun as dagrun_module
    from airflow.__main__ import main as airflow_main

    made: list[Any] = []
    sys.argv = ["airflow", "dags", "test", args.dag_id]  # the CLI itself: its logging, its DAG loading
    try:
        with mock.patch.object(dagrun_module, "get_or_create_dagrun", _scheduler_made_run(made)):
            airflow_main()
    except NoQueuedEvent as error:
        print(f"no run: {error}", file=sys.stderr)
        return NOT_QUEUED
    except SystemExit as stop:  # "DagRun failed"
        if not made:
            raise
        print(stop, file=sys.stderr)
    trigger = trigger_of(made[0])
    args.trigger_file.write_text(json.dumps(trigger, indent=2) + "\n")
    print(f"asset-triggered run {trigger['run_id']}: {trigger['state']}")
    return 0 if trigger["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
