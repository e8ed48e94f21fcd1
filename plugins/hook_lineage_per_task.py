"""Each task starts with an empty hook-lineage collector, also when several tasks run in one process.

Airflow's hook-lineage collector (``airflow.sdk.lineage.get_hook_lineage_collector``, where ``S3Hook`` and other
hooks record what they read and wrote for OpenLineage) is one object per process, never emptied. On a Celery or
local-executor worker (MWAA) each task runs in a process of its own, so that is harmless; ``airflow dags test``
(``make run``) and ``dag.test()`` run every task of a run in one process, and then each task's OpenLineage event
carried every earlier task's S3 reads and writes (``training_request`` "wrote" the dataset upload's objects).

This listener drops the collector when a task starts, before the OpenLineage listener reads it (``tryfirst``): the
next hook call creates a fresh one. Imports nothing of the DAG package (the plugins room imports none).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin


class FreshHookLineagePerTask:
    """Listener: a fresh hook-lineage collector for every task instance that starts running."""

    @hookimpl(tryfirst=True)
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        from airflow.sdk import lineage

        lineage.get_hook_lineage_collector.cache_clear()


class HookLineagePerTaskPlugin(AirflowPlugin):
    name = "sagemaker_mlops_hook_lineage_per_task"
    listeners: ClassVar[list[Any]] = [FreshHookLineagePerTask()]
