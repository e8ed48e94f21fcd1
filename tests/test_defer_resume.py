"""A deferred task whose trigger fires at once is not failed by its own deferral's late "finished" report.

Issue 21: under ``make airflow``, mnist_tuning's ``transform_challenger`` (a deferrable batch transform the emulator
finishes in about a second) resumed, did its work, and was answered 404 "Task Instance not found" when it reported
success, then ran again as try 2. The audit log of that run (``log`` table) showed why::

    09:03:35.01 deferred   09:03:40.05 running (resumed)
    09:03:40.42 state mismatch: Executor LocalExecutor reported that the task instance ... finished with state
                success, but the task instance's state attribute is running.   09:03:40.44 failed (try 1)

The worker that deferred exits, and the LocalExecutor reports its workload "success" under the task's key (same
try number as the resumed attempt). When the scheduler reads that report only after the trigger fired and the
resumed attempt was queued (a loaded machine, a trigger that fires within seconds), Airflow 3.3.1 takes it for the
resumed attempt's end and fails the running attempt (include/dev/resume_safe_executor.py cites the lines).

This test makes the late report certain instead of load-dependent: the deferring task leaves a child holding the
supervisor's sockets for HOLD_SECONDS, so the worker reports the deferral's end that much later, while the trigger
fires at once and the resumed attempt runs for RESUMED_SECONDS. It runs on the real services
(include/dev/services.py: api-server, scheduler with the services' executor, dag-processor, triggerer), in ~1 min.
"""

from __future__ import annotations

import importlib
import os
import queue
import shutil
import sys
import textwrap
import time
import urllib.parse
from types import SimpleNamespace

import pytest

from constants import REPO
from services import RESUME_SAFE_EXECUTOR, AirflowServices

DAG_ID = "defer_resume_late_report"
HOLD_SECONDS = 12  # the deferral's worker reports its end this late (the real case: ~5 s on a loaded host)
RESUMED_SECONDS = 20  # the resumed attempt is still running when that report is read

DAG_FILE = textwrap.dedent(
    f'''
    """Test DAG (tests/test_defer_resume.py): a deferral whose worker reports its end late."""

    from __future__ import annotations

    import os
    import time
    from datetime import timedelta

    import pendulum

    from airflow.sdk import DAG, BaseOperator


    class LateReportingDeferral(BaseOperator):
        def execute(self, context):
            from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

            if os.fork() == 0:  # a child holding the supervisor's sockets: the worker is done only when it exits
                time.sleep({HOLD_SECONDS})
                os._exit(0)
            self.defer(trigger=TimeDeltaTrigger(timedelta(0)), method_name="execute_complete")

        def execute_complete(self, context, event=None):
            time.sleep({RESUMED_SECONDS})
            return "resumed"


    with DAG("{DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
        LateReportingDeferral(task_id="deferred", retries=0)
    '''
)


@pytest.mark.e2e
@pytest.mark.airflow_services
def test_a_deferral_reported_late_does_not_fail_the_resumed_attempt() -> None:
    work = REPO / ".local" / "defer-resume"
    shutil.rmtree(work, ignore_errors=True)
    dags = work / "dags"
    dags.mkdir(parents=True)
    (dags / f"{DAG_ID}.py").write_text(DAG_FILE)
    env = dict(
        os.environ,
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(work / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__OPENLINEAGE__DISABLED="True",
        PYTHONPATH=os.pathsep.join(str(REPO / p) for p in ("dags", "plugins", "include")),
    )
    with AirflowServices(work / "airflow", env, dag_ids=(DAG_ID,)) as af:
        run = af.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None})
        run_id = urllib.parse.quote(run["dag_run_id"], safe="")
        deadline = time.monotonic() + 240
        while run["state"] not in ("success", "failed") and time.monotonic() < deadline:
            time.sleep(2)
            run = af.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        ti = af.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/deferred")
        events = af.api("GET", "/api/v2/eventLogs", params={"dag_id": DAG_ID, "order_by": "when", "limit": 100})
        trail = [(e["event"], e.get("try_number"), (e.get("extra") or "")[:160]) for e in events["event_logs"]]
        print(f"\n[defer-resume] run {run['state']}, task {ti['state']} try {ti['try_number']}:", file=sys.stderr)
        for entry in trail:
            print(f"  {entry}", file=sys.stderr)

    names = [event for event, _try, _extra in trail if event in ("running", "deferred", "success", "failed")]
    assert names == ["running", "deferred", "running", "success"], trail  # the wait went to the triggerer
    assert not [t for t in trail if t[0] == "state mismatch"], trail
    assert (run["state"], ti["state"], ti["try_number"]) == ("success", "success", 1), trail
    # ... and the race did happen: the scheduler read the deferral's end report only after the resumption began.
    scheduler_log = (af.logs / "scheduler.log").read_text()
    assert f"Dropped the end report (success) of an earlier workload of TaskInstanceKey(dag_id='{DAG_ID}'" in (
        scheduler_log
    )


def test_the_services_executor_passes_on_only_the_last_workloads_end_report(monkeypatch) -> None:
    """The executor the services name (by its dotted path) drops the end report of a workload another of the same
    key followed (a deferral, then its resumption), and passes on the last one's and every other key's."""
    from airflow.executors.local_executor import LocalExecutor
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.utils.state import TaskInstanceState

    monkeypatch.setattr(LocalExecutor, "_process_workloads", lambda self, workloads: None)  # no worker processes
    module, name = RESUME_SAFE_EXECUTOR.rsplit(".", 1)
    executor = getattr(importlib.import_module(module), name)(parallelism=1)
    executor.result_queue = queue.SimpleQueue()
    resumed = TaskInstanceKey("dag", "deferred", "run", 1, -1)
    other = TaskInstanceKey("dag", "other", "run", 1, -1)

    executor._process_workloads([SimpleNamespace(key=resumed), SimpleNamespace(key=other)])  # first attempt
    executor._process_workloads([SimpleNamespace(key=resumed)])  # resumed after the trigger fired
    executor.result_queue.put((resumed, TaskInstanceState.SUCCESS, None))  # the deferral's end, read late
    executor.result_queue.put((other, TaskInstanceState.FAILED, None))
    executor._read_results()  # what sync() does with the workers' reports
    assert executor.event_buffer == {other: (TaskInstanceState.FAILED, None)}

    executor.result_queue.put((resumed, TaskInstanceState.SUCCESS, None))  # the resumed attempt's end
    executor._read_results()  # what sync() does with the workers' reports
    assert executor.event_buffer[resumed] == (TaskInstanceState.SUCCESS, None)
    assert not executor.workloads_out
