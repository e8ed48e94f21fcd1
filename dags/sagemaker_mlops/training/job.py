"""Training-job helpers: find this run's job (so a retry never starts a second, billed one), read its result and
its CloudWatch log lines, and stop it when the run ends early."""

from __future__ import annotations

import re
from typing import Any

from sagemaker_mlops.core.naming import attempt_name
from sagemaker_mlops.core.tags import check_owned
from sagemaker_mlops.core.validation import JobEnded, ParamError
from sagemaker_mlops.training.algorithm_limits import failure_fix

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
    """Stopped counts as failure (a spot job out of MaxWait ends Stopped/MaxWaitTimeExceeded); a Failed job's
    message is its FailureReason and the fix (:func:`algorithm_limits.failure_fix`)."""
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
    elif status == "Failed":
        detail = f"{detail}. {failure_fix(detail)}" if detail else failure_fix(detail)
    raise TrainingJobEnded(f"Training job {job['TrainingJobName']} ended {status} ({secondary}). {detail}".strip())


LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def log_streams(logs: Any, job_name: str) -> list[str]:
    """Every stream of the job: one per host and launch (``<job>/algo-<n>-<epoch>``; a spot job relaunched after an
    interruption, or a retried one, has new streams), sorted by name (host, then launch), every page."""
    names: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{job_name}/"}
    while True:
        page = logs.describe_log_streams(**kwargs)
        names += [stream["logStreamName"] for stream in page["logStreams"]]
        if not page.get("nextToken"):
            return sorted(names)
        kwargs["nextToken"] = page["nextToken"]


def log_lines(logs: Any, job_name: str, limit: int = 500) -> list[str]:
    """The first ``limit`` CloudWatch lines of every host and launch of the job (/aws/sagemaker/TrainingJobs),
    each prefixed with its stream: the deferred operator prints only what exists before it defers, and a
    re-attached job prints nothing, so the result task copies them into its log; the full streams stay in
    CloudWatch (the plugin links to them). ``logs`` must be a client of the run's region (the job's logs are
    there), e.g. ``aws_client(cfg, "logs")``."""
    from botocore.exceptions import ClientError

    try:
        streams = log_streams(logs, job_name)
    except ClientError:
        return []
    lines: list[str] = []
    for stream in streams:
        events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True, limit=limit)
        lines += [f"[{stream}] {e['message']}" for e in events["events"]]
    return lines


def logs_in_its_region(hook: Any) -> Any:
    """The provider's SageMakerHook (9.34.0) builds its CloudWatch Logs hook without ``region_name``, so
    ``print_log`` tails the *connection's* region: a run in another region printed no log lines. Rebuilds it in
    the SageMaker hook's region; returns the hook."""
    from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

    region = hook.conn_region_name
    if getattr(hook.logs_hook, "conn_region_name", None) != region:
        hook.logs_hook = AwsLogsHook(aws_conn_id=hook.aws_conn_id, region_name=region)
    return hook


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
