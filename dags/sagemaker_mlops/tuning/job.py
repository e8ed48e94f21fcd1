"""Tuning-job helpers, like training.py for training jobs: find this run's tuning job (a retry never starts a second,
billed one), read its trials, say how it ended, and stop it (and so its training jobs) when the run ends early."""

from __future__ import annotations

from typing import Any

from sagemaker_mlops.core.tags import check_owned
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.training.job import ATTACH, CREATE, DONE, TrainingJobEnded

RUNNING = {"InProgress", "Stopping"}
MAX_TUNING_RUNTIME_SECONDS = 30 * 24 * 60 * 60
"""The longest a tuning job runs: 30 days (SageMaker guide, "Resource Limits for Automatic Model Tuning": "Maximum
run time for a hyperparameter tuning job"). The request, like the SDK's for the book, sets no
``ResourceLimits.MaxRuntimeInSeconds`` (botocore: 120..15768000), so this service limit bounds it; each trial is
bounded by its own ``StoppingCondition`` (at most 28 days, a training job's)."""


def describe_or_none(sagemaker: Any, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            return None
        raise


def next_step(job: dict[str, Any] | None) -> str:
    """create (no job yet), attach (this run's job is running), done (it completed); one that ended otherwise
    raises (names are per run: trigger a new run)."""
    if job is None:
        return CREATE
    status = job["HyperParameterTuningJobStatus"]
    if status in RUNNING:
        return ATTACH
    if status == "Completed":
        return DONE
    raise ParamError(
        "tuning job",
        f"this run's tuning job {job['HyperParameterTuningJobName']} already ended {status}: "
        f"{job.get('FailureReason') or 'no reason given'}",
        "trigger a new run (names are per run)",
    )


def raise_for_status(job: dict[str, Any]) -> None:
    """A tuning job that did not complete, or completed without any scored training job, fails the run."""
    status = job["HyperParameterTuningJobStatus"]
    if status == "Completed" and job.get("BestTrainingJob"):
        return
    counters = job.get("TrainingJobStatusCounters", {})
    detail = job.get("FailureReason") or ("no training job reported the objective" if status == "Completed" else "")
    raise TrainingJobEnded(
        f"Tuning job {job['HyperParameterTuningJobName']} ended {status} (training jobs: "
        f"{', '.join(f'{k} {v}' for k, v in sorted(counters.items()))}). {detail}".strip()
    )


def trials(sagemaker: Any, name: str) -> list[dict[str, Any]]:
    """Every training job of the tuning job (ListTrainingJobsForHyperParameterTuningJob pages 10 by default)."""
    pages = sagemaker.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=name, PaginationConfig={"PageSize": 100}
    )
    return [summary for page in pages for summary in page["TrainingJobSummaries"]]


def stop_if_running(sagemaker: Any, name: str, *, owner: tuple[str, str] | None = None) -> bool:
    """Stops this run's tuning job if it still runs; SageMaker then stops its running training jobs."""
    from botocore.exceptions import ClientError

    job = describe_or_none(sagemaker, name)
    if job is None or job["HyperParameterTuningJobStatus"] != "InProgress":
        return False
    if owner is not None:  # never stop another run's job that carries this run's name (NotOwned, left running)
        check_owned(sagemaker, job["HyperParameterTuningJobArn"], f"tuning job {name}", *owner)
    try:
        sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        return False  # it ended meanwhile
    return True
