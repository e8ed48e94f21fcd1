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
* The deferred wait also ends in an error while the job still runs: a throttled or 5xx DescribeTrainingJob the
  waiter does not retry, expired credentials, ``max_attempts`` spent. Failing ``train`` then made its teardown stop
  a healthy job; ExplainedTrainingOperator waits again instead (at most :data:`MAX_REWAITS` times) and fails only
  when the job itself ended badly.
"""

from __future__ import annotations

import time
from typing import Any

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerEndpointOperator, SageMakerTrainingOperator
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from sagemaker_mlops import training

MAX_REWAITS = 10
"""How many times an errored wait on a still-running job is started again before ``train`` gives up."""
# Error codes of a DescribeTrainingJob that say nothing about the job: the wait starts again.
TRANSIENT_CODES = {"ThrottlingException", "Throttling", "InternalFailure", "ServiceUnavailable", "ExpiredToken"}


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
    def execute_complete(self, context: Any, event: dict[str, Any] | None = None, rewaits: int = 0) -> dict[str, dict]:
        if event and event.get("status") != "success" and event.get("job_name"):
            job = self._describe_unless_unreachable(event["job_name"])
            if job is None or job["TrainingJobStatus"] in training.RUNNING:
                self._wait_again(event, job, rewaits)
            training.raise_for_status(job)
        return super().execute_complete(context, event)

    def _describe_unless_unreachable(self, job_name: str) -> dict[str, Any] | None:
        """The job, or None when SageMaker cannot be asked right now (the job's state is unknown, not bad)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.hook.describe_training_job(job_name)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in TRANSIENT_CODES:
                raise
            self.log.warning("DescribeTrainingJob %s failed: %s", job_name, err)
        except BotoCoreError as err:  # no credentials, connection errors
            self.log.warning("DescribeTrainingJob %s failed: %s", job_name, err)
        return None

    def _wait_again(self, event: dict[str, Any], job: dict[str, Any] | None, rewaits: int) -> None:
        from airflow.exceptions import AirflowException
        from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

        state = job["TrainingJobStatus"] if job else "in an unknown state (SageMaker did not answer)"
        if rewaits >= MAX_REWAITS:
            raise AirflowException(
                f"Training job {event['job_name']} is still {state} after {MAX_REWAITS} waits ended in errors "
                f"(last: {event.get('message')}); giving up. Check the account's credentials and SageMaker's "
                "health before a re-run."
            )
        self.log.warning(
            "The wait for training job %s ended with an error (%s) while the job is %s: waiting again (%d/%d).",
            event["job_name"],
            event.get("message"),
            state,
            rewaits + 1,
            MAX_REWAITS,
        )
        if job is None:
            time.sleep(min(self.check_interval, 30))  # do not hammer an API that just failed
        self.defer(
            trigger=SageMakerTrigger(
                job_name=event["job_name"],
                job_type="Training",
                waiter_delay=self.check_interval,
                waiter_max_attempts=self.max_attempts,
                aws_conn_id=self.aws_conn_id,
            ),
            method_name="execute_complete",
            kwargs={"rewaits": rewaits + 1},
        )


class RegionalEndpointOperator(PollsItsRegion, SageMakerEndpointOperator):
    """SageMakerEndpointOperator whose deferred wait for InService polls the endpoint's region."""
