"""The provider's tuning operator, extended: its deferred wait polls the run's region for as long as a tuning job
may run, and it fails with the tuning job's own reason."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTuningOperator
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from sagemaker_mlops.core.operators import PollsItsRegion
from sagemaker_mlops.tuning import job as tuning_job


class ExplainedTuningOperator(PollsItsRegion, SageMakerTuningOperator):
    """SageMakerTuningOperator whose deferred wait polls the run's region for as long as a tuning job may run
    (``max_attempts``; the trigger's default gives up after 4 hours at 30 s), and that fails with the tuning job's
    FailureReason and counters rather than the bare waiter event."""

    def __init__(self, *, max_attempts: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_attempts = max_attempts

    def defer(self, *, trigger: Any, **kwargs: Any) -> Any:
        if self.max_attempts and isinstance(trigger, AwsBaseWaiterTrigger):
            trigger.attempts = self.max_attempts
        return super().defer(trigger=trigger, **kwargs)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, dict]:
        if event and event.get("status") != "success" and event.get("job_name"):
            tuning_job.raise_for_status(self.hook.describe_tuning_job(event["job_name"]))
        return super().execute_complete(context, event)
