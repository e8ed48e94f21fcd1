"""Rules AWS documents that the emulator used to let through (issue 19, defects 1-5, 11, 12), over real HTTP with
boto3. Each test fails on the emulator before its rule existed."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_emulator_guardrails import BUCKET, _canary, _config

from emulator_helpers import dataset_zip, first_png, training_request, tuning_request, upload_zip, wait_endpoint

GROUP = "mnist-image-classifier"


def _error(excinfo: pytest.ExceptionInfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.fixture()
def live(emulator: Any, aws: Any, tmp_path: Path) -> dict[str, Any]:
    """An InService 2-instance endpoint "prod" on config "v1", a second config "v2", a trained artifact."""
    from emulator_helpers import wait_training

    sm = aws("sagemaker")
    zip_path = dataset_zip(tmp_path)
    samples = upload_zip(aws("s3"), zip_path, BUCKET, "ch06")
    sm.create_training_job(**training_request("mlops-train-d", BUCKET, "ch06", samples))
    artifact = wait_training(sm, "mlops-train-d")["ModelArtifacts"]["S3ModelArtifacts"]
    _config(sm, "v1", artifact)
    _config(sm, "v2", artifact)
    sm.create_endpoint(EndpointName="prod", EndpointConfigName="v1")
    wait_endpoint(sm, "prod")
    return {"sm": sm, "cw": aws("cloudwatch"), "runtime": aws("sagemaker-runtime"), "zip": zip_path, "art": artifact}


# -- 1. no Tags on a versioned model package ------------------------------------------------------------------------
def test_a_versioned_package_with_tags_is_refused_and_its_group_carries_them(live: dict[str, Any]) -> None:
    sm = live["sm"]
    tags = [{"Key": "mlops:created-by", "Value": "airflow-sagemaker-mlops"}]
    sm.create_model_package_group(ModelPackageGroupName=GROUP, Tags=tags)
    from emulator_helpers import IC_IMAGE

    request = {
        "ModelPackageGroupName": GROUP,
        "InferenceSpecification": {
            "Containers": [{"Image": IC_IMAGE, "ModelDataUrl": live["art"]}],
            "SupportedContentTypes": ["application/x-image"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    }
    with pytest.raises(ClientError) as excinfo:
        sm.create_model_package(**request, Tags=tags)
    assert _error(excinfo) == (
        "ValidationException",
        "Tags are not supported in Model Package versions. Please add them to the Model Package Group",
    )
    assert sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []
    assert sm.create_model_package(**request)["ModelPackageArn"].endswith(f"{GROUP}/1")


# -- 2. canaries and linear steps sized in whole instances ----------------------------------------------------------
@pytest.mark.parametrize(
    ("routing", "instances", "refused"),
    [
        ({"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}, 1, True),  # 1 of 1: 100%
        ({"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}, 1, True),
        ({"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}, 2, False),  # 1 of 2: 50%
        ({"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 2}}, 2, True),
        ({"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 60}}, 2, True),
        ({"Type": "LINEAR", "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1}}, 2, False),
        ({"Type": "LINEAR", "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1}}, 20, True),  # 5% < 10%
        ({"Type": "ALL_AT_ONCE"}, 1, False),
    ],
)
def test_a_traffic_step_is_sized_in_instances_and_refused_above_what_aws_allows(
    routing: dict[str, Any], instances: int, refused: bool
) -> None:
    from aws_emulator.sagemaker.deployment import traffic_plan
    from aws_emulator.sagemaker.exceptions import ValidationError

    deployment = {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {**routing, "WaitIntervalInSeconds": 60}},
    }
    if refused:
        with pytest.raises(ValidationError, match="of the variant's total instance count"):
            traffic_plan(deployment, instances)
    else:
        plan = traffic_plan(deployment, instances)
        assert plan.shares[-1] == 1.0 and all(share * instances == int(share * instances) for share in plan.shares)


def test_update_endpoint_refuses_a_canary_on_a_one_instance_fleet(live: dict[str, Any], aws: Any) -> None:
    sm = live["sm"]
    sm.create_model(
        ModelName="one",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        PrimaryContainer={
            "Image": sm.describe_model(ModelName="v1")["PrimaryContainer"]["Image"],
            "ModelDataUrl": live["art"],
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="one",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "one", "InitialInstanceCount": 1, "InstanceType": "ml.m5.xlarge"}
        ],
    )
    from test_emulator_guardrails import _alarm

    _alarm(live["cw"], "prod-5xx", "prod")
    with pytest.raises(ClientError) as excinfo:
        sm.update_endpoint(EndpointName="prod", EndpointConfigName="one", DeploymentConfig=_canary())
    assert "less than or equal to 50%" in _error(excinfo)[1]
    assert sm.describe_endpoint(EndpointName="prod")["EndpointStatus"] == "InService"


# -- 3. rollback alarms on the new fleet's metrics ------------------------------------------------------------------
def _fleet_alarm(cw: Any, name: str, metric: str, config: str, statistic: str, threshold: float) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName=metric,
        Dimensions=[
            {"Name": "EndpointName", "Value": "prod"},
            {"Name": "VariantName", "Value": "AllTraffic"},
            {"Name": "EndpointConfigName", "Value": config},
        ],
        Statistic=statistic,
        Period=60,
        EvaluationPeriods=1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )


def _update_under_traffic(live: dict[str, Any], emulator: Any, alarms: tuple[str, ...]) -> dict[str, Any]:
    """UpdateEndpoint prod -> v2 (a 50% canary, a bake) while requests keep arriving; the settled description."""
    sm, runtime = live["sm"], live["runtime"]
    png, _ = first_png(live["zip"])
    emulator.settings(time_scale=100.0)  # 300 emulated seconds of bake: 3 real seconds
    sm.update_endpoint(EndpointName="prod", EndpointConfigName="v2", DeploymentConfig=_canary(300, alarms))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described = sm.describe_endpoint(EndpointName="prod")
        if described["EndpointStatus"] != "Updating":
            return described
        try:
            runtime.invoke_endpoint(EndpointName="prod", ContentType="image/png", Body=png)
        except ClientError:
            pass  # a failing model's 5XX: what the alarm counts
        time.sleep(0.02)
    raise AssertionError("the update did not settle")


def test_a_failing_new_model_trips_its_fleet_alarm_and_rolls_back(live: dict[str, Any], emulator: Any) -> None:
    _fleet_alarm(live["cw"], "prod-new-5xx", "Invocation5XXErrors", "v2", "Sum", 1.0)
    emulator.endpoint_behaviour("v2", error_rate=1.0)
    described = _update_under_traffic(live, emulator, ("prod-new-5xx",))
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == "v1"
    assert "prod-new-5xx" in described["FailureReason"]
    points = live["cw"].get_metric_data(
        MetricDataQueries=[
            {
                "Id": "e",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": "Invocation5XXErrors",
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": "prod"},
                            {"Name": "VariantName", "Value": "AllTraffic"},
                            {"Name": "EndpointConfigName", "Value": "v2"},
                        ],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=described["LastModifiedTime"] - timedelta(minutes=5),
        EndTime=described["LastModifiedTime"] + timedelta(minutes=5),
    )["MetricDataResults"][0]
    assert sum(points["Values"]) >= 1


def test_a_slow_new_model_trips_its_latency_alarm(live: dict[str, Any], emulator: Any) -> None:
    _fleet_alarm(live["cw"], "prod-new-latency", "ModelLatency", "v2", "Average", 500_000.0)
    emulator.endpoint_behaviour("v2", latency_ms=2000)
    described = _update_under_traffic(live, emulator, ("prod-new-latency",))
    assert described["EndpointConfigName"] == "v1" and "prod-new-latency" in described["FailureReason"]


def test_the_old_fleets_errors_do_not_abort_a_deployment_watched_on_the_new_fleet(
    live: dict[str, Any], emulator: Any
) -> None:
    _fleet_alarm(live["cw"], "prod-new-5xx", "Invocation5XXErrors", "v2", "Sum", 1.0)
    emulator.endpoint_behaviour("v1", error_rate=1.0)
    described = _update_under_traffic(live, emulator, ("prod-new-5xx",))
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == "v2"


# -- 4. SystemUpdating --------------------------------------------------------------------------------------------
def test_an_endpoint_in_system_updating_cannot_be_updated_or_deleted(live: dict[str, Any], emulator: Any) -> None:
    sm = live["sm"]
    emulator.system_update("prod", seconds=1.0)
    assert sm.describe_endpoint(EndpointName="prod")["EndpointStatus"] == "SystemUpdating"
    with pytest.raises(ClientError) as excinfo:
        sm.delete_endpoint(EndpointName="prod")
    assert "SystemUpdating" in _error(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        sm.update_endpoint(EndpointName="prod", EndpointConfigName="v2")
    assert "SystemUpdating" in _error(excinfo)[1]
    deadline = time.monotonic() + 10
    while sm.describe_endpoint(EndpointName="prod")["EndpointStatus"] == "SystemUpdating":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sm.describe_endpoint(EndpointName="prod")["EndpointStatus"] == "InService"


# -- 5. expired credentials -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("sagemaker", "ListTrainingJobs", "ExpiredTokenException"),
        ("sagemaker", "ListTrainingJobs", "RequestExpired"),
        ("s3", "ListBuckets", "ExpiredToken"),
    ],
)
def test_the_fault_injection_answers_expired_credentials(
    emulator: Any, aws: Any, service: str, operation: str, code: str
) -> None:
    emulator.fail_api(operation, code)
    with pytest.raises(ClientError) as excinfo:
        getattr(aws(service), "list_training_jobs" if service == "sagemaker" else "list_buckets")()
    assert excinfo.value.response["Error"]["Code"] == code
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# -- 11. CloudWatch retention --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("age_days", "period", "answered"),
    [(20, 60, False), (20, 300, True), (70, 300, False), (70, 3600, True), (2, 60, True), (500, 3600, False)],
)
def test_get_metric_data_applies_cloudwatchs_retention(
    emulator: Any, aws: Any, age_days: int, period: int, answered: bool
) -> None:
    from datetime import UTC, datetime

    cw = aws("cloudwatch")
    at = datetime.now(UTC) - timedelta(days=age_days)
    metric = {
        "Namespace": "/aws/sagemaker/TrainingJobs",
        "MetricName": "CPUUtilization",
        "Dimensions": [{"Name": "Host", "Value": "old-job/algo-1"}],
    }
    emulator.publish_metrics(  # as SageMaker publishes a job's metrics (PutMetricData refuses > 2 weeks old)
        metric["Namespace"],
        [{"MetricName": "CPUUtilization", "Dimensions": metric["Dimensions"], "Timestamp": at, "Value": 50.0}],
    )
    result = cw.get_metric_data(
        MetricDataQueries=[{"Id": "c", "MetricStat": {"Metric": metric, "Period": period, "Stat": "Average"}}],
        StartTime=at - timedelta(hours=1),
        EndTime=at + timedelta(hours=1),
    )["MetricDataResults"][0]
    assert (result["Values"] == [50.0]) is answered


# -- 12. tuning limits -------------------------------------------------------------------------------------------
def test_a_tuning_job_above_ten_parallel_training_jobs_is_refused(emulator: Any, aws: Any, tmp_path: Path) -> None:
    emulator.settings(all_training_instances_quota=100, default_quota=100)
    samples = upload_zip(aws("s3"), dataset_zip(tmp_path), BUCKET, "ch06")
    sm = aws("sagemaker")
    with pytest.raises(ClientError) as excinfo:
        sm.create_hyper_parameter_tuning_job(
            **tuning_request("mlops-hpo-wide", BUCKET, "ch06", samples, jobs=20, parallel=11)
        )
    code, message = _error(excinfo)
    assert code == "ResourceLimitExceeded" and "parallel training jobs per hyperparameter tuning job" in message
    assert sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []
    pages = aws("service-quotas").get_paginator("list_aws_default_service_quotas").paginate(ServiceCode="sagemaker")
    quotas = {q["QuotaName"]: q["Value"] for page in pages for q in page["Quotas"]}
    assert quotas["Number of parallel training jobs per hyperparameter tuning job"] == 10.0
