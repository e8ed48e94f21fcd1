"""CreateModel / CreateEndpointConfig / CreateEndpoint requests as ``estimator.deploy(1, "ml.m5.xlarge")`` sends them.

Why not the SDK: the book's ``deploy()`` is three plain API calls (model, endpoint config with one ``AllTraffic``
variant of weight 1, endpoint); building them as dicts keeps the DAG free of the SDK and lets the requests be
rendered and checked (against botocore's model, in the tests) before anything is billed. One deliberate
difference from the SDK: it sends ``"Tags": []`` to CreateEndpoint when there are no tags; these builders omit
``Tags`` when empty (same meaning for the API).

The ``mlops:*`` tags and their checks live in :mod:`sagemaker_mlops.core.tags` (every capability tags). Stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from sagemaker_mlops.core.images import validate_image_uri
from sagemaker_mlops.core.naming import is_valid_sagemaker_name
from sagemaker_mlops.core.tags import (
    CREATED_BY,
    MAX_TAGS,
    TAG_CREATED_BY,
    TAG_DAG_ID,
    TAG_DAG_RUN_ID,
    TAG_EXPIRES_AT,
    TAG_RUN_TOKEN,
    DeployConfigError,
    as_tag_list,
    resource_tags,
    sanitize_tag_value,
    tag_errors,
)
from sagemaker_mlops.core.validation import ParamError, validate_role_arn, validate_s3_uri

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

_INFERENCE_INSTANCE_RE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")


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
