"""Idempotent deletes of what a run deployed. There is no delete-endpoint operator, and the provider's
SageMakerDeleteModelOperator fails on a model that is already gone; a teardown must not."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# SageMaker refuses DeleteEndpoint while an endpoint is Creating or Updating (it must reach InService or Failed
# first; aws/amazon-sagemaker-examples#3432), and Deleting is already on its way out.
IN_TRANSITION = ("Creating", "Updating")
# How long a teardown task holds its worker waiting for an endpoint in transition before it reschedules.
BUSY_WAIT_SECONDS = 60.0


class EndpointBusy(RuntimeError):
    """The endpoint is still Creating/Updating after a short wait: try again later rather than hold a worker."""


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


def _status(sagemaker: Any, name: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        return sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"]
    except ClientError as err:
        if _gone(err):
            return None
        raise


def delete_endpoint(sagemaker: Any, name: str, *, wait_seconds: float | None = None, poll_seconds: float = 5.0) -> bool:
    """Deletes the endpoint and waits until it is gone (its instances stop billing only then).

    An endpoint still Creating/Updating cannot be deleted: wait up to ``wait_seconds`` for it to leave that
    state, else raise :class:`EndpointBusy` so the task can hand its worker slot back and try again later.
    True when this call deleted it (or found it Deleting and saw it go), False when it did not exist.
    """
    deadline = time.monotonic() + (BUSY_WAIT_SECONDS if wait_seconds is None else wait_seconds)
    status = _status(sagemaker, name)
    while status in IN_TRANSITION:
        if time.monotonic() >= deadline:
            raise EndpointBusy(
                f"Endpoint {name} is still {status}; SageMaker deletes it only once it is InService "
                "or Failed. The teardown will try again."
            )
        time.sleep(poll_seconds)
        status = _status(sagemaker, name)
    if status is None:
        log.info("endpoint %s does not exist (already deleted or never created).", name)
        return False
    if status != "Deleting" and not _delete(lambda: sagemaker.delete_endpoint(EndpointName=name), f"endpoint {name}"):
        return False
    delay = max(1, round(poll_seconds))
    sagemaker.get_waiter("endpoint_deleted").wait(
        EndpointName=name, WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(600 / delay))}
    )
    log.info("Endpoint %s is gone.", name)
    return True


def delete_endpoint_config(sagemaker: Any, name: str) -> bool:
    return _delete(lambda: sagemaker.delete_endpoint_config(EndpointConfigName=name), f"endpoint config {name}")


def delete_model(sagemaker: Any, name: str) -> bool:
    return _delete(lambda: sagemaker.delete_model(ModelName=name), f"model {name}")
