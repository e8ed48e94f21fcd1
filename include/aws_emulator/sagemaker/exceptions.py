"""SageMaker's error shapes the emulator answers with (botocore's model: ResourceInUse, ResourceLimitExceeded,
ResourceNotFound; everything else is a ValidationException), so ``client.exceptions.<Name>`` matches as on AWS."""

from __future__ import annotations

from moto.sagemaker.exceptions import ResourceInUseException, SagemakerClientError, ValidationError

__all__ = ["ResourceInUseException", "ResourceLimitExceeded", "ValidationError", "quota_exceeded"]


class ResourceLimitExceeded(SagemakerClientError):
    code = "ResourceLimitExceeded"

    def __init__(self, message: str) -> None:
        super().__init__(message)


def quota_exceeded(quota_name: str, limit: float, in_use: int, delta: int) -> ResourceLimitExceeded:
    """AWS's wording (aws/amazon-sagemaker-examples#263, AWS knowledge-center articles on SageMaker quotas)."""
    return ResourceLimitExceeded(
        f"The account-level service limit '{quota_name}' is {limit:g} Instances, with current utilization of "
        f"{in_use} Instances and a request delta of {delta} Instances. Please use AWS Service Quotas to request "
        "an increase for this quota."
    )
