"""The production off-switch (``mnist_production_decommission``): after a deploy and a blue/green update, one run
leaves nothing of production in the emulator — endpoint, configs, models, alarms; a second run (everything already
gone) succeeds too; a run without the typed confirmation deletes nothing; another production endpoint stays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.production import decommission as dc
from sagemaker_mlops.production import production_config as pc

from constants import DATA_BUCKET
from dag_runs import run_dag, xcom
from emulator_helpers import IC_IMAGE, approved_packages, dataset_zip

DEPLOY = "mnist_deploy_production"
OFF = "mnist_production_decommission"
NAME = pc.DEFAULT_ENDPOINT_NAME


def test_the_confirmation_must_repeat_the_name() -> None:
    dc.check_confirmation(NAME, f" {NAME} ")
    for wrong in (None, "", "mnist-prod", NAME.upper()):
        with pytest.raises(ParamError, match=r"confirm_endpoint_name.*nothing was deleted"):
            dc.check_confirmation(NAME, wrong)


def test_only_this_endpoints_configs_are_its_own() -> None:
    def cfg(uri: str) -> dict[str, Any]:
        return {"DataCaptureConfig": {"DestinationS3Uri": uri}}

    configs = {
        "mlops-prod-epc-a": cfg(f"s3://b/production/{NAME}/data-capture"),
        "mlops-prod-epc-b": cfg("s3://b/production/other-endpoint/data-capture"),
        "someone-elses": cfg(f"s3://b/production/{NAME}/data-capture"),
        "mlops-prod-epc-c": {},
    }
    assert dc.owned_configs(NAME, configs) == ["mlops-prod-epc-a"]


def test_decommission_deletes_the_monitors_drift_alarms_too(aws: Any) -> None:
    """The production monitor creates ``<endpoint>-drift-*`` alarms; decommission deletes them with the rollback
    alarms (each one left bills an alarm-month). Another endpoint's alarms stay."""
    from sagemaker_mlops.monitoring import drift
    from sagemaker_mlops.monitoring import monitor_tasks as mt

    sm, cw = aws("sagemaker"), aws("cloudwatch")
    other = "mnist-staging"
    for endpoint in (NAME, other):
        for alarm in pc.alarm_requests(endpoint, config_name="mlops-prod-epc-a", latency_ms=500, tags={}):
            cw.put_metric_alarm(**alarm)
        limits = drift.alarm_thresholds({"mean_top1_confidence": 0.9}, drift.Thresholds())
        for alarm in mt.alarm_requests(endpoint, limits):
            cw.put_metric_alarm(**alarm)
    names = {a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]}
    assert {f"{NAME}-drift-class-mix-js", f"{NAME}-drift-error-rate"} <= names
    assert set(pc.all_alarm_names(NAME)) == {n for n in names if n.startswith(f"{NAME}-")}

    dc.decommission_endpoint(sm, cw, NAME, poll_seconds=0)

    left = sorted(a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"])
    assert not [n for n in left if n.startswith(f"{NAME}-")], left
    assert left == sorted(pc.all_alarm_names(other))


@pytest.fixture()
def deployed(airflow_db: Any, airflow_aws: Any, aws: Any, tmp_path: Path, monkeypatch: Any) -> Iterator[dict]:
    """Production deployed twice (create, then update) from two Approved packages; production on; bakes short."""
    sm = aws("sagemaker")
    artifact, arns = approved_packages(aws, dataset_zip(tmp_path), DATA_BUCKET, "mlops-train-off", 2)
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_PRODUCTION_ENABLED", "true")
    airflow_aws.settings(time_scale=600.0)
    for hour, arn in zip((8, 9), arns, strict=True):
        conf = {"model_package_arn": arn, "bake_seconds": 60, "termination_wait_seconds": 0}
        run, states = run_dag(DEPLOY, conf, datetime(2026, 6, 1, hour, tzinfo=UTC))
        assert str(run.state) == "success", states
    yield {"sm": sm, "cw": aws("cloudwatch"), "artifact": artifact}


def _production(sm: Any, cw: Any) -> dict[str, list[str]]:
    return {
        "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        "configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "alarms": [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]],
    }


@pytest.mark.e2e
def test_decommission_leaves_nothing_of_production(deployed: dict, airflow_aws: Any) -> None:
    sm, cw = deployed["sm"], deployed["cw"]
    before = _production(sm, cw)
    assert before["endpoints"] == [NAME] and before["configs"] and before["models"], before
    assert sorted(before["alarms"]) == sorted(pc.alarm_names(NAME)), before
    # a leftover of an interrupted deployment: a production model no config serves
    sm.create_model(
        ModelName="mlops-prod-model-orphan",
        PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": deployed["artifact"]},
        ExecutionRoleArn=sm.describe_model(ModelName=before["models"][0])["ExecutionRoleArn"],
        Tags=[{"Key": k, "Value": v} for k, v in pc.production_tags(DEPLOY, "manual__interrupted", "arn").items()],
    )

    airflow_aws.clear_requests()
    run, states = run_dag(OFF, {"confirm_endpoint_name": "yes"})
    assert str(run.state) == "failed", states
    assert not [a for a in airflow_aws.actions("sagemaker") if a.startswith("Delete")]
    assert _production(sm, cw)["endpoints"] == [NAME]

    run, states = run_dag(OFF, {"confirm_endpoint_name": NAME})
    assert str(run.state) == "success", states
    assert _production(sm, cw) == {"endpoints": [], "configs": [], "models": [], "alarms": []}
    summary = xcom(run, "decommission")
    assert summary["removed"]["endpoint"] == [NAME] and "mlops-prod-model-orphan" in summary["removed"]["models"]
    assert summary["production_enabled"] is True  # and the log warns that the next promotion redeploys

    run, states = run_dag(OFF, {"confirm_endpoint_name": NAME})  # everything already gone: still green
    assert str(run.state) == "success", states
    assert xcom(run, "decommission")["removed"] == {"endpoint": [], "endpoint_configs": [], "models": []}


@pytest.mark.e2e
def test_a_half_done_decommission_is_finished_and_other_endpoints_stay(deployed: dict) -> None:
    """Someone deleted only the endpoint (the console's way): the run still removes its configs, models and
    alarms; a second production endpoint's pieces stay (made here with the test's own client: the Airflow role's
    policy names only mnist-production)."""
    sm, cw = deployed["sm"], deployed["cw"]
    other, role = "mnist-production-b", sm.describe_model(ModelName=sm.list_models()["Models"][0]["ModelName"])
    tags = [{"Key": k, "Value": v} for k, v in pc.production_tags(DEPLOY, "manual__b", "arn").items()]
    sm.create_model(
        ModelName="mlops-prod-model-b",
        PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": deployed["artifact"]},
        ExecutionRoleArn=role["ExecutionRoleArn"],
        Tags=tags,
    )
    sm.create_endpoint_config(
        EndpointConfigName="mlops-prod-epc-b",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "mlops-prod-model-b",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 20,
            "DestinationS3Uri": f"s3://{DATA_BUCKET}/production/{other}/data-capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
        Tags=tags,
    )
    for alarm in pc.alarm_requests(other, config_name="mlops-prod-epc-b", latency_ms=500, tags={}):
        cw.put_metric_alarm(**alarm)
    before = _production(sm, cw)

    sm.delete_endpoint(EndpointName=NAME)
    run, states = run_dag(OFF, {"confirm_endpoint_name": NAME})
    assert str(run.state) == "success", states
    after = _production(sm, cw)
    assert after["endpoints"] == []
    assert after["configs"] == ["mlops-prod-epc-b"] and after["models"] == ["mlops-prod-model-b"]
    assert sorted(after["alarms"]) == sorted(pc.alarm_names(other))
    assert len(before["configs"]) > len(after["configs"]) and len(before["models"]) > len(after["models"])


@pytest.mark.e2e
def test_another_runs_endpoint_named_and_confirmed_is_refused_and_kept(
    airflow_db: Any, airflow_aws: Any, aws: Any, tmp_path: Path
) -> None:
    """Issue 20: a triggerer names (and confirms) another run's test endpoint; it is not tagged production, so the
    run fails before any delete and the endpoint, its config and its model stay. An undeclared conf key is refused."""
    from emulator_helpers import another_runs_endpoint

    sm = aws("sagemaker")
    victim = another_runs_endpoint(aws, tmp_path)
    before = _production(sm, aws("cloudwatch"))

    run, states = run_dag(OFF, {"endpoint_name": victim, "confirm_endpoint_name": victim})
    assert str(run.state) == "failed", states
    assert _production(sm, aws("cloudwatch")) == before
    assert not [a for a in airflow_aws.actions("sagemaker") if a.startswith("Delete")]

    run, states = run_dag(OFF, {"confirm_endpoint_name": NAME, "bucket": "x"}, datetime(2026, 6, 2, tzinfo=UTC))
    assert str(run.state) == "failed", states
