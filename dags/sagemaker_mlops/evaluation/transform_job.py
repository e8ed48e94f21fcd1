"""One transform job's state on SageMaker: stop it if it still runs. Shared by the evaluation's teardown and the
reaper (which finds transform jobs a killed run left). Stdlib and core only; botocore imported where it is used."""

from __future__ import annotations

from typing import Any


def describe_or_none(sagemaker: Any, job_name: str) -> dict[str, Any] | None:
    """DescribeTransformJob, or None when SageMaker knows no such job (ValidationException)."""
    from botocore.exceptions import ClientError

    try:
        return sagemaker.describe_transform_job(TransformJobName=job_name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ValidationException":
            return None
        raise


def stop_if_running(sagemaker: Any, job_name: str, *, owner: tuple[str, str] | None = None) -> bool:
    """StopTransformJob when the job is InProgress (its instances bill until it stops); False when it is gone or
    has ended (also if it ended between the Describe and the Stop). ``owner`` (dag id, run id): a job carrying this
    run's name but another run's tags is left running (:class:`~sagemaker_mlops.core.tags.NotOwned`)."""
    from botocore.exceptions import ClientError

    from sagemaker_mlops.core.tags import check_owned

    job = describe_or_none(sagemaker, job_name)
    if job is None or job["TransformJobStatus"] != "InProgress":
        return False
    if owner is not None:
        check_owned(sagemaker, job["TransformJobArn"], f"transform job {job_name}", *owner)
    try:
        sagemaker.stop_transform_job(TransformJobName=job_name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        return False
    return True
