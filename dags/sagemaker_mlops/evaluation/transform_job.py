"""One transform job's state on SageMaker: stop it if it still runs. Shared by the evaluation's teardown and the
reaper (which finds transform jobs a killed run left). Stdlib only; botocore imported where it is used."""

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


def stop_if_running(sagemaker: Any, job_name: str) -> bool:
    """StopTransformJob when the job is InProgress (its instances bill until it stops); False when it is gone or
    has ended (also if it ended between the Describe and the Stop)."""
    from botocore.exceptions import ClientError

    job = describe_or_none(sagemaker, job_name)
    if job is None or job["TransformJobStatus"] != "InProgress":
        return False
    try:
        sagemaker.stop_transform_job(TransformJobName=job_name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        return False
    return True
