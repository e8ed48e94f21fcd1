"""Requests for the guarded production endpoint, built before anything is created (pure, stdlib only).

Why each piece:

* the model is built from the approved package's own container (``InferenceSpecification.Containers[0]``: image and
  ``ModelDataUrl``), not ``Containers=[{"ModelPackageName": arn}]``: AWS accepts both, but the explicit form is
  what the emulator serves and what the logs show; the package ARN rides along as a tag (lineage);
* the endpoint config turns data capture on (requests and answers, a sampling percentage, into the package's bucket)
  so production traffic can be audited and used as future training data;
* an update is blue/green with a bake time, and rolls back on its own when one of the two CloudWatch alarms this
  DAG creates (``Invocation5XXErrors``, ``ModelLatency``) fires. The alarms watch the *new* fleet only, as AWS's
  "Auto-Rollback Configuration and Monitoring" guide shows: dimensions ``EndpointName``, ``VariantName`` and the
  new ``EndpointConfigName`` (SageMaker publishes that dimension once the new fleet takes traffic). On
  ``EndpointName`` + ``VariantName`` alone a 10 % canary would move the average latency by a tenth of its
  slowdown, and the old fleet's errors would abort a good deployment;
* how traffic shifts follows the fleet (:func:`traffic_routing`). SageMaker sizes a canary in whole instances and
  refuses one above half the fleet (botocore's ``CanarySize``), so a canary needs at least 2 instances — which AWS
  recommends for availability anyway. The default fleet is the book's single instance (a production endpoint
  bills around the clock): it is updated ALL_AT_ONCE, and the bake that follows is watched by the same alarms, so
  a bad model still rolls back. With ``instance_count`` >= 2 the update is a CANARY of ``canary_percent`` of the
  fleet, rounded up to whole instances, refused here when that is more than half of it;
* the tags say *production* and carry no ``mlops:expires-at``: the reaper keeps it (reaper.py), a person deletes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sagemaker_mlops.core.naming import drift_alarm_names, is_valid_sagemaker_name, run_token
from sagemaker_mlops.core.tags import NotOwned
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.serving.deploy_config import (
    CREATED_BY,
    TAG_CREATED_BY,
    TAG_DAG_ID,
    TAG_DAG_RUN_ID,
    TAG_RUN_TOKEN,
    VARIANT_NAME,
    DeployConfigError,
    build_endpoint_config_request,
    build_model_request,
    sanitize_tag_value,
)

__all__ = [
    "DEFAULT_ENDPOINT_NAME",
    "ENDPOINT_VARIABLE",
    "ENVIRONMENT_PRODUCTION",
    "TAG_ENVIRONMENT",
    "TAG_MODEL_PACKAGE",
    "alarm_names",
    "alarm_requests",
    "all_alarm_names",
    "check_package_group",
    "check_production",
    "confirm_update",
    "endpoint_config_request",
    "model_request",
    "package_container",
    "production_endpoint_name",
    "production_problem",
    "production_tags",
    "resource_tags_of",
    "traffic_routing",
    "update_request",
]

DEFAULT_ENDPOINT_NAME = "mnist-production"
# The production endpoint's name is the admin's (a Variable), never the trigger form's: the form could otherwise
# point a deployment, a decommission or the monitor at any endpoint the role may touch.
ENDPOINT_VARIABLE = "sagemaker_mlops_production_endpoint"
TAG_ENVIRONMENT = "mlops:environment"
ENVIRONMENT_PRODUCTION = "production"
TAG_MODEL_PACKAGE = "mlops:model-package"
MAX_CANARY_PERCENT = 50  # SageMaker: a canary is at most half of the new fleet
ALARM_METRICS = {"invocation-5xx": "Invocation5XXErrors", "model-latency": "ModelLatency"}


def production_tags(dag_id: str, run_id: str, package_arn: str) -> dict[str, str]:
    """The package's owner tags plus ``mlops:environment=production``, and no expiry: never reaped."""
    return {
        TAG_CREATED_BY: CREATED_BY,
        TAG_DAG_ID: sanitize_tag_value(dag_id),
        TAG_DAG_RUN_ID: sanitize_tag_value(run_id),
        TAG_RUN_TOKEN: run_token(dag_id, run_id),
        TAG_ENVIRONMENT: ENVIRONMENT_PRODUCTION,
        TAG_MODEL_PACKAGE: sanitize_tag_value(package_arn),
    }


def production_endpoint_name(variable: Any) -> str:
    """The production endpoint's name: the Variable ``sagemaker_mlops_production_endpoint`` (set by whoever may
    edit Variables), else ``mnist-production``; refused when it is not a SageMaker name."""
    name = (variable(ENDPOINT_VARIABLE) or "").strip() or DEFAULT_ENDPOINT_NAME
    if not is_valid_sagemaker_name(name):
        raise ParamError(
            ENDPOINT_VARIABLE,
            f"{name!r} is not a SageMaker endpoint name",
            "set it to 1-63 letters, digits and hyphens (e.g. mnist-production), or unset it",
        )
    return name


def production_problem(tags: Mapping[str, str]) -> str | None:
    """Why ``tags`` do not mark a resource this package made for production, else None."""
    expected = {TAG_CREATED_BY: CREATED_BY, TAG_ENVIRONMENT: ENVIRONMENT_PRODUCTION}
    differing = [
        f"{key}={tags.get(key)!r} (wanted {value!r})" for key, value in expected.items() if tags.get(key) != value
    ]
    return "; ".join(differing) or None


def resource_tags_of(sagemaker: Any, arn: str) -> dict[str, str]:
    """The SageMaker resource's tags (ListTags, every page)."""
    tags: dict[str, str] = {}
    for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
    return tags


def check_production(sagemaker: Any, arn: str, what: str) -> None:
    """Raise :class:`~sagemaker_mlops.core.tags.NotOwned` unless the resource is tagged as this package's production
    (``mlops:created-by`` and ``mlops:environment=production``). Why: a production run deletes or replaces by name,
    and a name alone does not say the resource is production's (another run's test endpoint, someone's by hand)."""
    problem = production_problem(resource_tags_of(sagemaker, arn))
    if problem is not None:
        raise NotOwned(
            f"{what} ({arn}) is not this package's production resource: {problem}. It was left untouched. Fix: "
            f"production acts only on resources tagged {TAG_ENVIRONMENT}={ENVIRONMENT_PRODUCTION} by "
            "mnist_deploy_production; delete another one by hand if it is a leftover"
        )


def check_package_group(package: Mapping[str, Any], group: str) -> None:
    """Refuse a package outside the admin's registry group (Variable ``sagemaker_mlops_model_package_group``): the
    form's ARN could otherwise deploy any Approved package the role can read (IAM alone is not the only check)."""
    found = package.get("ModelPackageGroupName")
    if found != group:
        raise DeployConfigError(
            "model_package_arn",
            f"{package.get('ModelPackageArn', '?')} is in the group {found!r}, not the registry's {group!r}",
            "pass a package of the group the pipelines register into (Variable sagemaker_mlops_model_package_group)",
        )


def package_container(package: Mapping[str, Any]) -> dict[str, str]:
    """The approved package's serving container (image and artifact); refused unless the package is Approved."""
    arn = package.get("ModelPackageArn", "?")
    status = package.get("ModelApprovalStatus")
    if status != "Approved":
        raise DeployConfigError(
            "model_package_arn",
            f"{arn} is {status}, not Approved",
            "approve it in the Model Registry (UpdateModelPackage ModelApprovalStatus=Approved) or pass another",
        )
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    if not containers or not containers[0].get("Image") or not containers[0].get("ModelDataUrl"):
        raise DeployConfigError(
            "model_package_arn",
            f"{arn} has no InferenceSpecification container with Image and ModelDataUrl",
            "register the package with the training job's image and model.tar.gz",
        )
    return {"Image": containers[0]["Image"], "ModelDataUrl": containers[0]["ModelDataUrl"]}


def model_request(model_name: str, package: Mapping[str, Any], role_arn: str, tags: Mapping[str, str]) -> dict:
    """CreateModel from the approved package's container, network-isolated like pipeline 1's."""
    container = package_container(package)
    return build_model_request(model_name, container["Image"], container["ModelDataUrl"], role_arn, tags)


def endpoint_config_request(
    config_name: str,
    model_name: str,
    *,
    instance_type: str,
    instance_count: int,
    capture_percent: int,
    capture_uri: str,
    tags: Mapping[str, str],
) -> dict:
    """CreateEndpointConfig with one ``AllTraffic`` variant and data capture (input and output) on."""
    errors: list[ParamError] = []
    if isinstance(capture_percent, bool) or not isinstance(capture_percent, int) or not 0 <= capture_percent <= 100:
        errors.append(ParamError("capture_percent", f"{capture_percent!r} is not 0-100", "use e.g. 20"))
    if not isinstance(capture_uri, str) or not capture_uri.startswith("s3://") or len(capture_uri) > 512:
        errors.append(ParamError("capture_uri", f"{capture_uri!r} is not an s3:// URI", "use s3://<bucket>/capture"))
    if errors:
        raise DeployConfigError.combine(errors)
    request = build_endpoint_config_request(config_name, model_name, instance_type, instance_count, tags)
    request["DataCaptureConfig"] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": capture_percent,
        "DestinationS3Uri": capture_uri,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }
    return request


def alarm_names(endpoint_name: str) -> list[str]:
    return [f"{endpoint_name}-{suffix}" for suffix in ALARM_METRICS]


def all_alarm_names(endpoint_name: str) -> list[str]:
    """Every alarm of the endpoint: the two rollback alarms and the production monitor's drift alarms (what
    decommission deletes; each left behind bills an alarm-month)."""
    return alarm_names(endpoint_name) + drift_alarm_names(endpoint_name)


def alarm_requests(endpoint_name: str, *, config_name: str, latency_ms: int, tags: Mapping[str, str]) -> list[dict]:
    """PutMetricAlarm for the new fleet's (``config_name``'s) 5XX errors (any, in a minute) and its average
    ModelLatency (µs): the old fleet's metrics do not count (AWS's auto-rollback guide, "on the new fleet")."""
    if isinstance(latency_ms, bool) or not isinstance(latency_ms, int) or latency_ms < 1:
        raise DeployConfigError("latency_alarm_ms", f"{latency_ms!r} is not an integer >= 1", "use e.g. 500")
    dimensions = [
        {"Name": "EndpointName", "Value": endpoint_name},
        {"Name": "VariantName", "Value": VARIANT_NAME},
        {"Name": "EndpointConfigName", "Value": config_name},
    ]
    thresholds = {"invocation-5xx": (1.0, "Sum"), "model-latency": (latency_ms * 1000.0, "Average")}
    return [
        {
            "AlarmName": f"{endpoint_name}-{suffix}",
            "AlarmDescription": f"Rolls back a deployment of {endpoint_name} (SageMaker AutoRollbackConfiguration).",
            "Namespace": "AWS/SageMaker",
            "MetricName": metric,
            "Dimensions": dimensions,
            "Statistic": thresholds[suffix][1],
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": thresholds[suffix][0],
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
        for suffix, metric in ALARM_METRICS.items()
    ]


def traffic_routing(instance_count: int, canary_percent: int, bake_seconds: int) -> dict[str, Any]:
    """The TrafficRoutingConfiguration this fleet allows (see the module docstring): ALL_AT_ONCE then a bake on one
    instance; else a CANARY of ``canary_percent`` of the fleet, which SageMaker rounds up to whole instances and
    refuses above half the fleet ("less than or equal to 50% of the variant's total instance count")."""
    if instance_count < 2:
        return {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": bake_seconds}
    canary_instances = max(1, math.ceil(instance_count * canary_percent / 100))
    if canary_instances * 100 > instance_count * MAX_CANARY_PERCENT:
        raise DeployConfigError(
            "canary_percent",
            f"{canary_percent}% of {instance_count} instances is {canary_instances} whole instance(s), more than "
            "half the fleet (SageMaker sizes a canary in instances and refuses more than 50%)",
            f"use at most {100 * (instance_count // 2) // instance_count}% or more instances",
        )
    return {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": canary_percent},
        "WaitIntervalInSeconds": bake_seconds,
    }


def update_request(
    endpoint_name: str,
    config_name: str,
    *,
    instance_count: int,
    canary_percent: int,
    bake_seconds: int,
    termination_wait_seconds: int,
    alarms: list[str],
) -> dict:
    """UpdateEndpoint, blue/green, routed as the fleet allows (:func:`traffic_routing`), behind the alarms."""
    errors: list[ParamError] = []
    if isinstance(canary_percent, bool) or not isinstance(canary_percent, int):
        canary_percent = -1
    if not 1 <= canary_percent <= MAX_CANARY_PERCENT:
        errors.append(ParamError("canary_percent", f"must be 1-{MAX_CANARY_PERCENT}", "use e.g. 10"))
    if isinstance(instance_count, bool) or not isinstance(instance_count, int) or instance_count < 1:
        errors.append(ParamError("instance_count", f"{instance_count!r} is not an integer >= 1", "use 1, or 2+"))
    for name, value in (("bake_seconds", bake_seconds), ("termination_wait_seconds", termination_wait_seconds)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3600:
            errors.append(ParamError(name, f"{value!r} is not 0-3600 seconds", "use e.g. 300"))
    if not 1 <= len(alarms) <= 10:
        errors.append(ParamError("alarms", f"{len(alarms)} alarms; SageMaker takes 1-10", "pass the DAG's alarms"))
    if not is_valid_sagemaker_name(endpoint_name) or not is_valid_sagemaker_name(config_name):
        errors.append(ParamError("endpoint_name", f"{endpoint_name!r}/{config_name!r} invalid", "use SageMaker names"))
    if errors:
        raise DeployConfigError.combine(errors)
    return {
        "EndpointName": endpoint_name,
        "EndpointConfigName": config_name,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": traffic_routing(instance_count, canary_percent, bake_seconds),
                "TerminationWaitInSeconds": termination_wait_seconds,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
        },
    }


def confirm_update(described: Mapping[str, Any], wanted_config: str) -> str | None:
    """None when the endpoint serves ``wanted_config``; else why not. SageMaker rolls back *silently*: the
    endpoint is InService on its old config, only ``FailureReason`` tells (hashicorp/terraform-provider-aws#39099)."""
    status, serving = described.get("EndpointStatus"), described.get("EndpointConfigName")
    if status == "InService" and serving == wanted_config:
        return None
    reason = described.get("FailureReason") or "no FailureReason given"
    return f"endpoint {described.get('EndpointName')} is {status} on config {serving}, not {wanted_config}: {reason}"


# An update runs the new fleet beside the old one: the create wait (1 h at most), the bake, the termination wait.
UPDATE_CREATE_SECONDS = 3600


def worst_per_day(
    instance_type: str, instance_count: int, region: str, *, bake_seconds: int = 0, termination_wait_seconds: int = 0
) -> dict[str, Any]:
    """The production endpoint's worst case for one day, per term: the fleet around the clock, plus, on the day of a
    blue/green update, the new fleet beside the old one until the old one is terminated. Unknown type or region
    fails closed (a ParamError from :mod:`sagemaker_mlops.core.prices`)."""
    from sagemaker_mlops.core import prices

    hourly = prices.hourly("inference", instance_type, region, "instance_type")
    serving = hourly * instance_count * 24
    overlap_seconds = UPDATE_CREATE_SECONDS + int(bake_seconds) + int(termination_wait_seconds)
    overlap = hourly * instance_count * overlap_seconds / 3600.0
    cents = lambda usd: math.ceil(round(usd * 100, 6)) / 100  # noqa: E731 - rounded up: never under-stated
    return {
        "usd_per_day": cents(serving + overlap),
        "terms": {"serving_24h": cents(serving), "update_overlap": cents(overlap)},
        "how": [
            f"serving {instance_count} x {instance_type} x 24 h x {hourly} USD/h = {serving:.2f} USD",
            f"update overlap {instance_count} x {instance_type} x {overlap_seconds} s (create wait + bake + "
            f"termination wait) x {hourly} USD/h = {overlap:.2f} USD",
        ],
        "region": region,
    }


def check_production_ceilings(params: Mapping[str, Any], region: str, variable: Any) -> dict[str, Any]:
    """The admin's production ceilings (allowed types, instance count, region, cost per day; Variables the form
    cannot raise), all problems at once; returns the per-day worst case when within them."""
    from sagemaker_mlops.core import ceilings, prices
    from sagemaker_mlops.core.validation import collect_errors

    found: dict[str, Any] = {}
    instance_type, count = params.get("instance_type"), params.get("instance_count")

    def check_cost() -> None:
        worst = worst_per_day(
            str(instance_type),
            int(count),
            region,
            bake_seconds=int(params.get("bake_seconds") or 0),
            termination_wait_seconds=int(params.get("termination_wait_seconds") or 0),
        )
        ceiling = ceilings.number(variable, ceilings.PRODUCTION_PER_DAY)
        if worst["usd_per_day"] > ceiling:
            raise ParamError(
                "instance_count",
                f"the production endpoint's worst day costs {worst['usd_per_day']:.2f} USD, above the admin's ceiling "
                f"of {ceiling:g} USD per day (Variable {ceilings.PRODUCTION_PER_DAY.variable}); computed as "
                f"{'; '.join(worst['how'])}",
                f"lower instance_count or choose a cheaper instance_type, or ask whoever may edit Variables to raise "
                f"{ceilings.PRODUCTION_PER_DAY.variable}",
            )
        found["worst"] = {**worst, "max_usd_per_day": ceiling}

    checks = [
        lambda: ceilings.one_of(
            "instance_type",
            instance_type,
            variable,
            ceilings.PRODUCTION_TYPES,
            default=sorted(prices.table()["inference"]),
        ),
        lambda: ceilings.at_most("instance_count", count, variable, ceilings.PRODUCTION_COUNT),
        lambda: ceilings.one_of("region", region, variable, ceilings.REGIONS, default=prices.priced_regions()),
    ]
    collect_errors(checks)
    collect_errors([check_cost])
    return found["worst"]
