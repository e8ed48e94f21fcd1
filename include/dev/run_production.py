"""``make run``'s production part: deploy the champion with ``mnist_deploy_production``, update it through the canary
to pipeline 2's model, print the endpoint's history, and delete it at the end (nothing may be left billing).

The DAG runs when the champion Asset fires; ``airflow dags test`` runs one DAG only, so here it is triggered by hand
with the package ARN the Asset event would carry — the newest Approved package of the registry's group whose model
is the pipeline's artifact. A pipeline-2 model that was not promoted (no Approved package) is not deployed: the
summary says so and production stays on the champion.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sagemaker_mlops.production.production_config import DEFAULT_ENDPOINT_NAME, alarm_names

from local_stack import dags_test

DAG_ID = "mnist_deploy_production"
GROUP = "mnist-image-classifier"  # the registry's default group (Variable sagemaker_mlops_model_package_group)
# Short bake and no termination wait: the emulated canary takes a few seconds (time_scale 30). Every request
# captured (the DAG's default samples 20 %), so the drift monitor's counts are the requests make run sent.
CONF = {"bake_seconds": 60, "termination_wait_seconds": 0, "capture_percent": 100}


def approved_package(sm: Any, artifact: str) -> str | None:
    """The newest Approved package of GROUP whose container serves ``artifact``, or None."""
    try:
        summaries = sm.list_model_packages(ModelPackageGroupName=GROUP, SortBy="CreationTime", SortOrder="Descending")
    except sm.exceptions.ClientError:
        return None
    for summary in summaries["ModelPackageSummaryList"]:
        package = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        containers = package.get("InferenceSpecification", {}).get("Containers", [])
        if package["ModelApprovalStatus"] == "Approved" and any(c.get("ModelDataUrl") == artifact for c in containers):
            return package["ModelPackageArn"]
    return None


def register_if_missing(sm: Any, job: dict[str, Any]) -> str:
    """Stand-in for the Model Registry part (pipelines registering their models) where it is not present."""
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    arn = approved_package(sm, artifact)
    if arn:
        return arn
    try:
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
    except sm.exceptions.ClientError:
        pass  # exists
    print(f"  (no Approved package for {artifact} in {GROUP}: make run registers one, as the registry would)")
    return sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": job["AlgorithmSpecification"]["TrainingImage"], "ModelDataUrl": artifact}],
            "SupportedContentTypes": ["image/png", "image/jpeg", "application/x-image"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]


def deploy(sm: Any, package_arn: str, env: dict[str, str], work: Path, label: str) -> bool:
    log_file = work / f"{DAG_ID}-{label.split(',')[0].replace(' ', '-')}.log"
    conf = {**CONF, "model_package_arn": package_arn}
    print(f"\n== {DAG_ID} ({label}): airflow dags test with conf {json.dumps(conf)}")
    code = dags_test(DAG_ID, conf, env, log_file)
    print(f"  airflow dags test exit code {code} (log: {log_file})")
    if code != 0:
        print("".join(log_file.read_text().splitlines(keepends=True)[-30:]))
        return False
    endpoint = sm.describe_endpoint(EndpointName=DEFAULT_ENDPOINT_NAME)
    capture = endpoint.get("DataCaptureConfig", {})
    deployment = endpoint.get("LastDeploymentConfig", {}).get("BlueGreenUpdatePolicy", {})
    routing = deployment.get("TrafficRoutingConfiguration")
    print(
        f"  {DEFAULT_ENDPOINT_NAME}: {endpoint['EndpointStatus']} on {endpoint['EndpointConfigName']}; data capture "
        f"{capture.get('CaptureStatus')} at {capture.get('CurrentSamplingPercentage')}% into "
        f"{capture.get('DestinationS3Uri')}"
        + (
            f"; {describe_update(routing)}, auto-rollback on " + ", ".join(alarm_names(DEFAULT_ENDPOINT_NAME))
            if routing
            else ""
        )
    )
    return True


def describe_update(routing: dict[str, Any]) -> str:
    """The last blue/green update in words: a canary on a fleet of two or more, else all at once then a bake."""
    bake = f"{routing['WaitIntervalInSeconds']} s bake"
    if routing.get("Type") == "CANARY":
        size = routing["CanarySize"]
        unit = "%" if size["Type"] == "CAPACITY_PERCENT" else " instance(s)"
        return f"canary update: {size['Value']}{unit} first, {bake}"
    return f"{routing.get('Type', 'ALL_AT_ONCE').lower().replace('_', '-')} update, {bake}"


def print_history(s3: Any, bucket: str) -> None:
    key = f"production/{DEFAULT_ENDPOINT_NAME}/history.json"
    try:
        history = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        print(f"  {DEFAULT_ENDPOINT_NAME} history: none")
        return
    print(f"  {DEFAULT_ENDPOINT_NAME} history (s3://{bucket}/{key}):")
    for entry in history:
        print(
            f"    {entry['at']} {entry['mode']:6} {entry['endpoint_config']} <- {entry['model_package_arn']}; "
            f"{entry['cost_per_day_usd']} USD/day; cleaned {entry['cleaned'] or 'nothing'}"
        )


def production_names(sm: Any) -> set[str]:
    """The production endpoint, its live config and model: kept across the pipeline summaries until the end."""
    try:
        config = sm.describe_endpoint(EndpointName=DEFAULT_ENDPOINT_NAME)["EndpointConfigName"]
    except sm.exceptions.ClientError:
        return set()
    model = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]["ModelName"]
    return {DEFAULT_ENDPOINT_NAME, config, model}


def delete_production(sm: Any, cloudwatch: Any) -> None:
    """make run leaves nothing billing: the endpoint (waited until gone), its config, its model and its alarms."""
    names = production_names(sm)
    if not names:
        return
    config = next(n for n in names if n.startswith("mlops-prod-epc"))
    model = next(n for n in names if n.startswith("mlops-prod-model"))
    sm.delete_endpoint(EndpointName=DEFAULT_ENDPOINT_NAME)
    sm.get_waiter("endpoint_deleted").wait(
        EndpointName=DEFAULT_ENDPOINT_NAME, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    sm.delete_endpoint_config(EndpointConfigName=config)
    sm.delete_model(ModelName=model)
    cloudwatch.delete_alarms(AlarmNames=alarm_names(DEFAULT_ENDPOINT_NAME))
    print(f"\n  production endpoint {DEFAULT_ENDPOINT_NAME} deleted (with {config}, {model} and its alarms)")
