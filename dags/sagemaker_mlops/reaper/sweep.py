"""The reaper's AWS side: find the package's SageMaker resources, price them, read endpoints' use, and carry out
what :mod:`.rules` decided. :func:`sweep` is the one path the DAG and ``make reap`` (include/dev/reap.py) share.

Finding costs one List call per page and kind (``NameContains="mlops-"``: only the package's names, which the
IAM policy scopes the Airflow role to; tuning, training and transform jobs only ``InProgress``) and one ListTags
per ``mlops-`` resource; nothing is read from, or done to, other names. Only for what carries the package's tags
(:func:`.rules.is_owned`): a DescribeEndpoint + DescribeEndpointConfig per endpoint (instance type and count: its
cost per hour) and one GetMetricData per endpoint (``Invocations`` of each variant, AWS/SageMaker), and a Describe
per running job (its instances: its cost per hour). Carrying out reuses the teardown's idempotent deletes (an
endpoint is waited for until gone, so its instances have stopped billing) and the training, tuning and transform
stops (stopping a tuning job stops its trials). One failure does not stop the others: each outcome is recorded,
and the caller fails the run when any failed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sagemaker_mlops.core.metrics import metric_period, variant_sum_query
from sagemaker_mlops.core.naming import NAME_PREFIX
from sagemaker_mlops.core.report import prices
from sagemaker_mlops.evaluation import transform_job
from sagemaker_mlops.reaper import rules
from sagemaker_mlops.reaper.rules import JOB_KINDS, Decision, Policy, Resource, RunState, Usage, is_candidate
from sagemaker_mlops.serving import teardown
from sagemaker_mlops.training import job as training
from sagemaker_mlops.tuning import job as tuning_job

log = logging.getLogger(__name__)

# kind -> (paginated List operation, result key, name key, ARN key, status key or None, deployment time key)
_LISTINGS = {
    "endpoint": ("list_endpoints", "Endpoints", "EndpointName", "EndpointArn", "EndpointStatus", "LastModifiedTime"),
    "endpoint_config": (
        "list_endpoint_configs",
        "EndpointConfigs",
        "EndpointConfigName",
        "EndpointConfigArn",
        None,
        "CreationTime",
    ),
    "model": ("list_models", "Models", "ModelName", "ModelArn", None, "CreationTime"),
    "tuning_job": (
        "list_hyper_parameter_tuning_jobs",
        "HyperParameterTuningJobSummaries",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobArn",
        "HyperParameterTuningJobStatus",
        "CreationTime",
    ),
    "training_job": (
        "list_training_jobs",
        "TrainingJobSummaries",
        "TrainingJobName",
        "TrainingJobArn",
        "TrainingJobStatus",
        "CreationTime",
    ),
    "transform_job": (
        "list_transform_jobs",
        "TransformJobSummaries",
        "TransformJobName",
        "TransformJobArn",
        "TransformJobStatus",
        "CreationTime",
    ),
}


def _tags(sagemaker: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
    return tags


def inventory(sagemaker: Any) -> list[Resource]:
    """Every endpoint, endpoint config and model, and every running tuning, training and transform job, named
    ``mlops-…``, with its status, tags and deployment (or creation) time."""
    found = []
    for kind, (operation, key, name_key, arn_key, status_key, time_key) in _LISTINGS.items():
        filters = {"NameContains": f"{NAME_PREFIX}-"}
        if kind in JOB_KINDS:  # only a running job can be acted on; ended ones are many and never touched
            filters["StatusEquals"] = "InProgress"
        for page in sagemaker.get_paginator(operation).paginate(**filters):
            for item in page.get(key, []):
                if not is_candidate(item[name_key]):  # NameContains matches anywhere in the name
                    continue
                found.append(
                    Resource(
                        kind=kind,
                        name=item[name_key],
                        arn=item[arn_key],
                        status=item.get(status_key) if status_key else None,
                        tags=_tags(sagemaker, item[arn_key]),
                        deployed_at=item.get(time_key),
                    )
                )
    return found


def _carry_out(sagemaker: Any, decision: Decision) -> str:
    resource = decision.resource
    if decision.action == "stop":
        stop = {
            "training_job": training.stop_if_running,
            "tuning_job": tuning_job.stop_if_running,
            "transform_job": transform_job.stop_if_running,
        }[resource.kind]
        return "stopped" if stop(sagemaker, resource.name) else "gone"
    delete = {
        "endpoint": teardown.delete_endpoint,
        "endpoint_config": teardown.delete_endpoint_config,
        "model": teardown.delete_model,
    }[resource.kind]
    return "deleted" if delete(sagemaker, resource.name) else "gone"


def carry_out(sagemaker: Any, decisions: Iterable[Decision]) -> dict[str, str]:
    """ARN -> "deleted" | "stopped" | "gone" (already) | "error: …", for every decision that acts."""
    outcomes = {}
    for decision in decisions:
        if decision.action == "keep":
            continue
        try:
            outcomes[decision.resource.arn] = _carry_out(sagemaker, decision)
        except Exception as error:
            log.exception("Could not %s %s %s", decision.action, decision.resource.kind, decision.resource.name)
            outcomes[decision.resource.arn] = f"error: {type(error).__name__}: {error}"
    return outcomes


# -- cost per hour and use: only for what carries the package's tags --------------------------------------------------
LOOKBACK = timedelta(days=14)  # how far back an endpoint's last invocation is looked for (its idle time's cap)


def invocation_queries(endpoint: str, variants: Iterable[str], period: int) -> list[dict[str, Any]]:
    """One GetMetricData query (Sum of ``Invocations``, dimensions EndpointName + VariantName) per variant."""
    return [
        variant_sum_query(f"v{index}", endpoint, variant, "Invocations", period, label=variant)
        for index, variant in enumerate(variants)
    ]


def endpoint_usage(cloudwatch: Any, endpoint: str, variants: list[str], now: datetime) -> Usage:
    """The end of the last period in which any variant of ``endpoint`` was invoked, over the last :data:`LOOKBACK`."""
    start = now - LOOKBACK
    period = metric_period(start, now, now)
    last = None
    if variants:
        request = {"MetricDataQueries": invocation_queries(endpoint, variants, period), "StartTime": start}
        for page in cloudwatch.get_paginator("get_metric_data").paginate(**request, EndTime=now):
            for result in page.get("MetricDataResults", []):
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    end = stamp + timedelta(seconds=period)  # any time in the period: count from its end
                    if value > 0 and (last is None or end > last):
                        last = min(end, now)
    return Usage(since=start, last_invocation=last)


def _hourly(kind: str, instance_type: str | None, count: int) -> float | None:
    price = prices()[kind].get(instance_type or "")
    return None if price is None else round(price * count, 4)


def _endpoint(sagemaker: Any, cloudwatch: Any, resource: Resource, now: datetime) -> Resource:
    endpoint = sagemaker.describe_endpoint(EndpointName=resource.name)
    variants = endpoint.get("ProductionVariants", [])
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    types = {v["VariantName"]: v.get("InstanceType") for v in config.get("ProductionVariants", [])}
    counts = {v["VariantName"]: int(v.get("CurrentInstanceCount") or 0) for v in variants}
    if not counts:  # still Creating: no variant summaries yet, its instances are starting (and will bill)
        counts = {
            v["VariantName"]: int(v.get("InitialInstanceCount") or 0) for v in config.get("ProductionVariants", [])
        }
    costs = [_hourly("inference", types.get(name), count) for name, count in counts.items()]
    hourly = None if None in costs else round(sum(c for c in costs if c is not None), 4)
    if endpoint.get("EndpointStatus") == "Failed":  # no instances run (it is only clutter)
        hourly = 0.0
    usage = endpoint_usage(cloudwatch, resource.name, list(counts), now)
    return dataclasses.replace(resource, hourly_usd=hourly, usage=usage)


def _job(sagemaker: Any, resource: Resource) -> Resource:
    if resource.kind == "transform_job":  # batch transform bills its instances at the inference price
        config = sagemaker.describe_transform_job(TransformJobName=resource.name).get("TransformResources", {})
        count = int(config.get("InstanceCount") or 1)
        return dataclasses.replace(resource, hourly_usd=_hourly("inference", config.get("InstanceType"), count))
    if resource.kind == "training_job":
        config = sagemaker.describe_training_job(TrainingJobName=resource.name).get("ResourceConfig", {})
        parallel = 1
    else:
        job = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=resource.name)
        definition = job.get("TrainingJobDefinition", {})
        config = definition.get("ResourceConfig") or definition.get("HyperParameterTuningResourceConfig") or {}
        parallel = int(
            job.get("HyperParameterTuningJobConfig", {}).get("ResourceLimits", {}).get("MaxParallelTrainingJobs", 1)
        )
    count = int(config.get("InstanceCount") or 1) * parallel
    return dataclasses.replace(resource, hourly_usd=_hourly("training", config.get("InstanceType"), count))


def price_and_use(sagemaker: Any, cloudwatch: Any, resources: Iterable[Resource], now: datetime) -> list[Resource]:
    """``resources`` with their cost per hour (endpoints, running jobs; configs and models bill nothing) and, for
    endpoints, their ``Invocations``. Foreign resources are left as found: nothing is read about them."""
    out = []
    for resource in resources:
        if not rules.is_owned(resource):
            out.append(resource)
            continue
        try:
            if resource.kind == "endpoint" and resource.status not in rules.ALREADY_GOING:
                resource = _endpoint(sagemaker, cloudwatch, resource, now)
            elif resource.kind in JOB_KINDS:
                resource = _job(sagemaker, resource)
            else:
                resource = dataclasses.replace(resource, hourly_usd=0.0)
        except Exception:  # gone meanwhile, or not allowed: decided without (an endpoint is then never idle)
            log.warning("Could not price or read the use of %s %s", resource.kind, resource.name, exc_info=True)
        out.append(resource)
    return out


def sweep(
    sagemaker: Any,
    cloudwatch: Any,
    *,
    now: datetime,
    region: str,
    run_state: RunState,
    policy: Policy,
    dry_run: bool,
) -> dict[str, Any]:
    """List, price, decide, act unless ``dry_run``, and report: what the DAG's task and ``make reap`` both run."""
    found = price_and_use(sagemaker, cloudwatch, inventory(sagemaker), now)
    decisions = rules.plan(found, now, run_state, policy)
    outcomes = {} if dry_run else carry_out(sagemaker, decisions)
    return rules.report(decisions, now=now, region=region, dry_run=dry_run, done=outcomes)
