"""The tags every resource gets (``mlops:*``), so a janitor can find and delete leftovers by owner, run and expiry,
and their conversion to the API's ``[{"Key", "Value"}]`` list, checked against the AWS tag rules. Stdlib only.

Here, below every capability, because training, tuning, serving, the registry and the reaper all tag or read tags.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sagemaker_mlops.core.naming import run_token
from sagemaker_mlops.core.validation import ParamError

CREATED_BY = "airflow-sagemaker-mlops"
TAG_CREATED_BY = "mlops:created-by"
TAG_DAG_ID = "mlops:dag-id"
TAG_DAG_RUN_ID = "mlops:dag-run-id"
TAG_RUN_TOKEN = "mlops:run-token"
TAG_EXPIRES_AT = "mlops:expires-at"

MAX_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
_TAG_PUNCTUATION = frozenset("_.:/=+-@ ")


class DeployConfigError(ParamError):
    """A model, endpoint config or endpoint request cannot be built from these values."""


def _tag_char_ok(char: str) -> bool:
    """Whether ``char`` is allowed by the AWS tag pattern ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]`` (space for \\p{Z})."""
    return char in _TAG_PUNCTUATION or unicodedata.category(char)[0] in ("L", "N")


def sanitize_tag_value(text: str, max_length: int = MAX_TAG_VALUE_LENGTH) -> str:
    """``text`` with characters the tag rules refuse replaced by ``_`` and cut to ``max_length`` (256).

    Custom Airflow run ids may hold characters (``~``, ``#``, newlines) that the tag rules refuse, and a refused
    tag fails the whole Create* call.
    """
    cleaned = "".join(char if _tag_char_ok(char) else "_" for char in text)
    return cleaned[:max_length]


def resource_tags(dag_id: str, run_id: str, expires_at: datetime) -> dict[str, str]:
    """The ``mlops:*`` tags for every resource of one run; ``expires_at`` (tz-aware) is written as ISO UTC.

    ``mlops:run-token`` is the hash also used in the resource names, so a run is still identifiable when a very
    long run id had to be cut to 256 characters.
    """
    if not isinstance(expires_at, datetime) or expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise DeployConfigError(
            "expires_at",
            f"{expires_at!r} is not a timezone-aware datetime",
            "pass e.g. datetime.now(UTC) + timedelta(hours=6)",
        )
    expires = expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        TAG_CREATED_BY: CREATED_BY,
        TAG_DAG_ID: sanitize_tag_value(dag_id),
        TAG_DAG_RUN_ID: sanitize_tag_value(run_id),
        TAG_RUN_TOKEN: run_token(dag_id, run_id),
        TAG_EXPIRES_AT: expires,
    }


def tag_errors(tags: object, field: str) -> list[ParamError]:
    """Problems with ``tags`` under the AWS tag rules (count, key/value length and characters, ``aws:`` prefix)."""
    if not isinstance(tags, Mapping):
        return [ParamError(field, f"must be a mapping of str to str, got {type(tags).__name__}", "pass a dict")]
    errors: list[ParamError] = []
    if len(tags) > MAX_TAGS:
        errors.append(ParamError(field, f"has {len(tags)} tags, AWS allows {MAX_TAGS}", "drop some tags"))
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            errors.append(ParamError(field, f"tag {key!r}={value!r} is not str=str", "convert keys and values to str"))
            continue
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH or not all(map(_tag_char_ok, key)):
            errors.append(
                ParamError(
                    field,
                    f"tag key {key!r} is not 1-{MAX_TAG_KEY_LENGTH} letters, digits, spaces or _.:/=+-@",
                    "rename the key",
                )
            )
        elif key.lower().startswith("aws:"):
            errors.append(ParamError(field, f"tag key {key!r} uses the reserved 'aws:' prefix", "rename the key"))
        if len(value) > MAX_TAG_VALUE_LENGTH or not all(map(_tag_char_ok, value)):
            errors.append(
                ParamError(
                    field,
                    f"tag {key!r} has a value that is not 0-{MAX_TAG_VALUE_LENGTH} letters, digits, spaces or _.:/=+-@",
                    "pass the value through sanitize_tag_value()",
                )
            )
    return errors


def as_tag_list(tags: Mapping[str, str] | None, *, field: str = "tags") -> list[dict[str, str]]:
    """``{"k": "v"}`` as the API's ``[{"Key": "k", "Value": "v"}]``, in order; checked against the AWS tag rules."""
    if tags is None:
        return []
    errors = tag_errors(tags, field)
    if errors:
        raise DeployConfigError.combine(errors)
    return [{"Key": key, "Value": value} for key, value in tags.items()]


class NotOwned(RuntimeError):
    """A resource with this run's name whose tags name another run (or none): a teardown leaves it alone."""


def owner_tags(dag_id: str, run_id: str) -> dict[str, str]:
    """The tags that say a resource is this run's: DAG id, run id and run token, as :func:`resource_tags` writes."""
    return {
        TAG_DAG_ID: sanitize_tag_value(dag_id),
        TAG_DAG_RUN_ID: sanitize_tag_value(run_id),
        TAG_RUN_TOKEN: run_token(dag_id, run_id),
    }


def ownership_problem(tags: Mapping[str, str], dag_id: str, run_id: str) -> str | None:
    """Why ``tags`` do not name this run (each differing tag, what it says and what this run's says), else None."""
    expected = owner_tags(dag_id, run_id)
    differing = [
        f"{key}={tags.get(key)!r} (this run: {value!r})" for key, value in expected.items() if tags.get(key) != value
    ]
    return "; ".join(differing) or None


def check_owned(sagemaker: Any, arn: str, what: str, dag_id: str, run_id: str) -> None:
    """Raise :class:`NotOwned` unless the SageMaker resource ``arn`` is tagged as this run's (ListTags).

    Why: teardowns stop and delete by name, and a name is only as unique as its token; a resource of another run
    (or one made by hand) that happens to carry this run's name must never be stopped or deleted by it.
    """
    tags: dict[str, str] = {}
    for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
    problem = ownership_problem(tags, dag_id, run_id)
    if problem is not None:
        raise NotOwned(
            f"{what} ({arn}) has this run's name but is not this run's: {problem}. It was left untouched. "
            "Fix: find its owner by its tags; delete or stop it by hand if it is a leftover"
        )
