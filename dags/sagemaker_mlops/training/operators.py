"""The provider's training operator, extended: its deferred wait polls the run's region
(:class:`~sagemaker_mlops.core.operators.PollsItsRegion`), and it explains how a job ended.

* The deferred training operator fails with ``Error while running job: {event}``; for a managed-spot job out of
  MaxWaitTimeInSeconds that says nothing of the kept checkpoints or how to resume. ExplainedTrainingOperator
  describes the job and fails with the reason and the fix; everything else is the provider's.
* The provider's SageMaker operators have no ``on_kill``: a train task marked failed, or whose worker was told to
  stop, while it was still running (creating the job, tailing its first logs) left the job billing.
  ExplainedTrainingOperator stops this run's job then. A *deferred* task has no process to kill: the teardown
  ``stop_training_if_running`` stops the job in that case (and after a SIGKILL, which no handler sees).
* The deferred wait also ends in an error while the job still runs: a throttled or 5xx DescribeTrainingJob the
  waiter does not retry, expired credentials, ``max_attempts`` spent. Failing ``train`` then made its teardown stop
  a healthy job; ExplainedTrainingOperator waits again instead (at most ``MAX_REWAITS`` times) and fails only
  when the job itself ended badly.
* A job already Completed at the provider's first describe (a short job, the emulator) returned without the
  provider keeping its description, so its OpenLineage facets (channels in, model artifact out) were lost; kept.
* A job that fails for capacity (``CapacityError``), or a CreateTrainingJob refused with ``ResourceLimitExceeded``
  while other jobs hold the instances, is tried again after a back-off as ``<name>-a<n>``, ``capacity_retries``
  times at most; the log names the quota and the substitute instance types. Each attempt's name is pushed as XCom
  ``training_job_name`` before it is waited for, so the downstream tasks find the job that actually trained.
  A back-off shorter than :data:`MIN_DEFER_SECONDS` is waited in the worker instead of deferred: Airflow 3.3.1's
  scheduler fails a deferred task whose trigger fires before it has processed the executor's report of the
  deferral (apache/airflow#72716, open), and a 2 s back-off fired that fast: the resumed attempt had created
  ``-a2`` when the scheduler failed it ("state mismatch"), and the teardown stopped ``-a2``.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator

from sagemaker_mlops.core.naming import attempt_name
from sagemaker_mlops.core.operators import PollsItsRegion, WaitsAgainOnError
from sagemaker_mlops.training import job as training
from sagemaker_mlops.training import preflight

# Shorter back-offs are slept in the worker: a trigger that fires within seconds of the deferral races the
# scheduler's processing of the executor's success report for it, which then fails the resumed task
# (apache/airflow#72716, Airflow 3.3.1). A minute is far beyond a scheduler loop, even on a loaded host.
MIN_DEFER_SECONDS = 60.0


def capacity_backoff_seconds() -> float:
    """Back-off before a capacity retry (the book: retry in about an hour; short in tests and local runs)."""
    return float(os.environ.get("SAGEMAKER_MLOPS_CAPACITY_BACKOFF_SECONDS", "300"))


class ExplainedTrainingOperator(WaitsAgainOnError, PollsItsRegion, SageMakerTrainingOperator):
    JOB_NOUN = "training job"
    DESCRIBE_OPERATION = "DescribeTrainingJob"
    STATUS_KEY = "TrainingJobStatus"
    TRIGGER_JOB_TYPE = "Training"
    GIVE_UP_ADVICE = "Check the account's credentials and SageMaker's health before a re-run."

    def on_kill(self) -> None:
        """Called when the task is stopped while it runs: never leave this run's job training."""
        name = self.config.get("TrainingJobName") if isinstance(self.config, dict) else None
        if name and training.stop_if_running(self.hook.conn, name):
            self.log.warning("Stopped training job %s: the task was stopped while it ran.", name)

    template_fields = (*SageMakerTrainingOperator.template_fields, "capacity_retries")

    def __init__(self, *, capacity_retries: int | str = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.capacity_retries = capacity_retries

    def execute(self, context: Any) -> dict:
        return self.start_attempt(context)

    def start_attempt(self, context: Any, event: Any = None, attempt: int | None = None) -> dict:
        """Creates attempt ``attempt`` of this run's job (the first is the run's name) and waits for it; without
        one, the attempt after the latest that found no capacity (read from AWS, so a resumed or retried task
        never repeats a name)."""
        from airflow.sdk.exceptions import AirflowException
        from botocore.exceptions import ClientError

        base = self.config["TrainingJobName"]
        if attempt is None:
            latest = training.latest_attempt(self.hook.conn, base, int(self.capacity_retries or 0) + 1)
            attempt = 1 if latest is None else training.attempt_of(base, latest["TrainingJobName"])
            attempt += 1 if latest is not None and training.lacked_capacity(latest) else 0
        self.config["TrainingJobName"] = name = attempt_name(base, attempt)
        training.logs_in_its_region(self.hook)  # print_log tails the job's region, not the connection's
        if context.get("ti") is not None:
            context["ti"].xcom_push(key="training_job_name", value=name)
        try:
            result = super().execute(context)
        except AirflowException as err:  # the job failed before the wait was deferred
            job = None if "already exists" in str(err) else training.describe_or_none(self.hook.conn, name)
            if job is not None and training.lacked_capacity(job):
                self.config["TrainingJobName"] = base
                retried = self._retry_for_capacity(context, base, attempt, job["FailureReason"])
                if retried is not None:
                    return retried
            if job is not None and job["TrainingJobStatus"] in ("Failed", "Stopped"):
                training.raise_for_status(job)  # its FailureReason and the fix, not the provider's bare exception
            raise
        except ClientError as err:
            error = err.response.get("Error", {})
            if error.get("Code") == "ResourceLimitExceeded" and training.others_hold_the_quota(
                error.get("Message", "")
            ):
                self.config["TrainingJobName"] = base
                retried = self._retry_for_capacity(context, base, attempt, error.get("Message", ""))
                if retried is not None:
                    return retried
            raise
        # A job already Completed when the provider first describes it returns its description without keeping
        # it: then the provider's get_openlineage_facets_on_complete failed (no serialized_training_data) and the
        # task's OpenLineage event named no dataset. Kept here as execute_complete keeps it after a deferral.
        if isinstance(result, dict) and "Training" in result:
            self.serialized_training_data = result["Training"]
        return result

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None, rewaits: int = 0) -> dict[str, dict]:
        if event and event.get("status") != "success" and event.get("job_name"):
            job = self._describe_unless_unreachable(event["job_name"])
            if job is None or job["TrainingJobStatus"] in training.RUNNING:
                self._wait_again(event, job, rewaits)
            if training.lacked_capacity(job):
                base = self.config["TrainingJobName"]
                attempt = training.attempt_of(base, job["TrainingJobName"])
                retried = self._retry_for_capacity(context, base, attempt, job["FailureReason"])
                if retried is not None:
                    return retried
            training.raise_for_status(job)
        return super().execute_complete(context, event)

    def _retry_for_capacity(self, context: Any, base: str, attempt: int, reason: str) -> dict | None:
        """After the back-off, :meth:`start_attempt` of the next attempt: deferred for the back-off, or (one shorter
        than :data:`MIN_DEFER_SECONDS`) waited here and started at once, returning its result. None when no attempt
        is left."""
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        retries = int(self.capacity_retries or 0)
        instance_type = self.config.get("ResourceConfig", {}).get("InstanceType", "?")
        spot = bool(self.config.get("EnableManagedSpotTraining"))
        advice = (
            f"quota '{preflight.training_quota_name(instance_type, spot=spot)}' (Service Quotas); alternatives: "
            f"{' / '.join(t for t in preflight.SUBSTITUTES if t != instance_type)} (training_instance_type), or "
            "another region"
        )
        if attempt > retries:
            self.log.error(
                "Training job %s: no capacity for %s after %d attempt(s) (%s). Check %s.",
                attempt_name(base, attempt),
                instance_type,
                attempt,
                reason,
                advice,
            )
            return None
        backoff = capacity_backoff_seconds()
        self.log.warning(
            "Training job %s: no capacity for %s (%s). Attempt %d of %d as %s in %.0f s. Check %s.",
            attempt_name(base, attempt),
            instance_type,
            reason,
            attempt + 1,
            retries + 1,
            attempt_name(base, attempt + 1),
            backoff,
            advice,
        )
        if backoff < MIN_DEFER_SECONDS:
            time.sleep(backoff)
            return self.start_attempt(context, attempt=attempt + 1)
        self.defer(
            trigger=TimeDeltaTrigger(timedelta(seconds=backoff)),
            method_name="start_attempt",
            kwargs={"attempt": attempt + 1},
        )
        return None  # not reached: defer raises

    def _describe_job(self, name: str) -> dict[str, Any]:
        return self.hook.describe_training_job(name)

    def _trigger_kwargs(self) -> dict[str, Any]:
        return {"waiter_max_attempts": self.max_attempts}
