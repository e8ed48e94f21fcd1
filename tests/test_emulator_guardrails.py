"""Deployment guardrails on the emulator, over real HTTP with boto3: a blue/green canary update goes through its
phases and ends on the new config; an alarm during the bake rolls it back silently (InService, old config, a
FailureReason), as SageMaker does; data capture shows in DescribeEndpoint and writes
sampled requests to S3; bad guardrail requests are refused."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from constants import ROLE_ARN
from emulator_helpers import (
    IC_IMAGE,
    dataset_zip,
    first_png,
    training_request,
    upload_zip,
    wait_endpoint,
    wait_training,
)

BUCKET = "mlops-test-bucket"


def _alarm(cw: Any, name: str, endpoint: str) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )


def _config(sm: Any, name: str, artifact: str, capture: bool = False) -> None:
    sm.create_model(
        ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": artifact}
    )
    extra: dict[str, Any] = {}
    if capture:
        extra["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.xlarge",
                "InitialVariantWeight": 1.0,
            }
        ],
        **extra,
    )


def _canary(bake: int = 600, alarms: tuple[str, ...] = ("prod-5xx",)) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                "WaitIntervalInSeconds": bake,
            },
            "TerminationWaitInSeconds": 60,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]},
    }


@pytest.fixture()
def live(emulator: Any, aws: Any, tmp_path: Path) -> dict[str, Any]:
    """An InService endpoint on config "v1" (data capture on) and a second config "v2" ready to roll out."""
    sm = aws("sagemaker")
    zip_path = dataset_zip(tmp_path)
    samples = upload_zip(aws("s3"), zip_path, BUCKET, "ch06")
    sm.create_training_job(**training_request("mlops-train-g", BUCKET, "ch06", samples))
    artifact = wait_training(sm, "mlops-train-g")["ModelArtifacts"]["S3ModelArtifacts"]
    _config(sm, "v1", artifact, capture=True)
    _config(sm, "v2", artifact)
    sm.create_endpoint(EndpointName="prod", EndpointConfigName="v1")
    wait_endpoint(sm, "prod")
    _alarm(aws("cloudwatch"), "prod-5xx", "prod")
    # 600 emulated seconds of bake = 1 real second
    emulator.settings(time_scale=600.0)
    return {"sm": sm, "cw": aws("cloudwatch"), "s3": aws("s3"), "runtime": aws("sagemaker-runtime"), "zip": zip_path}


def _phases(sm: Any, timeout: float = 20.0) -> tuple[list[tuple[str, float | None]], dict[str, Any]]:
    """(status, canary weight) seen while the update ran, and the settled description."""
    seen: list[tuple[str, float | None]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        endpoint = sm.describe_endpoint(EndpointName="prod")
        pending = endpoint.get("PendingDeploymentSummary")
        step = (endpoint["EndpointStatus"], pending["ProductionVariants"][0]["CurrentWeight"] if pending else None)
        if not seen or seen[-1] != step:
            seen.append(step)
        if endpoint["EndpointStatus"] != "Updating":
            return seen, endpoint
        time.sleep(0.02)
    raise AssertionError(f"update did not settle: {seen}")


def test_a_canary_update_goes_through_its_phases_and_ends_on_the_new_config(live: dict[str, Any]) -> None:
    sm = live["sm"]
    described = sm.describe_endpoint(EndpointName="prod")
    assert described["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{BUCKET}/capture",
    }
    png, _ = first_png(live["zip"])
    answer = live["runtime"].invoke_endpoint(EndpointName="prod", ContentType="image/png", Body=png)["Body"].read()
    [key] = [o["Key"] for o in live["s3"].list_objects_v2(Bucket=BUCKET, Prefix="capture/")["Contents"]]
    assert key.startswith("capture/prod/AllTraffic/") and key.endswith(".jsonl")
    record = json.loads(live["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert base64.b64decode(record["captureData"]["endpointInput"]["data"]) == png
    assert record["captureData"]["endpointOutput"]["data"] == answer.decode()
    sm.update_endpoint(EndpointName="prod", EndpointConfigName="v2", DeploymentConfig=_canary())
    seen, endpoint = _phases(sm)
    # 10% of a 2-instance fleet is one whole instance: half the traffic (AWS sizes canaries in instances)
    assert ("Updating", pytest.approx(0.5)) in seen and ("Updating", 1.0) in seen, seen
    assert endpoint["EndpointStatus"] == "InService" and endpoint["EndpointConfigName"] == "v2"
    assert "FailureReason" not in endpoint and "PendingDeploymentSummary" not in endpoint
    assert endpoint["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"


def test_an_alarm_during_the_bake_rolls_the_update_back_silently(live: dict[str, Any], emulator: Any) -> None:
    sm = live["sm"]
    emulator.alarm_during_next_bake("prod-5xx")
    sm.update_endpoint(EndpointName="prod", EndpointConfigName="v2", DeploymentConfig=_canary())
    _, endpoint = _phases(sm)
    assert endpoint["EndpointStatus"] == "InService"  # nothing in the status says the update did not happen
    assert endpoint["EndpointConfigName"] == "v1"
    assert "rolled back" in endpoint["FailureReason"] and "prod-5xx" in endpoint["FailureReason"]
    alarm = live["cw"].describe_alarms(AlarmNames=["prod-5xx"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    # The old fleet serves again and the endpoint takes the next update.
    live["cw"].set_alarm_state(AlarmName="prod-5xx", StateValue="OK", StateReason="recovered")
    sm.update_endpoint(EndpointName="prod", EndpointConfigName="v2", DeploymentConfig=_canary(bake=60))
    _, endpoint = _phases(sm)
    assert endpoint["EndpointConfigName"] == "v2" and "FailureReason" not in endpoint


def test_guardrail_requests_are_refused_as_sagemaker_refuses_them(live: dict[str, Any]) -> None:
    sm = live["sm"]
    too_big = _canary()
    too_big["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["CanarySize"]["Value"] = 60
    with pytest.raises(ClientError, match="less than or equal to 50%"):
        sm.update_endpoint(EndpointName="prod", EndpointConfigName="v2", DeploymentConfig=too_big)
    with pytest.raises(ClientError, match="do not exist"):
        sm.update_endpoint(EndpointName="prod", EndpointConfigName="v2", DeploymentConfig=_canary(alarms=("nope",)))
    with pytest.raises(ClientError, match="ValidationException"):  # botocore's model: bake ≤ 3600 s
        sm.update_endpoint(EndpointName="prod", EndpointConfigName="v2", DeploymentConfig=_canary(bake=4000))
    assert sm.describe_endpoint(EndpointName="prod")["EndpointStatus"] == "InService"  # nothing started
