"""CloudWatch on the emulator over real HTTP: custom metrics kept and answered, PutMetricData's and PutMetricAlarm's
documented limits refused, alarms evaluated from the data, and endpoints' Invocations per endpoint and variant."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator_helpers import completed_job, deploy, first_png, wait_endpoint

NAMESPACE = "MLOps/Monitor"
DIMS = [{"Name": "EndpointName", "Value": "prod"}, {"Name": "Package", "Value": "p1"}]


def _error(excinfo: Any) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def _now() -> datetime:
    return datetime.now(UTC)


def test_custom_metrics_are_kept_and_answered_by_get_metric_data_and_statistics(aws):
    cw = aws("cloudwatch")
    now = _now()
    cw.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {"MetricName": "ClassMixPSI", "Dimensions": DIMS, "Timestamp": now, "Value": 0.05, "Unit": "None"},
            {"MetricName": "ClassMixPSI", "Dimensions": DIMS, "Timestamp": now, "Value": 0.15, "Unit": "None"},
            {"MetricName": "ClassMixPSI", "Dimensions": DIMS[:1], "Timestamp": now, "Value": 9.0},
            {"MetricName": "Confidence", "Dimensions": DIMS, "Timestamp": now, "Values": [0.9, 0.5], "Counts": [3, 1]},
        ],
    )
    answer = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "psi",
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": "ClassMixPSI", "Dimensions": DIMS},
                    "Period": 60,
                    "Stat": "Average",
                },
            },
            {
                "Id": "conf",
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": "Confidence", "Dimensions": DIMS},
                    "Period": 60,
                    "Stat": "Average",
                },
            },
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
    )
    series = {r["Id"]: r["Values"] for r in answer["MetricDataResults"]}
    assert series["psi"] == [pytest.approx(0.1)]  # the one-dimension metric (9.0) is another metric
    assert series["conf"] == [pytest.approx((0.9 * 3 + 0.5) / 4)]

    stats = cw.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="ClassMixPSI",
        Dimensions=DIMS,
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
        Period=600,
        Statistics=["Maximum", "SampleCount"],
    )["Datapoints"]
    assert [(p["Maximum"], p["SampleCount"]) for p in stats] == [(0.15, 2.0)]
    exact = cw.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="ClassMixPSI",
        Dimensions=DIMS[:1],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
        Period=600,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in exact] == [9.0]  # exactly these dimensions, not every superset


def _datum(**overrides: Any) -> dict[str, Any]:
    return {"MetricName": "ClassMixPSI", "Dimensions": DIMS, "Value": 0.1, **overrides}


@pytest.mark.parametrize(
    ("namespace", "data", "code", "message"),
    [
        (
            "AWS/SageMaker",
            [_datum()],
            "InvalidParameterValue",
            "The value AWS/SageMaker for parameter Namespace is invalid: namespaces starting with AWS/ are reserved",
        ),
        (
            NAMESPACE,
            [_datum()] * 1001,
            "InvalidParameterValue",
            "The collection MetricData must not have a size greater than 1000; got 1001.",
        ),
        (
            NAMESPACE,
            [_datum(Dimensions=[{"Name": f"d{i}", "Value": "v"} for i in range(31)])],
            "InvalidParameterValue",
            "The collection MetricData.member.1.Dimensions must not have a size greater than 30; got 31.",
        ),
        (
            NAMESPACE,
            [_datum(Value=None, Values=[float(i) for i in range(151)])],
            "InvalidParameterValue",
            "The collection MetricData.member.1.Values must not have a size greater than 150; got 151.",
        ),
        (
            NAMESPACE,
            [_datum(Value=float("inf"))],
            "InvalidParameterValue",
            "The value inf for parameter MetricData.member.1.Value is invalid.",
        ),
        (
            NAMESPACE,
            [_datum(Value=2.0**361)],
            "InvalidParameterValue",
            "values must be in the range -2^360 to 2^360",
        ),
        (
            NAMESPACE,
            [_datum(Timestamp=datetime.now(UTC) - timedelta(days=15))],
            "InvalidParameterValue",
            "MetricData.member.1.Timestamp must specify a time no more than two weeks in the past",
        ),
        (
            NAMESPACE,
            [_datum(Timestamp=datetime.now(UTC) + timedelta(hours=3))],
            "InvalidParameterValue",
            "MetricData.member.1.Timestamp must specify a time no more than two hours in the future",
        ),
        (
            NAMESPACE,
            [_datum(StorageResolution=30)],
            "InvalidParameterValue",
            "The value 30 for parameter MetricData.member.1.StorageResolution is invalid; valid values are 1 and 60.",
        ),
        (
            NAMESPACE,
            [_datum(Unit="Furlongs")],
            "InvalidParameterValue",
            "The value Furlongs for parameter MetricData.member.1.Unit is invalid",
        ),
        (
            NAMESPACE,
            [_datum(Dimensions=[{"Name": ":bad", "Value": "v"}])],
            "InvalidParameterValue",
            "MetricData.member.1.Dimensions.member.1.Name cannot start with a colon",
        ),
        (
            NAMESPACE,
            [_datum(Dimensions=[{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}])],
            "InvalidParameterValue",
            "The collection MetricData.member.1.Dimensions repeats the dimension name(s) ['a'].",
        ),
        (
            NAMESPACE,
            [_datum(Value=None)],
            "MissingParameter",
            "One of MetricData.member.1.Value, .Values or .StatisticValues is required.",
        ),
    ],
)
def test_put_metric_data_refusals_store_nothing(aws, namespace, data, code, message):
    cw = aws("cloudwatch")
    data = [{k: v for k, v in d.items() if v is not None} for d in data]
    with pytest.raises(ClientError) as excinfo:
        cw.put_metric_data(Namespace=namespace, MetricData=data)
    got_code, got_message = _error(excinfo)
    assert got_code == code and message in got_message, got_message
    assert cw.list_metrics(Namespace=namespace)["Metrics"] == []


def _alarm(**overrides: Any) -> dict[str, Any]:
    return {
        "AlarmName": "psi-drift",
        "Namespace": NAMESPACE,
        "MetricName": "ClassMixPSI",
        "Dimensions": DIMS,
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 0.2,
        "ComparisonOperator": "GreaterThanThreshold",
        **overrides,
    }


def _state(cw: Any, name: str = "psi-drift") -> dict[str, Any]:
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def test_alarm_state_follows_the_data(aws):
    cw = aws("cloudwatch")
    cw.put_metric_alarm(**_alarm())
    assert _state(cw)["StateValue"] == "INSUFFICIENT_DATA"  # a new alarm on a metric with no data
    cw.put_metric_data(Namespace=NAMESPACE, MetricData=[_datum(Value=0.05)])
    assert _state(cw)["StateValue"] == "OK"
    cw.put_metric_data(Namespace=NAMESPACE, MetricData=[_datum(Value=0.4)])
    alarm = _state(cw)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [0.4 (")
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"] == [0.4]  # Maximum of 0.05 and 0.4
    # Another metric (one dimension fewer) does not move it; an update keeps the state and re-evaluates.
    cw.put_metric_data(Namespace=NAMESPACE, MetricData=[_datum(Dimensions=DIMS[:1], Value=0.0)])
    assert _state(cw)["StateValue"] == "ALARM"
    cw.put_metric_alarm(**_alarm(Threshold=1.0))
    assert _state(cw)["StateValue"] == "OK"
    cw.delete_alarms(AlarmNames=["psi-drift"])
    assert cw.describe_alarms(AlarmNames=["psi-drift"])["MetricAlarms"] == []


def test_missing_data_and_m_out_of_n(aws):
    cw = aws("cloudwatch")
    cw.put_metric_alarm(**_alarm(AlarmName="quiet-ok", TreatMissingData="notBreaching"))
    cw.put_metric_alarm(**_alarm(AlarmName="quiet-bad", TreatMissingData="breaching"))
    assert _state(cw, "quiet-ok")["StateValue"] == "OK"
    assert _state(cw, "quiet-bad")["StateValue"] == "ALARM"
    # 2 of the last 3 one-minute periods: one breaching point now is not enough, two are.
    now = _now()
    cw.put_metric_alarm(**_alarm(AlarmName="two-of-three", EvaluationPeriods=3, DatapointsToAlarm=2))
    cw.put_metric_data(Namespace=NAMESPACE, MetricData=[_datum(Value=0.5, Timestamp=now)])
    assert _state(cw, "two-of-three")["StateValue"] == "OK"
    cw.put_metric_data(Namespace=NAMESPACE, MetricData=[_datum(Value=0.6, Timestamp=now - timedelta(minutes=1))])
    assert _state(cw, "two-of-three")["StateValue"] == "ALARM"


@pytest.mark.parametrize(
    ("overrides", "code", "message"),
    [
        (
            {"Period": 45},
            "InvalidParameterValue",
            "The value 45 for parameter Period is invalid: valid values are 10, 20, 30 and any multiple of 60.",
        ),
        (
            {"EvaluationPeriods": 2, "DatapointsToAlarm": 3},
            "InvalidParameterValue",
            "DatapointsToAlarm (3) must be less than or equal to EvaluationPeriods (2).",
        ),
        (
            {"ExtendedStatistic": "p90"},
            "InvalidParameterCombination",
            "Exactly one of the parameters Statistic or ExtendedStatistic must be specified with MetricName.",
        ),
        (
            {"TreatMissingData": "sometimes"},
            "InvalidParameterValue",
            "The value sometimes for parameter TreatMissingData is invalid",
        ),
        (
            {"Dimensions": [{"Name": f"d{i}", "Value": "v"} for i in range(31)]},
            "InvalidParameterValue",
            "The collection Dimensions must not have a size greater than 30; got 31.",
        ),
    ],
)
def test_put_metric_alarm_refusals_create_nothing(aws, overrides, code, message):
    cw = aws("cloudwatch")
    with pytest.raises(ClientError) as excinfo:
        cw.put_metric_alarm(**_alarm(**overrides))
    got_code, got_message = _error(excinfo)
    assert got_code == code and message in got_message, got_message
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_endpoint_invocations_per_endpoint_and_variant(aws, batch1):
    sm, runtime, cw = aws("sagemaker"), aws("sagemaker-runtime"), aws("cloudwatch")
    job = completed_job(aws, batch1, "mlops-cw-bucket", "ch06", "cw-job")
    deploy(sm, job["ModelArtifacts"]["S3ModelArtifacts"], "cw-ep")
    assert wait_endpoint(sm, "cw-ep")["EndpointStatus"] == "InService"
    png, _ = first_png(batch1)
    start = _now() - timedelta(minutes=1)
    for _ in range(3):
        runtime.invoke_endpoint(EndpointName="cw-ep", ContentType="application/x-image", Body=png)
    with pytest.raises(ClientError):  # routed to the variant, refused by the model: still an invocation
        runtime.invoke_endpoint(EndpointName="cw-ep", ContentType="text/csv", Body=b"1,2")
    dims = [{"Name": "EndpointName", "Value": "cw-ep"}, {"Name": "VariantName", "Value": "AllTraffic"}]
    points = cw.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=dims,
        StartTime=start,
        EndTime=_now() + timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(p["Sum"] for p in points) == 4.0
    listed = cw.list_metrics(Namespace="AWS/SageMaker", MetricName="Invocations")["Metrics"]
    # Per endpoint and variant, and per fleet (the endpoint config that answered: the rollback alarms' view).
    assert sorted(sorted((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in listed) == [
        [("EndpointConfigName", "cw-ep"), ("EndpointName", "cw-ep"), ("VariantName", "AllTraffic")],
        [("EndpointName", "cw-ep"), ("VariantName", "AllTraffic")],
    ]
    # An idle-endpoint alarm on it (what the reaper's window means): invoked, so OK.
    cw.put_metric_alarm(
        AlarmName="cw-ep-idle",
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=dims,
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
    )
    assert _state(cw, "cw-ep-idle")["StateValue"] == "OK"
