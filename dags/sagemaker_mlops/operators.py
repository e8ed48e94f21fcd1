"""The provider operators this package extends: deferred waits that poll the run's region, and training that
explains how a job ended.

* The provider's SageMakerTrainingOperator and SageMakerEndpointOperator (9.34.0) build ``SageMakerTrigger``
  without ``region_name``/``verify``/``botocore_config``, so the triggerer polls the *connection's* region: a run in
  another region (form or Variable) failed its wait, and the teardown then stopped a healthy job.
  :class:`PollsItsRegion` fills them in from the operator before deferring; the trigger stays the provider's
  class (the triggerer imports it as usual), only its serialized kwargs gain the region.
* The deferred training operator fails with ``Error while running job: {event}``; for a managed-spot job out of
  MaxWaitTimeInSeconds that says nothing of the kept checkpoints or how to resume. ExplainedTrainingOperator
  describes the job and fails with the reason and the fix; everything else is the provider's.
* The provider's SageMaker operators have no ``on_kill``: a train task marked failed, or whose worker was told to
  stop, while it was still running (creating the job, tailing its first logs) left the job billing.
  ExplainedTrainingOperator stops this run's job then. A *deferred* task has no process to kill: the teardown
  ``stop_training_if_running`` stops the job in that case (and after a SIGKILL, which no handler sees).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerEndpointOperator,
    SageMakerTrainingOperator,
    SageMakerTuningOperator,
)
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from sagemaker_mlops import training, tuning_job


class PollsItsRegion:
    """Mixin for provider operators: a trigger they defer to polls where the operator works."""

    def defer(self, *, trigger: Any, **kwargs: Any) -> Any:
        if isinstance(trigger, AwsBaseWaiterTrigger):
            trigger.region_name = trigger.region_name or self.hook.conn_region_name
            if trigger.verify is None:
                trigger.verify = self.verify
            if trigger.botocore_config is None:
                trigger.botocore_config = self.botocore_config
        return super().defer(trigger=trigger, **kwargs)


class ExplainedTrainingOperator(PollsItsRegion, SageMakerTrainingOperator):
    def on_kill(self) -> None:
        """Called when the task is stopped while it runs: never leave this run's job training."""
        name = self.config.get("TrainingJobName") if isinstance(self.config, dict) else None
        if name and training.stop_if_running(self.hook.conn, name):
            self.log.warning("Stopped training job %s: the task was stopped while it ran.", name)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, dict]:
        if event and event.get("status") != "success" and event.get("job_name"):
            training.raise_for_status(self.hook.describe_training_job(event["job_name"]))
        return super().execute_complete(context, event)


class RegionalEndpointOperator(PollsItsRegion, SageMakerEndpointOperator):
    """SageMakerEndpointOperator whose deferred wait for InService polls the endpoint's region."""


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
