"""Idempotent deletes of what a run deployed. There is no delete-endpoint operator, and the provider's
SageMakerDeleteModelOperator fails on a model that is already gone; a teardown must not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def _gone(err: Exception) -> bool:
    error = (getattr(err, "response", {}) or {}).get("Error", {})
    return error.get("Code") == "ValidationException" and "Could not find" in error.get("Message", "")


def _delete(call: Callable[[], Any], what: str) -> bool:
    """Runs one Delete call; False when the resource did not exist (already deleted or never created)."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as err:
        if _gone(err):
            log.info("%s does not exist (already deleted or never created).", what)
            return False
        raise
    log.info("Deleted %s.", what)
    return True


def delete_endpoint(sagemaker: Any, name: str) -> bool:
    """Deletes the endpoint and waits until it is gone (its instances stop billing only then)."""
    deleted = _delete(lambda: sagemaker.delete_endpoint(EndpointName=name), f"endpoint {name}")
    if deleted:
        sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name,
                                                      WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    return deleted


def delete_endpoint_config(sagemaker: Any, name: str) -> bool:
    return _delete(lambda: sagemaker.delete_endpoint_config(EndpointConfigName=name), f"endpoint config {name}")


def delete_model(sagemaker: Any, name: str) -> bool:
    return _delete(lambda: sagemaker.delete_model(ModelName=name), f"model {name}")
