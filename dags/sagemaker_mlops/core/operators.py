"""What every extended provider operator shares: a deferred wait that polls the run's region.

The provider's SageMakerTrainingOperator, SageMakerEndpointOperator and SageMakerTuningOperator (9.34.0) build
their trigger without ``region_name``/``verify``/``botocore_config``, so the triggerer polls the *connection's*
region: a run in another region (form or Variable) failed its wait, and the teardown then stopped a healthy job.
:class:`PollsItsRegion` fills them in from the operator before deferring; the trigger stays the provider's class
(the triggerer imports it as usual), only its serialized kwargs gain the region.
"""

from __future__ import annotations

import time
from typing import Any

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

MAX_REWAITS = 10
"""How many times an errored wait on a still-running job is started again before the task gives up."""
# Error codes of a Describe call that say nothing about the job: the wait starts again. Expired credentials
# (MWAA's execution role rotates them; a long wait can outlive them): SageMaker's JSON API answers
# ExpiredTokenException (the provider's own AWS executors expect that code), S3 ExpiredToken, a stale signature
# RequestExpired.
TRANSIENT_CODES = {
    "ThrottlingException",
    "Throttling",
    "InternalFailure",
    "ServiceUnavailable",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
}


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


class WaitsAgainOnError:
    """Mixin for the training and tuning operators: a deferred wait that ended in an error while the job still
    runs (throttling, expired credentials, a triggerer restart) is started again, at most :data:`MAX_REWAITS`
    times, instead of failing the task - whose teardown would then stop a healthy job already paid for.

    A subclass names its job (``JOB_NOUN``), its Describe call and status key, and the SageMakerTrigger job type."""

    JOB_NOUN: str  # "training job"
    DESCRIBE_OPERATION: str  # "DescribeTrainingJob"
    STATUS_KEY: str  # "TrainingJobStatus"
    TRIGGER_JOB_TYPE: str  # SageMakerTrigger's job_type
    GIVE_UP_ADVICE: str  # what a person does after the last wait

    def _describe_job(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def _trigger_kwargs(self) -> dict[str, Any]:
        return {}

    def _describe_unless_unreachable(self, name: str) -> dict[str, Any] | None:
        """The job, or None when SageMaker cannot be asked right now (its state is unknown, not bad)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._describe_job(name)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in TRANSIENT_CODES:
                raise
            self.log.warning("%s %s failed: %s", self.DESCRIBE_OPERATION, name, err)
        except BotoCoreError as err:  # no credentials, connection errors
            self.log.warning("%s %s failed: %s", self.DESCRIBE_OPERATION, name, err)
        return None

    def _wait_again(self, event: dict[str, Any], job: dict[str, Any] | None, rewaits: int) -> None:
        from airflow.exceptions import AirflowException
        from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

        state = job[self.STATUS_KEY] if job else "in an unknown state (SageMaker did not answer)"
        if rewaits >= MAX_REWAITS:
            raise AirflowException(
                f"{self.JOB_NOUN.capitalize()} {event['job_name']} is still {state} after {MAX_REWAITS} waits ended "
                f"in errors (last: {event.get('message')}); giving up. {self.GIVE_UP_ADVICE}"
            )
        self.log.warning(
            "The wait for %s %s ended with an error (%s) while it is %s: waiting again (%d/%d).",
            self.JOB_NOUN,
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
                job_type=self.TRIGGER_JOB_TYPE,
                waiter_delay=self.check_interval,
                aws_conn_id=self.aws_conn_id,
                **self._trigger_kwargs(),
            ),
            method_name="execute_complete",
            kwargs={"rewaits": rewaits + 1},
        )
