"""Idempotent deletes of what a run deployed. There is no delete-endpoint operator, and the provider's
SageMakerDeleteModelOperator fails on a model that is already gone; a teardown must not.

Every call retries throttling and 5xx answers with back-off for :data:`OUTAGE_SECONDS` (botocore's own few retries
last seconds, an outage minutes), then fails with :class:`DeleteFailed` naming what is left (the reaper removes it).

Given an ``owner`` (dag id, run id), a delete first reads the resource's tags and deletes only when they name that
run (:func:`sagemaker_mlops.core.tags.check_owned`); otherwise it raises :class:`NotOwned` and leaves it."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from sagemaker_mlops.core.tags import NotOwned, check_owned

__all__ = ["DeleteFailed", "EndpointBusy", "NotOwned", "delete_endpoint", "delete_endpoint_config", "delete_model"]

Owner = tuple[str, str]  # (dag id, run id) whose tags a resource must carry before a teardown deletes it

log = logging.getLogger(__name__)

# SageMaker refuses DeleteEndpoint while an endpoint is Creating or Updating (it must reach InService or Failed
# first; aws/amazon-sagemaker-examples#3432), and Deleting is already on its way out.
# Endpoint states that refuse DeleteEndpoint/UpdateEndpoint until they end (botocore's EndpointStatus: SystemUpdating,
# SageMaker's own maintenance, "cannot be updated or deleted or re-scaled until it has completed").
IN_TRANSITION = ("Creating", "Updating", "SystemUpdating", "RollingBack")
# How long a teardown task holds its worker waiting for an endpoint in transition before it reschedules.
BUSY_WAIT_SECONDS = 60.0
# How long a deleted endpoint may stay Deleting before the teardown fails naming it.
DELETING_SECONDS = 600.0


# How long a delete keeps retrying throttling/5xx before it gives up (env: short in tests and local runs).
OUTAGE_SECONDS = float(os.environ.get("SAGEMAKER_MLOPS_TEARDOWN_RETRY_SECONDS", "120"))
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 15.0
# Throttling, and expired credentials (refreshed by the connection: a later try can succeed).
_TRANSIENT_CODES = {
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
}


class DeleteFailed(RuntimeError):
    """A delete still failed after :data:`OUTAGE_SECONDS` of retries: the resource is left (and may bill)."""


def _transient(err: Exception) -> bool:
    response = getattr(err, "response", {}) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return response.get("Error", {}).get("Code") in _TRANSIENT_CODES or status >= 500


def _with_retries(call: Callable[[], Any], what: str) -> Any:
    """``call()``, retried with exponential back-off while AWS answers throttling or 5xx."""
    from botocore.exceptions import ClientError

    deadline = time.monotonic() + OUTAGE_SECONDS
    delay = FIRST_BACKOFF_SECONDS
    while True:
        try:
            return call()
        except ClientError as err:
            if not _transient(err):
                raise
            if time.monotonic() + delay > deadline:
                raise DeleteFailed(
                    f"{what} is left: AWS kept answering {err.response['Error'].get('Code')} for "
                    f"{OUTAGE_SECONDS:.0f} s ({err}). The reaper (DAG sagemaker_mlops_reaper) deletes it at its next "
                    "run once it has expired; or delete it from the console."
                ) from err
            log.warning("%s: %s; retrying in %.1f s.", what, err, delay)
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


class EndpointBusy(RuntimeError):
    """The endpoint is still Creating/Updating after a short wait: try again later rather than hold a worker."""


def _gone(err: Exception) -> bool:
    error = (getattr(err, "response", {}) or {}).get("Error", {})
    return error.get("Code") == "ValidationException" and "Could not find" in error.get("Message", "")


def _delete(call: Callable[[], Any], what: str) -> bool:
    """Runs one Delete call; False when the resource did not exist (already deleted or never created)."""
    from botocore.exceptions import ClientError

    try:
        _with_retries(call, what)
    except ClientError as err:
        if _gone(err):
            log.info("%s does not exist (already deleted or never created).", what)
            return False
        raise
    log.info("Deleted %s.", what)
    return True


def _describe(call: Callable[[], Any]) -> Any:
    """A Describe call through an outage; None when the resource does not exist."""
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as err:
        if _gone(err):
            return None
        raise


def _status(sagemaker: Any, name: str) -> str | None:
    found = _describe(lambda: _with_retries(lambda: sagemaker.describe_endpoint(EndpointName=name), f"endpoint {name}"))
    return None if found is None else found["EndpointStatus"]


def _check_owner(sagemaker: Any, arn: str, what: str, owner: Owner | None, describe: Callable[[], Any]) -> bool:
    """Raise NotOwned unless ``owner`` is None or the resource's tags name that run; False when it is gone.

    Why ``describe``: the resource can be deleted between the Describe that found its ARN and ListTags, which then
    answers ValidationException; a Describe that now finds nothing means gone (nothing bills, nothing to delete),
    any other answer re-raises the ListTags error."""
    from botocore.exceptions import ClientError

    if owner is None:
        return True
    try:
        _with_retries(lambda: check_owned(sagemaker, arn, what, *owner), f"tags of {what}")
    except ClientError as err:
        if (err.response.get("Error") or {}).get("Code") != "ValidationException" or _describe(describe) is not None:
            raise
        log.info("%s does not exist any more (deleted while its tags were read).", what)
        return False
    return True


def delete_endpoint(
    sagemaker: Any,
    name: str,
    *,
    wait_seconds: float | None = None,
    poll_seconds: float = 5.0,
    owner: Owner | None = None,
) -> bool:
    """Deletes the endpoint and waits until it is gone (its instances stop billing only then).

    An endpoint still Creating/Updating/SystemUpdating cannot be deleted: wait up to ``wait_seconds`` for it to
    leave that state, else raise :class:`EndpointBusy` so the task can hand its worker slot back and try again later.
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
    if status != "Deleting" and owner is not None:
        describe = lambda: sagemaker.describe_endpoint(EndpointName=name)  # noqa: E731
        found = _describe(describe)
        if found is None or not _check_owner(sagemaker, found["EndpointArn"], f"endpoint {name}", owner, describe):
            log.info("endpoint %s does not exist (already deleted).", name)
            return False
    if status != "Deleting" and not _delete(lambda: sagemaker.delete_endpoint(EndpointName=name), f"endpoint {name}"):
        return False
    gone_by = time.monotonic() + DELETING_SECONDS
    while _status(sagemaker, name) is not None:  # Deleting (each Describe retried through an outage)
        if time.monotonic() >= gone_by:
            raise DeleteFailed(f"endpoint {name} is left: still Deleting after {DELETING_SECONDS:.0f} s.")
        time.sleep(poll_seconds)
    log.info("Endpoint %s is gone.", name)
    return True


def delete_endpoint_config(sagemaker: Any, name: str, *, owner: Owner | None = None) -> bool:
    """Deletes the endpoint config (only when tagged as ``owner``'s); False when it did not exist."""
    if owner is not None:
        describe = lambda: sagemaker.describe_endpoint_config(EndpointConfigName=name)  # noqa: E731
        found = _describe(describe)
        if found is None or not _check_owner(
            sagemaker, found["EndpointConfigArn"], f"endpoint config {name}", owner, describe
        ):
            log.info("endpoint config %s does not exist (already deleted or never created).", name)
            return False
    return _delete(lambda: sagemaker.delete_endpoint_config(EndpointConfigName=name), f"endpoint config {name}")


def delete_model(sagemaker: Any, name: str, *, owner: Owner | None = None) -> bool:
    """Deletes the model (only when tagged as ``owner``'s); False when it did not exist."""
    if owner is not None:
        describe = lambda: sagemaker.describe_model(ModelName=name)  # noqa: E731
        found = _describe(describe)
        if found is None or not _check_owner(sagemaker, found["ModelArn"], f"model {name}", owner, describe):
            log.info("model %s does not exist (already deleted or never created).", name)
            return False
    return _delete(lambda: sagemaker.delete_model(ModelName=name), f"model {name}")
