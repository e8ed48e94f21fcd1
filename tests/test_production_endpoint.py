"""The guarded production endpoint: builders pure and checked against botocore's model; then the DAG on the emulator
— off by default, first deployment creates the endpoint with data capture, a second updates it through the canary,
a third whose alarm fires during the bake rolls back and fails the run with the package Rejected, and the reaper
leaves the production endpoint alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.production import production_config as pc
from sagemaker_mlops.reaper import rules as reaper
from sagemaker_mlops.reaper.rules import Resource
from sagemaker_mlops.serving.deploy_config import DeployConfigError

from constants import DATA_BUCKET, ROLE_ARN
from dag_runs import run_dag, xcom
from emulator_helpers import IC_IMAGE, approved_packages, dataset_zip

DAG_ID = "mnist_deploy_production"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/mnist-image-classifier/1"
PACKAGE = {
    "ModelPackageArn": ARN,
    "ModelApprovalStatus": "Approved",
    "InferenceSpecification": {
        "Containers": [{"Image": IC_IMAGE, "ModelDataUrl": "s3://mlops-bucket/out/model.tar.gz"}]
    },
}
TAGS = pc.production_tags(DAG_ID, "manual__x", ARN)


def _valid(service: str, operation: str, request: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


# -- builders --------------------------------------------------------------------------------------------------------
def test_the_requests_are_valid_for_botocore() -> None:
    _valid("sagemaker", "CreateModel", pc.model_request("mlops-prod-model-x", PACKAGE, ROLE_ARN, TAGS))
    config = pc.endpoint_config_request(
        "mlops-prod-epc-x",
        "mlops-prod-model-x",
        instance_type="ml.m5.xlarge",
        instance_count=1,
        capture_percent=20,
        capture_uri="s3://mlops-bucket/production/mnist-production/data-capture",
        tags=TAGS,
    )
    _valid("sagemaker", "CreateEndpointConfig", config)
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    update = pc.update_request(
        "mnist-production",
        "mlops-prod-epc-x",
        instance_count=2,
        canary_percent=10,
        bake_seconds=300,
        termination_wait_seconds=60,
        alarms=pc.alarm_names("mnist-production"),
    )
    _valid("sagemaker", "UpdateEndpoint", update)
    routing = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 300,
    }
    alarms = pc.alarm_requests("mnist-production", config_name="mlops-prod-epc-x", latency_ms=500, tags=TAGS)
    for alarm in alarms:
        _valid("cloudwatch", "PutMetricAlarm", alarm)
    assert [a["MetricName"] for a in alarms] == ["Invocation5XXErrors", "ModelLatency"]
    assert alarms[1]["Threshold"] == 500_000.0  # ModelLatency is in microseconds


def test_the_alarms_watch_the_new_fleet_only() -> None:
    """AWS's auto-rollback guide: EndpointConfigName of the new config beside EndpointName and VariantName."""
    for alarm in pc.alarm_requests("mnist-production", config_name="mlops-prod-epc-new", latency_ms=500, tags=TAGS):
        assert {(d["Name"], d["Value"]) for d in alarm["Dimensions"]} == {
            ("EndpointName", "mnist-production"),
            ("VariantName", "AllTraffic"),
            ("EndpointConfigName", "mlops-prod-epc-new"),
        }


def test_one_instance_updates_all_at_once_with_a_bake_and_a_canary_is_refused_above_half_the_fleet() -> None:
    """SageMaker sizes a canary in whole instances and refuses one above half the fleet (botocore's CanarySize):
    one instance is updated ALL_AT_ONCE with the bake; 3 instances at 50% would be 2 of 3, refused before a call."""
    one = pc.update_request(
        "e", "c", instance_count=1, canary_percent=10, bake_seconds=60, termination_wait_seconds=0, alarms=["a"]
    )
    routing = one["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60}
    _valid("sagemaker", "UpdateEndpoint", one)
    with pytest.raises(DeployConfigError, match=r"canary_percent.*more than half the fleet"):
        pc.update_request(
            "e", "c", instance_count=3, canary_percent=50, bake_seconds=60, termination_wait_seconds=0, alarms=["a"]
        )


def test_bad_values_are_refused_naming_the_field() -> None:
    with pytest.raises(DeployConfigError, match="canary_percent"):
        pc.update_request(
            "e", "c", instance_count=2, canary_percent=60, bake_seconds=1, termination_wait_seconds=0, alarms=["a"]
        )
    with pytest.raises(DeployConfigError, match="bake_seconds"):
        pc.update_request(
            "e", "c", instance_count=2, canary_percent=10, bake_seconds=4000, termination_wait_seconds=0, alarms=["a"]
        )
    with pytest.raises(DeployConfigError, match="not Approved"):
        pc.package_container({**PACKAGE, "ModelApprovalStatus": "PendingManualApproval"})
    with pytest.raises(DeployConfigError, match="capture_percent"):
        pc.endpoint_config_request(
            "c", "m", instance_type="ml.m5.xlarge", instance_count=1, capture_percent=101, capture_uri="s3://b", tags={}
        )


def test_a_silent_rollback_is_seen() -> None:
    ok = {"EndpointName": "e", "EndpointStatus": "InService", "EndpointConfigName": "new"}
    assert pc.confirm_update(ok, "new") is None
    rolled = {**ok, "EndpointConfigName": "old", "FailureReason": "alarm e-invocation-5xx"}
    assert "not new" in pc.confirm_update(rolled, "new") and "e-invocation-5xx" in pc.confirm_update(rolled, "new")


def test_the_reaper_keeps_production_even_under_an_mlops_name_with_an_old_expiry() -> None:
    tags = {**TAGS, "mlops:expires-at": "2020-01-01T00:00:00Z"}
    resource = Resource(
        "endpoint", "mlops-prod", "arn:aws:sagemaker:us-east-1:1:endpoint/mlops-prod", "InService", tags
    )
    [decision] = reaper.plan([resource], datetime.now(UTC), lambda d, r: None)
    assert decision.action == "keep" and "production" in decision.reason


# -- the DAG on the emulator -----------------------------------------------------------------------------------------
@pytest.fixture()
def registry(airflow_db: Any, airflow_aws: Any, aws: Any, tmp_path: Path, monkeypatch: Any) -> Iterator[dict]:
    """A trained model registered three times (Approved) in the group; production on; bakes short."""
    sm = aws("sagemaker")
    _, arns = approved_packages(aws, dataset_zip(tmp_path), DATA_BUCKET, "mlops-train-prod", 3)
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_PRODUCTION_ENABLED", "true")
    airflow_aws.settings(time_scale=600.0)  # a 60 s bake takes 0.1 s
    yield {"sm": sm, "arns": arns}
    try:
        sm.delete_endpoint(EndpointName=pc.DEFAULT_ENDPOINT_NAME)
    except sm.exceptions.ClientError:
        pass


def _conf(arn: str) -> dict[str, Any]:
    return {"model_package_arn": arn, "bake_seconds": 60, "termination_wait_seconds": 0}


@pytest.mark.e2e
def test_production_is_off_unless_the_variable_says_so(airflow_db: Any, airflow_aws: Any) -> None:
    _, states = run_dag(DAG_ID, _conf(ARN))
    assert states["plan_deployment"] == "skipped" and states["deploy"] == "skipped", states
    assert not [a for a in airflow_aws.actions("sagemaker") if a.startswith(("Create", "Update"))]


@pytest.mark.e2e
def test_create_then_canary_update_then_a_rollback_fails_and_rejects(
    registry: dict, airflow_aws: Any, capfd: Any
) -> None:
    sm, (first, second, third) = registry["sm"], registry["arns"]
    name = pc.DEFAULT_ENDPOINT_NAME

    run, states = run_dag(DAG_ID, _conf(first), datetime(2026, 6, 1, 8, tzinfo=UTC))
    assert str(run.state) == "success", states
    created = sm.describe_endpoint(EndpointName=name)
    assert created["EndpointStatus"] == "InService" and created["DataCaptureConfig"]["EnableCapture"] is True
    assert created["DataCaptureConfig"]["CurrentSamplingPercentage"] == 20
    assert created["DataCaptureConfig"]["DestinationS3Uri"].startswith(f"s3://{DATA_BUCKET}/production/{name}/")
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=created["EndpointArn"])["Tags"]}
    assert tags["mlops:environment"] == "production" and "mlops:expires-at" not in tags
    assert xcom(run, "report")["cost_per_day_usd"] == pytest.approx(0.23 * 24)
    first_config = created["EndpointConfigName"]
    first_model = sm.describe_endpoint_config(EndpointConfigName=first_config)["ProductionVariants"][0]["ModelName"]

    airflow_aws.clear_requests()
    run, states = run_dag(DAG_ID, _conf(second), datetime(2026, 6, 1, 9, tzinfo=UTC))
    assert str(run.state) == "success", states
    updated = sm.describe_endpoint(EndpointName=name)
    assert updated["EndpointConfigName"] != first_config and "FailureReason" not in updated
    # the default single instance is updated ALL_AT_ONCE with a bake (a canary needs 2+ instances)
    routing = updated["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "ALL_AT_ONCE" and routing["WaitIntervalInSeconds"] == 60
    assert "UpdateEndpoint" in airflow_aws.actions("sagemaker")
    configs = {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]}
    models = {m["ModelName"] for m in sm.list_models()["Models"]}
    assert first_config not in configs and first_model not in models  # the old ones are cleaned, the live stay
    assert updated["EndpointConfigName"] in configs
    history = xcom(run, "report")["history"]
    assert [h["mode"] for h in history] == ["create", "update"]

    airflow_aws.alarm_during_next_bake()
    capfd.readouterr()
    run, states = run_dag(DAG_ID, _conf(third), datetime(2026, 6, 1, 10, tzinfo=UTC))
    assert str(run.state) == "failed" and states["deploy"] == "failed", states
    out = capfd.readouterr().out
    assert "did not take effect" in out and "rolled back" in out
    after = sm.describe_endpoint(EndpointName=name)
    assert after["EndpointStatus"] == "InService" and after["EndpointConfigName"] == updated["EndpointConfigName"]
    package = sm.describe_model_package(ModelPackageName=third)
    assert package["ModelApprovalStatus"] == "Rejected" and "rolled back" in package["ApprovalDescription"]
    assert sm.describe_model_package(ModelPackageName=second)["ModelApprovalStatus"] == "Approved"

    run, states = run_dag("sagemaker_mlops_reaper", {"dry_run": False})
    assert str(run.state) == "success", states
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    kept = {e["name"]: e["reason"] for e in xcom(run, "reap")["kept"]}
    assert "production" in kept[updated["EndpointConfigName"]]


def test_an_update_waits_out_sagemakers_maintenance_then_goes_ahead(aws: Any, emulator: Any, tmp_path: Path) -> None:
    """An endpoint in SystemUpdating refuses UpdateEndpoint (botocore's EndpointStatus): the production update
    settles it like Creating/Updating before it updates."""
    from sagemaker_mlops.production import tasks as production_tasks

    from emulator_helpers import completed_job, deploy, wait_endpoint

    sm = aws("sagemaker")
    job = completed_job(aws, dataset_zip(tmp_path), DATA_BUCKET, "ch06", "mlops-train-maint")
    deploy(sm, job["ModelArtifacts"]["S3ModelArtifacts"], "prod-maint")
    wait_endpoint(sm, "prod-maint")
    emulator.settings(time_scale=1.0)
    emulator.system_update("prod-maint", seconds=1.0)
    assert sm.describe_endpoint(EndpointName="prod-maint")["EndpointStatus"] == "SystemUpdating"
    settled = production_tasks._settle(sm, "prod-maint")
    assert settled["EndpointStatus"] == "InService"
    sm.update_endpoint(EndpointName="prod-maint", EndpointConfigName="prod-maint")  # accepted now


def test_the_package_comes_from_the_param_else_the_newest_champion_event() -> None:
    from types import SimpleNamespace

    from sagemaker_mlops.core.airflow_tasks import CHAMPION_ASSET
    from sagemaker_mlops.production.tasks import _package_arn

    events = {CHAMPION_ASSET: [SimpleNamespace(extra={"model_package_arn": "old"}), SimpleNamespace(extra={})]}
    assert _package_arn({"model_package_arn": "given"}, {"triggering_asset_events": events}) == "given"
    assert _package_arn({}, {"triggering_asset_events": events}) == "old"
    events[CHAMPION_ASSET].append(SimpleNamespace(extra={"model_package_arn": "new"}))
    assert _package_arn({}, {"triggering_asset_events": events}) == "new"
    assert _package_arn({}, {"triggering_asset_events": {CHAMPION_ASSET: [SimpleNamespace(extra=None)]}}) is None


def test_a_package_outside_the_registry_group_is_refused() -> None:
    """Issue 20 review: the form's ARN names the package; only the registry's group may reach production."""
    pc.check_package_group({**PACKAGE, "ModelPackageGroupName": "mnist-image-classifier"}, "mnist-image-classifier")
    with pytest.raises(DeployConfigError, match=r"model_package_arn.*other-team.*mnist-image-classifier"):
        pc.check_package_group({**PACKAGE, "ModelPackageGroupName": "other-team"}, "mnist-image-classifier")


def test_the_production_endpoint_name_is_the_admins() -> None:
    assert pc.production_endpoint_name(lambda key: None) == pc.DEFAULT_ENDPOINT_NAME
    assert pc.production_endpoint_name({pc.ENDPOINT_VARIABLE: "prod-b"}.get) == "prod-b"
    with pytest.raises(ParamError, match=pc.ENDPOINT_VARIABLE):
        pc.production_endpoint_name({pc.ENDPOINT_VARIABLE: "bad_name!"}.get)


@pytest.mark.e2e
def test_the_form_cannot_name_the_endpoint_and_a_non_production_endpoint_is_never_replaced(
    registry: dict, airflow_aws: Any, monkeypatch: Any
) -> None:
    """Issue 20 review: conf endpoint_name made extra never-reaped production endpoints (mlops-extra-N) and replaced
    another run's test endpoint. Now the name is the admin's Variable; a conf endpoint_name is refused, and an
    endpoint of the Variable's name that is not tagged production is refused before anything is created."""
    from sagemaker_mlops.core.tags import resource_tags

    from emulator_helpers import deploy, wait_endpoint

    sm, arn = registry["sm"], registry["arns"][0]
    airflow_aws.clear_requests()
    run, states = run_dag(DAG_ID, {**_conf(arn), "endpoint_name": "mlops-extra-1"}, datetime(2026, 6, 1, 8, tzinfo=UTC))
    assert str(run.state) == "failed" and states["deploy"] != "success", states
    assert not [a for a in airflow_aws.actions("sagemaker") if a.startswith(("Create", "Update", "Delete"))]

    victim = "mlops-ep-manual-20261207t070000-0123456789abcdef"
    artifact = sm.describe_model_package(ModelPackageName=arn)["InferenceSpecification"]["Containers"][0]
    deploy(sm, artifact["ModelDataUrl"], victim)
    tags = resource_tags("mnist_train_deploy", "manual__victim", datetime.now(UTC))
    sm.add_tags(
        ResourceArn=sm.describe_endpoint(EndpointName=victim)["EndpointArn"],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    serving = wait_endpoint(sm, victim)["EndpointConfigName"]
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_PRODUCTION_ENDPOINT", victim)
    airflow_aws.clear_requests()
    run, states = run_dag(DAG_ID, _conf(arn), datetime(2026, 6, 1, 9, tzinfo=UTC))
    assert str(run.state) == "failed" and states["plan_deployment"] == "failed", states
    assert sm.describe_endpoint(EndpointName=victim)["EndpointConfigName"] == serving
    assert not [a for a in airflow_aws.actions("sagemaker") if a.startswith(("Create", "Update", "Delete"))]
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == [victim]
