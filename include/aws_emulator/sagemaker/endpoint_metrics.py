"""An endpoint's invocation metrics in CloudWatch, as SageMaker publishes them, and the rollback alarms judged on them.

SageMaker publishes ``Invocations``, ``Invocation4XXErrors``, ``Invocation5XXErrors`` (1 per such answer, else 0),
``ModelLatency`` and ``OverheadLatency`` (microseconds) to namespace ``AWS/SageMaker`` with dimensions
``EndpointName`` + ``VariantName``, and, per AWS's "Auto-Rollback Configuration and Monitoring" guide, also with
``EndpointConfigName`` of the fleet that answered: "CloudWatch publishes the metrics with the dimension
EndpointConfigName:{New-Ep-Config} after the new fleet starts receiving traffic". An alarm with that third
dimension watches one fleet only (the guide's "Monitor model latency on the new fleet").

During a blue/green deployment the emulator evaluates each rollback alarm on the data points published since the
deployment began (its bake is emulated time, often a fraction of a real second, so CloudWatch's period-by-period
evaluation is compressed into one window): the alarm's statistic over the points whose dimensions are exactly the
alarm's, compared with its threshold; no points is ``notBreaching``. A breaching alarm goes into ALARM.
"""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Any

from moto.cloudwatch import models as cloudwatch_models

NAMESPACE = "AWS/SageMaker"
_COMPARE = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def _backend(account_id: str, region: str) -> Any:
    return cloudwatch_models.cloudwatch_backends[account_id][region]


def publish_invocation(
    account_id: str,
    region: str,
    *,
    endpoint: str,
    variant: str,
    config: str,
    model_latency_us: float,
    status: int,
) -> None:
    """One InvokeEndpoint's data points, with both dimension sets SageMaker uses."""
    values = {
        "Invocations": (1.0, "None"),
        "Invocation4XXErrors": (1.0 if 400 <= status < 500 else 0.0, "None"),
        "Invocation5XXErrors": (1.0 if status >= 500 else 0.0, "None"),
    }
    if status < 400:
        values["ModelLatency"] = (float(model_latency_us), "Microseconds")
        values["OverheadLatency"] = (1000.0, "Microseconds")
    base = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    fleet = [*base, {"Name": "EndpointConfigName", "Value": config}]
    points = [
        {"MetricName": name, "Value": value, "Unit": unit, "Dimensions": dimensions}
        for name, (value, unit) in values.items()
        for dimensions in (base, fleet)
    ]
    _backend(account_id, region).put_metric_data(NAMESPACE, points)


def _statistic(values: list[float], statistic: str) -> float:
    if statistic == "Sum":
        return sum(values)
    if statistic == "Maximum":
        return max(values)
    if statistic == "Minimum":
        return min(values)
    if statistic == "SampleCount":
        return float(len(values))
    return sum(values) / len(values)  # Average


def breaching(account_id: str, region: str, names: list[str], since: datetime) -> list[str]:
    """The alarms among ``names`` whose metric, since ``since``, crosses their threshold; they are set ALARM."""
    backend = _backend(account_id, region)
    fired = []
    for name in names:
        alarm = backend.alarms.get(name)
        if alarm is None or not alarm.metric_name or alarm.statistic is None:
            continue
        wanted = {(d.name, d.value) for d in alarm.dimensions}
        values = [
            float(datum.value)
            for datum in backend.metric_data
            if datum.namespace == alarm.namespace
            and datum.name == alarm.metric_name
            and {(d.name, d.value) for d in datum.dimensions} == wanted
            and datum.timestamp.replace(tzinfo=None) >= since.replace(tzinfo=None)
            and hasattr(datum, "value")
        ]
        compare = _COMPARE.get(alarm.comparison_operator)
        if not values or compare is None:
            continue
        value = _statistic(values, alarm.statistic)
        if compare(value, float(alarm.threshold)):
            alarm.update_state(
                f"Threshold Crossed: {alarm.statistic} {value:g} of {alarm.metric_name} since the deployment began "
                f"crossed the threshold ({alarm.threshold:g}).",
                "{}",
                "ALARM",
            )
            fired.append(name)
    return fired
