"""Training-job helpers: find this run's job (so a retry never starts a second, billed one), read its result and
its CloudWatch log lines, and stop it when the run ends early."""

from __future__ import annotations

import re
from typing import Any

from sagemaker_mlops.core.naming import attempt_name
from sagemaker_mlops.core.tags import check_owned
from sagemaker_mlops.core.validation import JobEnded, ParamError

CREATE, ATTACH, DONE = "create", "attach", "done"


class TrainingJobEnded(JobEnded):
    """This run's job ended Failed or Stopped: retrying the task cannot change that."""


RUNNING = {"InProgress", "Stopping"}


def describe_or_none(sagemaker: Any, job_name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return sagemaker.describe_training_job(TrainingJobName=job_name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ValidationException":
            return None
        raise


CAPACITY_PREFIX = "CapacityError"
_UTILIZATION_RE = re.compile(r"current utilization of (\d+(?:\.\d+)?) Instances")


def attempt_of(base: str, job_name: str) -> int:
    """The capacity-retry attempt a job name belongs to (see :func:`naming.attempt_name`)."""
    match = re.fullmatch(re.escape(base) + r"-a(\d+)", job_name)
    return int(match[1]) if match else 1


def latest_attempt(sagemaker: Any, base: str, attempts: int) -> dict[str, Any] | None:
    """This run's newest training job among its ``attempts`` deterministic names, or None (never created)."""
    for attempt in range(attempts, 0, -1):
        job = describe_or_none(sagemaker, attempt_name(base, attempt))
        if job is not None:
            return job
    return None


def lacked_capacity(job: dict[str, Any]) -> bool:
    """A job that failed because AWS had no instances for it (not the algorithm or the input)."""
    return job["TrainingJobStatus"] == "Failed" and (job.get("FailureReason") or "").startswith(CAPACITY_PREFIX)


def others_hold_the_quota(message: str) -> bool:
    """A ResourceLimitExceeded whose quota is in use by other jobs (retrying can succeed once they end); with no
    current utilization the request can never fit and retrying is pointless."""
    match = _UTILIZATION_RE.search(message)
    return bool(match) and float(match[1]) > 0


def next_step(job: dict[str, Any] | None) -> str:
    """create (no job yet), attach (this run's job is running), done (it completed); a failed job raises."""
    if job is None:
        return CREATE
    status = job["TrainingJobStatus"]
    if status in RUNNING:
        return ATTACH
    if status == "Completed":
        return DONE
    raise ParamError(
        "training job",
        f"this run's job {job['TrainingJobName']} already ended {status} "
        f"({job.get('SecondaryStatus')}): {job.get('FailureReason', 'no reason given')}",
        "trigger a new run (names are per run); to continue a spot job, pass its checkpoint URI as "
        "resume_checkpoint_uri",
    )


def raise_for_status(job: dict[str, Any]) -> None:
    """Stopped counts as failure (a spot job out of MaxWait ends Stopped/MaxWaitTimeExceeded)."""
    status = job["TrainingJobStatus"]
    if status == "Completed":
        return
    secondary = job.get("SecondaryStatus")
    detail = job.get("FailureReason") or ""
    if secondary == "MaxWaitTimeExceeded":
        checkpoint = job.get("CheckpointConfig", {}).get("S3Uri")
        detail = (
            f"managed spot capacity did not come back within MaxWaitTimeInSeconds="
            f"{job.get('StoppingCondition', {}).get('MaxWaitTimeInSeconds')}. The checkpoints are kept in "
            f"{checkpoint}: trigger a new run with resume_checkpoint_uri={checkpoint} to continue from them"
        )
    raise TrainingJobEnded(f"Training job {job['TrainingJobName']} ended {status} ({secondary}). {detail}".strip())


def log_lines(logs: Any, job_name: str, limit: int = 500) -> list[str]:
    """The first ``limit`` CloudWatch lines of the job's first instance (/aws/sagemaker/TrainingJobs): the deferred
    operator prints only what exists before it defers, and a re-attached job prints nothing, so the result task
    copies them into its log; the full streams stay in CloudWatch (the plugin links to them)."""
    from botocore.exceptions import ClientError

    group = "/aws/sagemaker/TrainingJobs"
    try:
        streams = logs.describe_log_streams(
            logGroupName=group, logStreamNamePrefix=f"{job_name}/", orderBy="LogStreamName"
        )["logStreams"]
    except ClientError:
        return []
    lines: list[str] = []
    for stream in streams[:1]:
        events = logs.get_log_events(
            logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True, limit=limit
        )["events"]
        lines += [f"[{stream['logStreamName']}] {e['message']}" for e in events]
    return lines


def stop_if_running(sagemaker: Any, job_name: str, *, owner: tuple[str, str] | None = None) -> bool:
    """Stops this run's job if it still runs (a failed or killed run must not leave it billing)."""
    from botocore.exceptions import ClientError

    job = describe_or_none(sagemaker, job_name)
    if job is None or job["TrainingJobStatus"] != "InProgress":
        return False
    if owner is not None:  # never stop another run's job that carries this run's name (NotOwned, left running)
        check_owned(sagemaker, job["TrainingJobArn"], f"training job {job_name}", *owner)
    try:
        sagemaker.stop_training_job(TrainingJobName=job_name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        return False  # it ended meanwhile
    return True
