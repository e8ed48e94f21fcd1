"""CreateModel / CreateEndpointConfig / CreateEndpoint requests as ``estimator.deploy(1, "ml.m5.xlarge")`` sends them.

Why not the SDK: the book's ``deploy()`` is three plain API calls (model, endpoint config with one ``AllTraffic``
variant of weight 1, endpoint); building them as dicts keeps the DAG free of the SDK and lets the requests be
rendered and checked (against botocore's model, in the tests) before anything is billed. One deliberate
difference from the SDK: it sends ``"Tags": []`` to CreateEndpoint when there are no tags; these builders omit
``Tags`` when empty (same meaning for the API).

Also here: the tags every resource gets (``mlops:*``) so a janitor can find and delete leftovers by owner, run and
expiry, and the conversion to the API's ``[{"Key", "Value"}]`` list. Stdlib only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from sagemaker_mlops.images import validate_image_uri
from sagemaker_mlops.naming import is_valid_sagemaker_name, run_token
from sagemaker_mlops.validation import ParamError, validate_role_arn, validate_s3_uri

__all__ = [
    "CREATED_BY",
    "DEFAULT_INFERENCE_INSTANCE_TYPE",
    "MAX_TAGS",
    "TAG_CREATED_BY",
    "TAG_DAG_ID",
    "TAG_DAG_RUN_ID",
    "TAG_EXPIRES_AT",
    "TAG_RUN_TOKEN",
    "VARIANT_NAME",
    "DeployConfigError",
    "as_tag_list",
    "build_endpoint_config_request",
    "build_endpoint_request",
    "build_model_request",
    "resource_tags",
    "sanitize_tag_value",
    "tag_errors",
]

DEFAULT_INFERENCE_INSTANCE_TYPE = "ml.m5.xlarge"
VARIANT_NAME = "AllTraffic"
"""The variant name the SDK's ``deploy()`` uses."""

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
_INFERENCE_INSTANCE_RE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")


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


def _name_errors(value: object, field: str) -> list[ParamError]:
    if is_valid_sagemaker_name(value):
        return []
    return [
        ParamError(
            field,
            f"{value!r} is not a SageMaker name (1-63 letters, digits and '-', starting and ending alphanumeric)",
            "build it with naming.resource_name()",
        )
    ]


def _bool_errors(value: object, field: str) -> list[ParamError]:
    if isinstance(value, bool):
        return []
    return [ParamError(field, f"must be true or false, got {value!r}", "pass a bool")]


def _run(errors: list[ParamError], check: Callable[..., object], *args: object) -> None:
    """Run a validation.py-style check and keep its errors instead of stopping at the first."""
    try:
        check(*args)
    except ParamError as error:
        errors.extend(error.errors)


def _raise_if(errors: list[ParamError]) -> None:
    if errors:
        raise DeployConfigError.combine(errors)


def build_model_request(
    model_name: str,
    image_uri: str,
    model_data_url: str,
    role_arn: str,
    tags: Mapping[str, str] | None = None,
    network_isolation: bool = True,
) -> dict[str, object]:
    """CreateModel: the training image serves the ``model.tar.gz`` the training job wrote.

    ``Environment: {}`` and ``EnableNetworkIsolation`` are what the SDK sends (the model inherits the estimator's
    isolation); the algorithm needs no environment variables.
    """
    errors = _name_errors(model_name, "model_name")
    _run(errors, validate_image_uri, image_uri, "image_uri")
    _run(errors, validate_s3_uri, model_data_url, "model_data_url")
    _run(errors, validate_role_arn, role_arn, "role_arn")
    errors += tag_errors(tags or {}, "tags") + _bool_errors(network_isolation, "network_isolation")
    _raise_if(errors)
    request: dict[str, object] = {
        "ModelName": model_name,
        "ExecutionRoleArn": role_arn,
        "PrimaryContainer": {"Image": image_uri, "Environment": {}, "ModelDataUrl": model_data_url},
        "EnableNetworkIsolation": network_isolation,
    }
    if tags:
        request["Tags"] = as_tag_list(tags)
    return request


def build_endpoint_config_request(
    config_name: str,
    model_name: str,
    instance_type: str = DEFAULT_INFERENCE_INSTANCE_TYPE,
    instance_count: int = 1,
    tags: Mapping[str, str] | None = None,
    shadow_variants: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """CreateEndpointConfig with the single ``AllTraffic`` variant of weight 1.0, as ``deploy()`` builds it.

    ``shadow_variants`` ({variant name: model name}) adds variants of weight 0: they get no traffic unless a
    request names them with ``TargetVariant`` — how pipeline 2 scores its base model on the same endpoint.

    Only the instance type's shape is checked here; whether SageMaker hosts that type (its
    ProductionVariantInstanceType enum) is asserted in the tests, to keep this module free of botocore.
    """
    errors = _name_errors(config_name, "config_name") + _name_errors(model_name, "model_name")
    if not isinstance(instance_type, str) or not _INFERENCE_INSTANCE_RE.fullmatch(instance_type):
        errors.append(
            ParamError(
                "instance_type",
                f"{instance_type!r} is not a SageMaker instance type (ml.<family>.<size>)",
                f"use e.g. {DEFAULT_INFERENCE_INSTANCE_TYPE!r} (the book's value)",
            )
        )
    if isinstance(instance_count, bool) or not isinstance(instance_count, int) or instance_count < 1:
        errors.append(
            ParamError("instance_count", f"{instance_count!r} is not an integer >= 1", "use 1 (the book's value)")
        )
    errors += tag_errors(tags or {}, "tags")
    for variant, shadow_model in (shadow_variants or {}).items():
        errors += _name_errors(shadow_model, f"shadow_variants[{variant}]")
        if variant == VARIANT_NAME or not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", str(variant)):
            errors.append(
                ParamError(
                    "shadow_variants",
                    f"{variant!r} is not a usable variant name",
                    f"use a name like 'BaseModel' (not {VARIANT_NAME!r})",
                )
            )
    _raise_if(errors)
    request: dict[str, object] = {
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {
                "VariantName": VARIANT_NAME,
                "ModelName": model_name,
                "InitialInstanceCount": instance_count,
                "InstanceType": instance_type,
                "InitialVariantWeight": 1.0,
            },
            *(
                {
                    "VariantName": variant,
                    "ModelName": shadow_model,
                    "InitialInstanceCount": instance_count,
                    "InstanceType": instance_type,
                    "InitialVariantWeight": 0.0,
                }
                for variant, shadow_model in (shadow_variants or {}).items()
            ),
        ],
    }
    if tags:
        request["Tags"] = as_tag_list(tags)
    return request


def build_endpoint_request(
    endpoint_name: str, config_name: str, tags: Mapping[str, str] | None = None
) -> dict[str, object]:
    """CreateEndpoint from an endpoint config (the provider's SageMakerEndpointOperator takes this as ``config``)."""
    errors = _name_errors(endpoint_name, "endpoint_name") + _name_errors(config_name, "config_name")
    _raise_if(errors + tag_errors(tags or {}, "tags"))
    request: dict[str, object] = {"EndpointName": endpoint_name, "EndpointConfigName": config_name}
    if tags:
        request["Tags"] = as_tag_list(tags)
    return request
