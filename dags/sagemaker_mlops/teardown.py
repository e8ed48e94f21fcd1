"""Idempotent deletes of what a run deployed. There is no delete-endpoint operator, and the provider's
SageMakerDeleteModelOperator fails on a model that is already gone; a teardown must not."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def _gone(err: Exception) -> bool:
    response = getattr(err, "response", {}) or {}
    error = response.get("Error", {})
    return error.get("Code") == "ValidationException" and "Could not find" in error.get("Message", "")


def delete_endpoint(sagemaker: Any, name: str) -> bool:
    """Deletes the endpoint and waits until it is gone. False when it did not exist."""
    from botocore.exceptions import ClientError

    try:
        sagemaker.delete_endpoint(EndpointName=name)
    except ClientError as err:
        if _gone(err):
            log.info("Endpoint %s does not exist (already deleted or never created).", name)
            return False
        raise
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    log.info("Deleted endpoint %s.", name)
    return True


def delete_endpoint_config(sagemaker: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        sagemaker.delete_endpoint_config(EndpointConfigName=name)
    except ClientError as err:
        if _gone(err):
            log.info("Endpoint config %s does not exist.", name)
            return False
        raise
    log.info("Deleted endpoint config %s.", name)
    return True


def delete_model(sagemaker: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        sagemaker.delete_model(ModelName=name)
    except ClientError as err:
        if _gone(err):
            log.info("Model %s does not exist.", name)
            return False
        raise
    log.info("Deleted model %s.", name)
    return True
