"""The tasks of ``mnist_deploy_production``: opt-in gate, approved package, create-or-guarded-update, confirm,
clean the previous model and config, report (cost per day, history).

Why one task for the update and its confirmation: the rollback is silent (the endpoint ends InService either way),
so the task that asked for a config must be the one that checks it is the one serving, and fail otherwise.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from airflow.exceptions import AirflowFailException, AirflowSkipException
from airflow.sdk import task

from sagemaker_mlops.core import report as cost
from sagemaker_mlops.core.airflow_tasks import CHAMPION_ASSET, POLL_SECONDS, aws_wait_timeout
from sagemaker_mlops.core.naming import resource_name
from sagemaker_mlops.core.tags import NotOwned
from sagemaker_mlops.core.validation import ParamError, validate_region, validate_role_arn
from sagemaker_mlops.production import production_config as pc
from sagemaker_mlops.registry.registry_config import DEFAULT_GROUP, GROUP_VARIABLE
from sagemaker_mlops.serving import teardown as td

log = logging.getLogger(__name__)

ENABLED_VARIABLE = "sagemaker_mlops_production_enabled"
AWS_CONN_ID = "aws_default"
SETTLE_TIMEOUT_SECONDS = 4 * 3600  # MaximumExecutionTimeout of a blue/green update is at most 8 h; bakes ≤ 1 h


def _enabled(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _clients(region: str | None) -> tuple[Any, Any, Any, str]:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    hook = SageMakerHook(aws_conn_id=AWS_CONN_ID, region_name=region)
    cloudwatch = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="cloudwatch", region_name=region).conn
    return hook.conn, cloudwatch, S3Hook(aws_conn_id=AWS_CONN_ID, region_name=region), region or hook.conn_region_name


def _package_arn(params: dict[str, Any], context: dict[str, Any]) -> str | None:
    if params.get("model_package_arn"):
        return str(params["model_package_arn"])
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in reversed(list(events)):
            arn = (event.extra or {}).get("model_package_arn")
            if arn:
                return str(arn)
    return None


@task(inlets=[CHAMPION_ASSET])
def plan_deployment(**context: Any) -> dict[str, Any]:
    """Gate (Variable), package (param or champion event), role, region; every request built before any call."""
    from airflow.sdk import Variable

    from sagemaker_mlops.core.dag_params import declared_params
    from sagemaker_mlops.core.validation import refuse_undeclared

    params, dag_run = context["params"], context["dag_run"]
    try:  # before anything else: Airflow passes undeclared conf keys on unvalidated
        refuse_undeclared(dag_run.conf or {}, declared_params(context), dag_run.dag_id)
    except ParamError as error:
        raise AirflowFailException(str(error)) from error
    if not _enabled(Variable.get(ENABLED_VARIABLE, default=None)):
        raise AirflowSkipException(
            f"Production deployments are off: set the Variable {ENABLED_VARIABLE} to true to enable them "
            "(the production endpoint bills around the clock)."
        )
    arn = _package_arn(params, context)
    if not arn:
        if str(getattr(dag_run.run_type, "value", dag_run.run_type)) == "manual":
            raise AirflowFailException("model_package_arn: empty. Fix: pass an Approved model package's ARN")
        raise AirflowSkipException("The champion Asset event carries no model_package_arn: nothing to deploy.")
    try:
        region = params.get("region") or Variable.get("sagemaker_mlops_region", default=None)
        region = validate_region(region) if region else None
        role = validate_role_arn(params.get("role_arn") or Variable.get("sagemaker_mlops_role_arn", default=""))
        sagemaker, _, _, region = _clients(region)
        # the admin's ceilings (types, count, region, cost per day), before anything is created
        worst = pc.check_production_ceilings(params, region, lambda key: Variable.get(key, default=None))
        log.info("Production worst day %.2f USD: %s", worst["usd_per_day"], "; ".join(worst["how"]))
        package = sagemaker.describe_model_package(ModelPackageName=arn)
        pc.check_package_group(package, Variable.get(GROUP_VARIABLE, default=None) or DEFAULT_GROUP)
        # the admin's name, never the form's; an existing endpoint of that name must be production's own
        endpoint = pc.production_endpoint_name(lambda key: Variable.get(key, default=None))
        existing = _described_endpoint(sagemaker, endpoint)
        if existing is not None:
            pc.check_production(sagemaker, existing["EndpointArn"], f"endpoint {endpoint}")
        tags = pc.production_tags(dag_run.dag_id, dag_run.run_id, package["ModelPackageArn"])
        model = resource_name("mlops", "prod-model", dag_run.dag_id, dag_run.run_id)
        config = resource_name("mlops", "prod-epc", dag_run.dag_id, dag_run.run_id)
        bucket = pc.package_container(package)["ModelDataUrl"][5:].split("/", 1)[0]
        requests = {
            "model": pc.model_request(model, package, role, tags),
            "endpoint_config": pc.endpoint_config_request(
                config,
                model,
                instance_type=params["instance_type"],
                instance_count=params["instance_count"],
                capture_percent=params["capture_percent"],
                capture_uri=f"s3://{bucket}/production/{endpoint}/data-capture",
                tags=tags,
            ),
            "alarms": pc.alarm_requests(endpoint, config_name=config, latency_ms=params["latency_alarm_ms"], tags=tags),
            "update": pc.update_request(
                endpoint,
                config,
                instance_count=params["instance_count"],
                canary_percent=params["canary_percent"],
                bake_seconds=params["bake_seconds"],
                termination_wait_seconds=params["termination_wait_seconds"],
                alarms=pc.alarm_names(endpoint),
            ),
        }
    except (ParamError, NotOwned) as error:
        raise AirflowFailException(str(error)) from error
    return {
        "region": region,
        "endpoint": endpoint,
        "package_arn": package["ModelPackageArn"],
        "bucket": bucket,
        # one history for the endpoint, whichever pipeline's bucket the package's model lives in
        "history_bucket": Variable.get("sagemaker_mlops_bucket", default=None) or bucket,
        "tags": tags,
        "instance_type": params["instance_type"],
        "instance_count": params["instance_count"],
        "worst_per_day": worst,
        "requests": requests,
    }


def _settle(sagemaker: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while True:
        described = sagemaker.describe_endpoint(EndpointName=name)
        if described["EndpointStatus"] not in td.IN_TRANSITION or time.monotonic() > deadline:
            return described
        time.sleep(POLL_SECONDS)


def _described_endpoint(sagemaker: Any, name: str) -> dict[str, Any] | None:
    """DescribeEndpoint, or None when there is no such endpoint."""
    from botocore.exceptions import ClientError

    try:
        return sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if "Could not find" in error.response.get("Error", {}).get("Message", ""):
            return None
        raise


def _serving(sagemaker: Any, name: str) -> dict[str, Any] | None:
    """The endpoint's current config and model, or None when there is no endpoint yet."""
    described = _described_endpoint(sagemaker, name)
    if described is None:
        return None
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    return {
        "status": described["EndpointStatus"],
        "endpoint_config": described["EndpointConfigName"],
        "model": config["ProductionVariants"][0]["ModelName"],
    }


def _check_production_endpoint(sagemaker: Any, name: str) -> None:
    """Fail (not retried) unless the endpoint is tagged as production's own: nothing else is deleted or replaced."""
    described = _described_endpoint(sagemaker, name)
    if described is None:
        return
    try:
        pc.check_production(sagemaker, described["EndpointArn"], f"endpoint {name}")
    except NotOwned as error:
        raise AirflowFailException(str(error)) from error


@task(execution_timeout=aws_wait_timeout(2 * SETTLE_TIMEOUT_SECONDS))  # settles before and after the update
def deploy(plan: dict[str, Any]) -> dict[str, Any]:
    """Create the endpoint (first time) or update it blue/green behind the alarms; confirm what serves. A rollback
    fails the run and marks the package Rejected with the reason."""
    sagemaker, cloudwatch, _, _ = _clients(plan["region"])
    requests, name = plan["requests"], plan["endpoint"]
    before = _serving(sagemaker, name)
    if before is not None and before["status"] in td.IN_TRANSITION:
        before = {**before, "status": _settle(sagemaker, name)["EndpointStatus"]}
    if before is not None and before["status"] == "Failed":  # a failed first creation cannot be updated: recreate
        log.warning("Endpoint %s is Failed (serves nothing): deleting it to create it afresh.", name)
        _check_production_endpoint(sagemaker, name)
        td.delete_endpoint(sagemaker, name, poll_seconds=POLL_SECONDS)
        before = None
    for alarm in requests["alarms"]:
        cloudwatch.put_metric_alarm(**alarm)
    if before is not None and before["endpoint_config"] == requests["endpoint_config"]["EndpointConfigName"]:
        log.info("Endpoint %s already serves this run's config (a retry): nothing to do.", name)
        return {"mode": "already", "previous": None, **_outcome(plan, sagemaker)}
    for call, request in ((sagemaker.create_model, "model"), (sagemaker.create_endpoint_config, "endpoint_config")):
        try:
            call(**requests[request])
        except sagemaker.exceptions.ClientError as error:  # a retry of this task: this run's resource exists
            if "already existing" not in str(error):
                raise
    if before is None:
        tags = [{"Key": k, "Value": v} for k, v in plan["tags"].items()]
        sagemaker.create_endpoint(
            EndpointName=name, EndpointConfigName=requests["endpoint_config"]["EndpointConfigName"], Tags=tags
        )
        mode = "create"
    else:
        sagemaker.update_endpoint(**requests["update"])
        mode = "update"
    described = _settle(sagemaker, name)
    problem = pc.confirm_update(described, requests["endpoint_config"]["EndpointConfigName"])
    if problem:
        reason = f"Rolled back in production: {problem}"[:1024]
        sagemaker.update_model_package(
            ModelPackageArn=plan["package_arn"], ModelApprovalStatus="Rejected", ApprovalDescription=reason
        )
        log.error("%s. Package %s set Rejected.", reason, plan["package_arn"])
        if before is not None:  # the new model and config serve nothing: remove them, keep the live ones
            td.delete_endpoint_config(sagemaker, requests["endpoint_config"]["EndpointConfigName"])
            td.delete_model(sagemaker, requests["model"]["ModelName"])
        raise AirflowFailException(
            f"{mode} of {name} did not take effect: {problem}. {plan['package_arn']} is Rejected."
        )
    log.info("Endpoint %s serves %s (%s).", name, described["EndpointConfigName"], mode)
    return {"mode": mode, "previous": before, **_outcome(plan, sagemaker)}


def _outcome(plan: dict[str, Any], sagemaker: Any) -> dict[str, Any]:
    described = sagemaker.describe_endpoint(EndpointName=plan["endpoint"])
    return {
        "endpoint_config": described["EndpointConfigName"],
        "data_capture": described.get("DataCaptureConfig"),
        "deployment_config": described.get("LastDeploymentConfig"),
    }


@task
def clean_previous(plan: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """After a successful update: delete the model and config that served before (never the live ones, and only
    when tagged as production's own)."""
    previous = result.get("previous")
    if not previous or result["mode"] != "update":
        return []
    sagemaker, _, _, _ = _clients(plan["region"])
    live = _serving(sagemaker, plan["endpoint"]) or {}
    removed = []
    if previous["endpoint_config"] != live.get("endpoint_config") and _is_production(
        sagemaker, "endpoint config", previous["endpoint_config"]
    ):
        td.delete_endpoint_config(sagemaker, previous["endpoint_config"])
        removed.append(previous["endpoint_config"])
    if previous["model"] != live.get("model") and _is_production(sagemaker, "model", previous["model"]):
        td.delete_model(sagemaker, previous["model"])
        removed.append(previous["model"])
    return removed


def _is_production(sagemaker: Any, kind: str, name: str) -> bool:
    """Whether the config or model exists and is tagged as production's own (else it is left, with a warning)."""
    from botocore.exceptions import ClientError

    try:
        if kind == "model":
            arn = sagemaker.describe_model(ModelName=name)["ModelArn"]
        else:
            arn = sagemaker.describe_endpoint_config(EndpointConfigName=name)["EndpointConfigArn"]
        pc.check_production(sagemaker, arn, f"{kind} {name}")
    except ClientError as error:
        if "Could not find" in error.response.get("Error", {}).get("Message", ""):
            return False
        raise
    except NotOwned as error:
        log.warning("%s", error)
        return False
    return True


@task
def report(plan: dict[str, Any], result: dict[str, Any], removed: list[str], **context: Any) -> dict[str, Any]:
    """Cost per day of what now serves and the endpoint's history, appended to
    ``s3://<Variable sagemaker_mlops_bucket, else the package's bucket>/production/<endpoint>/history.json``."""
    _, _, s3, region = _clients(plan["region"])
    day = cost.estimate_cost("inference", plan["instance_type"], plan["instance_count"], 86400, region)
    entry = {
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run_id": context["dag_run"].run_id,
        "mode": result["mode"],
        "model_package_arn": plan["package_arn"],
        "endpoint_config": result["endpoint_config"],
        "cleaned": removed,
        "cost_per_day_usd": day.get("usd"),
    }
    key = f"production/{plan['endpoint']}/history.json"
    bucket = plan["history_bucket"]
    history = json.loads(s3.read_key(key, bucket)) if s3.check_for_key(key, bucket) else []
    history.append(entry)
    s3.load_string(json.dumps(history, indent=2), key, bucket_name=bucket, replace=True)
    summary = {
        **entry,
        "endpoint": plan["endpoint"],
        "cost": day,
        "worst_per_day": plan.get("worst_per_day"),
        "history": history,
        "history_uri": f"s3://{bucket}/{key}",
        "data": result,
    }
    log.info("Production endpoint %s: %s", plan["endpoint"], json.dumps(summary, indent=2, default=str))
    return summary
