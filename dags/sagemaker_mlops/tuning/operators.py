"""The provider's tuning operator, extended: its deferred wait polls the run's region for as long as a tuning job
may run, it waits again when the wait (not the tuning job) ends in an error, and it fails with the tuning job's own
reason.

A deferred wait also ends in an error while the tuning job still runs: a throttled or 5xx
DescribeHyperParameterTuningJob the waiter does not retry, expired credentials, ``max_attempts`` spent. Failing
``tune`` then made its teardown stop the tuning job and every trial already paid for; like
:class:`~sagemaker_mlops.training.operators.ExplainedTrainingOperator`, this operator waits again instead (at most
:data:`~sagemaker_mlops.core.operators.MAX_REWAITS` times) and fails only when the tuning job itself ended badly.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTuningOperator
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from sagemaker_mlops.core.operators import PollsItsRegion, WaitsAgainOnError
from sagemaker_mlops.tuning import job as tuning_job


class ExplainedTuningOperator(WaitsAgainOnError, PollsItsRegion, SageMakerTuningOperator):
    """SageMakerTuningOperator whose deferred wait polls the run's region for as long as a tuning job may run
    (``max_attempts``; the trigger's default gives up after 4 hours at 30 s), that waits again when the wait errs
    while the tuning job runs, and that fails with the tuning job's FailureReason and counters rather than the bare
    waiter event."""

    JOB_NOUN = "tuning job"
    DESCRIBE_OPERATION = "DescribeHyperParameterTuningJob"
    STATUS_KEY = "HyperParameterTuningJobStatus"
    TRIGGER_JOB_TYPE = "tuning"
    GIVE_UP_ADVICE = (
        "Check the account's credentials and SageMaker's health, then clear this run: start_or_attach_tuning "
        "re-attaches to the tuning job."
    )

    def __init__(self, *, max_attempts: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_attempts = max_attempts

    def defer(self, *, trigger: Any, **kwargs: Any) -> Any:
        if self.max_attempts and isinstance(trigger, AwsBaseWaiterTrigger):
            trigger.attempts = self.max_attempts
        return super().defer(trigger=trigger, **kwargs)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None, rewaits: int = 0) -> dict[str, dict]:
        if event and event.get("status") != "success" and event.get("job_name"):
            job = self._describe_unless_unreachable(event["job_name"])
            if job is None or job["HyperParameterTuningJobStatus"] in tuning_job.RUNNING:
                self._wait_again(event, job, rewaits)
            tuning_job.raise_for_status(job)
        return super().execute_complete(context, event)

    def _describe_job(self, name: str) -> dict[str, Any]:
        return self.hook.describe_tuning_job(name)
