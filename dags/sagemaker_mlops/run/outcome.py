"""The run's outcome as a person expects it: a run that was cancelled, or whose work failed, ends failed.

Airflow 3.3 lets a run marked failed keep running until its teardowns finish (apache/airflow#45530), sets its
running and deferred tasks failed and its pending ones *skipped*, and then computes the run's state from its
leaves only — the skipped publish task and the teardowns that succeeded: a run cancelled mid-training ended
``success``. The DAGs therefore end in one watcher (a teardown, so mark-failed neither skips nor fails it, with no
set-up, so it always runs once everything else is done) that fails the run when any of its tasks failed.
"""

from __future__ import annotations

from collections.abc import Mapping

FAILED_STATES = frozenset({"failed", "upstream_failed"})


def failed_tasks(states: Mapping[str, str | None], *, ignore: str = "") -> list[str]:
    """Task ids (sorted) of the run that ended failed or upstream-failed, teardowns included; ``ignore`` is the
    watcher itself."""
    return sorted(task_id for task_id, state in states.items() if state in FAILED_STATES and task_id != ignore)
