"""What CloudWatch refuses in PutMetricData and PutMetricAlarm, from botocore's documentation strings.

CloudWatch speaks CBOR, so the SageMaker layer's service-model check does not reach it; moto checks NaN and the
Values/Counts pairing only. These are the rest of the documented limits a caller can hit: at most 1000 metrics
per call, 30 dimensions per metric, 150 Values, no ``AWS/`` namespace, values within +-2^360 and finite,
timestamps from two weeks ago to two hours ahead, StorageResolution 1 or 60, a StandardUnit; for alarms a Period
of 10, 20, 30 or a multiple of 60, DatapointsToAlarm at most EvaluationPeriods, and one of Statistic or
ExtendedStatistic with a MetricName.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session

from aws_emulator.cloudwatch.exceptions import (
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingRequiredParameter,
)

MAX_METRICS_PER_CALL = 1000
MAX_DIMENSIONS = 30
MAX_VALUES = 150
VALUE_LIMIT = 2.0**360
PAST_LIMIT = timedelta(weeks=2)
FUTURE_LIMIT = timedelta(hours=2)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def _standard_units() -> tuple[str, ...]:
    model = botocore.session.get_session().get_service_model("cloudwatch")
    return tuple(model.shape_for("StandardUnit").enum)


def utc_naive(value: Any) -> datetime | None:
    """A request timestamp (datetime, epoch seconds, ISO text) as naive UTC, as moto stores times."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), tz=UTC).replace(tzinfo=None)
    text = str(value)
    try:
        return utc_naive(float(text))
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return utc_naive(parsed)


def _ascii_text(text: str, field: str, *, dimension_name: bool = False) -> None:
    if not text or not text.strip():
        raise InvalidParameterValue(f"The parameter {field} must include at least one non-whitespace character.")
    if any(ord(c) > 127 or ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidParameterValue(
            f"The parameter {field} must contain only ASCII characters and no control characters; got {text!r}."
        )
    if dimension_name and text.startswith(":"):
        raise InvalidParameterValue(f"The parameter {field} cannot start with a colon (:); got {text!r}.")


def _check_value(value: Any, field: str) -> None:
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise InvalidParameterValue(f"The value {value} for parameter {field} is invalid.")
    if abs(number) > VALUE_LIMIT:
        raise InvalidParameterValue(
            f"The value {value} for parameter {field} is invalid: values must be in the range -2^360 to 2^360."
        )


def _check_dimensions(dimensions: list[dict[str, Any]], field: str) -> None:
    if len(dimensions) > MAX_DIMENSIONS:
        raise InvalidParameterValue(
            f"The collection {field} must not have a size greater than {MAX_DIMENSIONS}; got {len(dimensions)}."
        )
    names = []
    for j, dimension in enumerate(dimensions, start=1):
        if "Name" not in dimension or "Value" not in dimension:
            raise MissingRequiredParameter(f"The parameters {field}.member.{j}.Name and .Value are required.")
        _ascii_text(str(dimension["Name"]), f"{field}.member.{j}.Name", dimension_name=True)
        _ascii_text(str(dimension["Value"]), f"{field}.member.{j}.Value")
        names.append(dimension["Name"])
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidParameterValue(f"The collection {field} repeats the dimension name(s) {repeated}.")


def validate_put_metric_data(namespace: str | None, metric_data: list[dict[str, Any]], now: datetime) -> None:
    """Raises as CloudWatch does for a PutMetricData request; ``now`` is naive UTC."""
    if not namespace:
        raise MissingRequiredParameter("The parameter Namespace is required.")
    if namespace.startswith("AWS/"):
        raise InvalidParameterValue(
            f"The value {namespace} for parameter Namespace is invalid: namespaces starting with AWS/ are reserved "
            "for Amazon Web Services."
        )
    if namespace.startswith(":") or len(namespace) > 255:
        raise InvalidParameterValue(
            f"The value {namespace} for parameter Namespace is invalid: 1-255 characters, not starting with ':'."
        )
    _ascii_text(namespace, "Namespace")
    if not metric_data:
        raise MissingRequiredParameter("The parameter MetricData is required.")
    if len(metric_data) > MAX_METRICS_PER_CALL:
        raise InvalidParameterValue(
            f"The collection MetricData must not have a size greater than {MAX_METRICS_PER_CALL}; got "
            f"{len(metric_data)}."
        )
    units = _standard_units()
    for i, datum in enumerate(metric_data, start=1):
        field = f"MetricData.member.{i}"
        name = datum.get("MetricName")
        if not name:
            raise MissingRequiredParameter(f"The parameter {field}.MetricName is required.")
        if len(name) > 255:
            raise InvalidParameterValue(f"The parameter {field}.MetricName must be at most 255 characters.")
        _check_dimensions(datum.get("Dimensions") or [], f"{field}.Dimensions")
        if datum.get("Value") is not None:
            _check_value(datum["Value"], f"{field}.Value")
        values = datum.get("Values") or []
        if len(values) > MAX_VALUES:
            raise InvalidParameterValue(
                f"The collection {field}.Values must not have a size greater than {MAX_VALUES}; got {len(values)}."
            )
        for value in values:
            _check_value(value, f"{field}.Values")
        if datum.get("Counts") and not values:
            raise InvalidParameterCombination(f"The parameter {field}.Counts can only be used with {field}.Values.")
        for count in datum.get("Counts") or []:
            if float(count) < 0 or math.isnan(float(count)):
                raise InvalidParameterValue(f"The value {count} for parameter {field}.Counts is invalid.")
        stats = datum.get("StatisticValues")
        if stats:
            for key in ("SampleCount", "Sum", "Minimum", "Maximum"):
                if key in stats:
                    _check_value(stats[key], f"{field}.StatisticValues.{key}")
            if float(stats.get("SampleCount", 1)) <= 0:
                raise InvalidParameterValue(f"The parameter {field}.StatisticValues.SampleCount must be positive.")
            if float(stats.get("Minimum", 0)) > float(stats.get("Maximum", 0)):
                raise InvalidParameterValue(
                    f"The parameter {field}.StatisticValues.Minimum must not be greater than its Maximum."
                )
            if values:
                raise InvalidParameterCombination(
                    f"The parameters {field}.Values and {field}.StatisticValues are mutually exclusive and you have "
                    "specified both."
                )
        if datum.get("Value") is None and not values and not stats:
            raise MissingRequiredParameter(f"One of {field}.Value, .Values or .StatisticValues is required.")
        if datum.get("Unit") is not None and datum["Unit"] not in units:
            raise InvalidParameterValue(
                f"The value {datum['Unit']} for parameter {field}.Unit is invalid; use one of {', '.join(units)}."
            )
        resolution = datum.get("StorageResolution")
        if resolution is not None and int(resolution) not in (1, 60):
            raise InvalidParameterValue(
                f"The value {resolution} for parameter {field}.StorageResolution is invalid; valid values are 1 and 60."
            )
        stamp = utc_naive(datum.get("Timestamp"))
        if stamp is not None and stamp < now - PAST_LIMIT:
            raise InvalidParameterValue(
                f"The parameter {field}.Timestamp must specify a time no more than two weeks in the past "
                f"(got {stamp.isoformat()}Z)."
            )
        if stamp is not None and stamp > now + FUTURE_LIMIT:
            raise InvalidParameterValue(
                f"The parameter {field}.Timestamp must specify a time no more than two hours in the future "
                f"(got {stamp.isoformat()}Z)."
            )


def validate_put_metric_alarm(params: dict[str, Any]) -> None:
    """Raises as CloudWatch does for a PutMetricAlarm on one metric (alarms on Metrics math are left to moto)."""
    has_metric, has_math = bool(params.get("MetricName")), bool(params.get("Metrics"))
    if has_metric and has_math:
        raise InvalidParameterCombination(
            "The parameters MetricName and Metrics are mutually exclusive and you have specified both."
        )
    if not has_metric and not has_math and not params.get("AlarmRule"):
        raise MissingRequiredParameter("One of the parameters MetricName or Metrics is required.")
    evaluation_periods = params.get("EvaluationPeriods")
    if evaluation_periods is None:
        raise MissingRequiredParameter("The parameter EvaluationPeriods is required.")
    datapoints = params.get("DatapointsToAlarm")
    if datapoints is not None and int(datapoints) > int(evaluation_periods):
        raise InvalidParameterValue(
            f"DatapointsToAlarm ({datapoints}) must be less than or equal to EvaluationPeriods ({evaluation_periods})."
        )
    if not has_metric:
        return
    statistic, extended = params.get("Statistic"), params.get("ExtendedStatistic")
    if bool(statistic) == bool(extended):
        raise InvalidParameterCombination(
            "Exactly one of the parameters Statistic or ExtendedStatistic must be specified with MetricName."
        )
    if statistic and statistic not in STATISTICS:
        raise InvalidParameterValue(f"The value {statistic} for parameter Statistic is invalid.")
    period = params.get("Period")
    if period is None:
        raise MissingRequiredParameter("The parameter Period is required for an alarm on MetricName.")
    if int(period) not in (10, 20, 30) and int(period) % 60:
        raise InvalidParameterValue(
            f"The value {period} for parameter Period is invalid: valid values are 10, 20, 30 and any multiple of 60."
        )
    if params.get("Threshold") is None and not params.get("ThresholdMetricId"):
        raise MissingRequiredParameter("The parameter Threshold is required for an alarm on a static threshold.")
    _check_dimensions(params.get("Dimensions") or [], "Dimensions")
    missing = params.get("TreatMissingData")
    if missing is not None and missing not in ("breaching", "notBreaching", "ignore", "missing"):
        raise InvalidParameterValue(
            f"The value {missing} for parameter TreatMissingData is invalid; valid values are breaching, "
            "notBreaching, ignore and missing."
        )
    unit = params.get("Unit")
    if unit is not None and unit not in _standard_units():
        raise InvalidParameterValue(f"The value {unit} for parameter Unit is invalid.")
