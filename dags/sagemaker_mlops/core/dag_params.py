"""The trigger form's Params live on the DAG only: tasks do not each carry a copy of them.

Why: Airflow gives every task a deep copy of the DAG's Params (``BaseOperator`` → ``get_merged_defaults``), and the
dag-processor then serializes each task's copy, resolving every Param against its JSON schema twice per task
(apache/airflow#32434). With the form's ~36 Params on ~26 tasks that made serialization ~1 s, most of a DAG file's
parse. Nothing needs those copies: at run time the task's ``params`` are the DAG's merged with the task's own and
the run's conf (``process_params``), and the trigger form and its validation read the serialized DAG's Params. So
each task keeps only the Params it declared itself (``source="task"``), as the provider's ``HITLOperator`` does.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import ParamsDict


def keep_params_on_dag(dag: Any) -> Any:
    """Drop each task's copy of the DAG's Params (keeping Params a task declared itself); returns ``dag``.

    Call once the DAG's tasks are built. The DAG's own Params (every field, section, description and schema) are
    untouched, so the form, trigger-time validation and each task's run-time ``params`` are what they were.
    """
    for task in dag.tasks:
        own = ParamsDict.filter_params_by_source(task.params, source="task")
        if len(own) != len(task.params):
            task.params = own
    return dag


def declared_params(context: Any) -> frozenset[str]:
    """The Param names the run's DAG (and the task) declare: the only keys a run's conf may carry.

    Why: Airflow merges every conf key into ``params``, declared or not, and validates only the declared ones; a
    key the form does not show (e.g. ``max_wait_seconds`` on a DAG without spot) would reach the tasks unchecked.
    """
    dag = context.get("dag") or getattr(context.get("task"), "dag", None)
    names = set(getattr(dag, "params", {}) or {})
    names |= set(getattr(context.get("task"), "params", {}) or {})
    return frozenset(names)
