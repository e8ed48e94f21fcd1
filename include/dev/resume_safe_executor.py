"""The LocalExecutor of the local services (``make airflow``, the real-services tests), minus one Airflow 3.3.1 race
that failed a resumed deferred task (issue 21; tests/test_defer_resume.py reproduces it).

The race, in Airflow 3.3.1's own code (``.venv/lib/python3.12/site-packages/airflow``):

1. A task that defers ends its worker process; the LocalExecutor's worker then reports that workload's end under
   the task's key ``(dag_id, task_id, run_id, try_number, map_index)`` (``executors/local_executor.py:108``,
   ``output.put((workload.key, workload.success_state, None))``). A deferral does not change the try number, so
   the resumed attempt has the same key.
2. The scheduler reads that report in ``LocalExecutor._read_results`` (``executors/local_executor.py:245-249``),
   puts it in the event buffer (``executors/base_executor.py:477-492``) and handles it in
   ``SchedulerJobRunner.process_executor_events`` (``jobs/scheduler_job_runner.py:1428-1475``): for a task
   instance of the same try that is SCHEDULED, QUEUED, RUNNING or RESTARTING, the report is excused only when
   another scheduler queued it, when ``executor.has_task(ti)`` (the key still in ``queued_tasks`` or ``running``
   - but the LocalExecutor never adds to ``running``, and the report itself removed the key), or when the task
   instance is SCHEDULED with ``next_method`` set (the 3.3.1 fix for the first half of this race, apache/airflow
   #66431). Otherwise it logs "state mismatch" and fails the task instance.
3. So when the trigger fires within seconds (the emulator finishes a batch transform in about one) and the
   report is read only after the resumed attempt was queued or started (a loaded host, a slow scheduler loop),
   the running resumed attempt is failed under it: its success is then answered 404 "Task Instance not found"
   (the task instance moved to the history for its retry) and the task runs again as try 2. Open upstream as
   apache/airflow#72716 (PRs #71579, #72767; #73546 tags each workload with its own id).

The fix here is the bookkeeping the executor lacks: it counts the workloads it has sent per task key, and a
report that arrives while a later workload of the same key is still out is the earlier workload's - the
deferral's end, which the task instance already recorded as DEFERRED - so it is dropped instead of being taken
for the resumed attempt's end. The last workload's report is passed on as before.

Why here and not in the DAGs: the race is in Airflow's scheduler and executor, not in an operator; a DAG-side
delay before a trigger's first poll would only narrow it. On MWAA (CeleryExecutor) against real SageMaker a
job takes minutes, so the deferral's end is read long before the trigger fires. Remove this executor when
Airflow ships the upstream fix.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from airflow.executors.local_executor import LocalExecutor
from airflow.models.taskinstancekey import TaskInstanceKey


class ResumeSafeLocalExecutor(LocalExecutor):
    """LocalExecutor that drops a task workload's end report when a later workload of the same key is out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workloads_out: Counter[TaskInstanceKey] = Counter()

    def _process_workloads(self, workload_list: Any) -> None:
        super()._process_workloads(workload_list)
        for workload in workload_list:
            if isinstance(workload.key, TaskInstanceKey):
                self.workloads_out[workload.key] += 1

    def _read_results(self) -> None:
        while not self.result_queue.empty():
            key, state, _exc = self.result_queue.get()
            if self.is_superseded(key):
                self.log.info(
                    "Dropped the end report (%s) of an earlier workload of %s: a later one (its resumption after "
                    "a deferral) is running under the same key (include/dev/resume_safe_executor.py)",
                    state,
                    key,
                )
                continue
            self.change_state(key, state)

    def is_superseded(self, key: Any) -> bool:
        """Count one workload of ``key`` as ended; True when another of the same key is still out (so this
        report is the earlier workload's, not the current attempt's)."""
        if not isinstance(key, TaskInstanceKey) or not self.workloads_out[key]:
            self.workloads_out.pop(key, None)
            return False
        self.workloads_out[key] -= 1
        if self.workloads_out[key]:
            return True
        del self.workloads_out[key]
        return False
