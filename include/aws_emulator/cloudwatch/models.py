"""CloudWatch state on the emulator: moto's backend, with alarms evaluated from the metric data.

moto keeps custom metrics and answers GetMetricData, but an alarm it stores stays ``OK`` whatever the data says,
GetMetricStatistics matches any metric that *contains* the requested dimensions, and ListMetrics lists a metric
of two or more dimensions once per datapoint. Here, as on AWS:

* a new alarm starts ``INSUFFICIENT_DATA`` and is evaluated at once; an updated one keeps its state and is
  re-evaluated; every PutMetricData re-evaluates the alarms on that metric (namespace, name, exact dimensions).
  The evaluation takes the last ``EvaluationPeriods`` periods up to now, the alarm's statistic per period, and
  goes to ``ALARM`` when at least ``DatapointsToAlarm`` (default: all) of them breach; periods without data
  count as ``TreatMissingData`` says (``missing``: no data at all is ``INSUFFICIENT_DATA``; ``ignore``: the
  state stays). Alarms on metric math (``Metrics``) are stored but not evaluated.
* GetMetricStatistics answers the metric with exactly the requested dimensions; ListMetrics lists each once.

The alarm is evaluated when data or the alarm changes, not on a clock: an alarm whose data merely ages out of
its window keeps its state until the next PutMetricData or PutMetricAlarm (AWS re-evaluates every period).
SetAlarmState and the control API's injected alarms are therefore not overwritten by a later DescribeAlarms.
"""

from __future__ import annotations

import json
import math
import threading
from datetime import datetime, timedelta
from typing import Any

from moto.cloudwatch.exceptions import InvalidParameterValue
from moto.cloudwatch.models import (
    Alarm,
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    Statistics,
    daterange,
)
from moto.core.utils import utcnow

from aws_emulator.cloudwatch.retention import apply_retention
from aws_emulator.cloudwatch.validators import utc_naive

_COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


def _dimension_set(dimensions: Any) -> frozenset[tuple[str, str]]:
    pairs = set()
    for d in dimensions or []:
        if isinstance(d, dict):
            pairs.add((str(d["Name"]), str(d.get("Value"))))
        else:
            pairs.add((str(d.name), str(d.value)))
    return frozenset(pairs)


def _statistic(points: list[Any], statistic: str | None, extended: str | None) -> float | None:
    """One period's statistic over raw values and statistic sets, as CloudWatch computes it."""
    count = total = 0.0
    low, high = math.inf, -math.inf
    raw: list[float] = []
    for p in points:
        if isinstance(p, MetricAggregatedDatum):
            count += p.sample_count
            total += p.sum
            low, high = min(low, p.min), max(high, p.max)
        elif isinstance(p, MetricDatum):
            count += 1
            total += p.value
            low, high = min(low, p.value), max(high, p.value)
            raw.append(p.value)
    if count == 0:
        return None
    if extended:
        if not extended.startswith("p") or not raw:
            return None
        rank = float(extended[1:]) / 100.0
        ordered = sorted(raw)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(rank * len(ordered)) - 1))]
    return {
        "SampleCount": count,
        "Sum": total,
        "Average": total / count,
        "Minimum": low,
        "Maximum": high,
    }.get(statistic or "Average")


class EmulatorCloudWatchBackend(CloudWatchBackend):
    """moto's CloudWatch backend whose alarms follow the data."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self._evaluation_lock = threading.Lock()

    # -- metrics -------------------------------------------------------------------------------------------------
    def put_metric_data(self, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        """Stores the data (timestamps as naive UTC, as moto compares them) and re-evaluates the metric's alarms.
        The public API's limits are checked in the response layer: the emulator's own publishers (SageMaker's
        AWS/ and /aws/sagemaker namespaces) come through here too."""
        normalised = []
        for datum in metric_data:
            datum = dict(datum)
            if datum.get("Timestamp") is not None:
                datum["Timestamp"] = utc_naive(datum["Timestamp"])
            normalised.append(datum)
        super().put_metric_data(namespace, normalised)
        touched = {(d["MetricName"], _dimension_set(d.get("Dimensions"))) for d in normalised}
        for alarm in list(self.alarms.values()):
            if alarm.namespace == namespace and (alarm.metric_name, _dimension_set(alarm.dimensions)) in touched:
                self.evaluate_alarm(alarm)

    def get_metric_data(  # type: ignore[override]
        self,
        queries: list[dict[str, Any]],
        start_time: datetime,
        end_time: datetime,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        """moto's answer, with CloudWatch's retention rules for old data applied (:mod:`.retention`)."""
        return apply_retention(
            queries, super().get_metric_data(queries, start_time, end_time, scan_by), start_time, utcnow()
        )

    def get_metric_statistics(  # type: ignore[override]
        self,
        namespace: str,
        metric_name: str,
        start_time: datetime,
        end_time: datetime,
        period: int,
        stats: list[str],
        dimensions: list[dict[str, str]],
        unit: str | None = None,
    ) -> list[Any]:
        """moto's answer, but only for the metric with exactly these dimensions (moto matched every metric whose
        dimensions include them, and every metric of the name when none were given)."""
        start_time, end_time = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
        if start_time >= end_time:
            raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
        wanted = _dimension_set(dimensions)
        data = sorted(
            (
                md
                for md in self.get_all_metrics()
                if md.namespace == namespace
                and md.name == metric_name
                and start_time <= md.timestamp < end_time
                and _dimension_set(md.dimensions) == wanted
                and (not unit or md.unit == unit)
            ),
            key=lambda md: md.timestamp,
        )
        period_delta = timedelta(seconds=period)
        out: list[Statistics] = []
        idx = 0
        if not data:
            return out
        for moment in daterange(data[0].timestamp, data[-1].timestamp + period_delta, period_delta):
            statistics = Statistics(stats, moment)
            while idx < len(data) and data[idx].timestamp < moment + period_delta:
                statistics.metric_data.append(data[idx])
                statistics.unit = data[idx].unit
                idx += 1
            if statistics.metric_data:
                out.append(statistics)
        return out

    def get_filtered_metrics(self, metric_name: str, namespace: str, dimensions: list[dict[str, str]]) -> list[Any]:
        """ListMetrics: each metric (namespace, name, dimension set) once; moto's check compared every dimension
        with every other, so a metric of two dimensions was listed once per datapoint."""
        seen: set[tuple[str, str, frozenset[tuple[str, str]]]] = set()
        out = []
        for md in self.get_all_metrics():
            key = (md.namespace, md.name, _dimension_set(md.dimensions))
            if key not in seen and md.filter(namespace=namespace, name=metric_name, dimensions=dimensions):
                seen.add(key)
                out.append(md)
        return out

    # -- alarms --------------------------------------------------------------------------------------------------
    def put_metric_alarm(self, name: str, *args: Any, **kwargs: Any) -> Alarm:  # type: ignore[override]
        """A new alarm starts INSUFFICIENT_DATA; an updated one keeps its state (AWS: "the alarm state is left
        unchanged"); both are evaluated at once."""
        previous = self.alarms.get(name)
        alarm = super().put_metric_alarm(name, *args, **kwargs)
        if previous is not None:
            alarm.state_value = previous.state_value
            alarm.state_reason = previous.state_reason
            alarm.state_reason_data = previous.state_reason_data
            alarm.state_updated_timestamp = previous.state_updated_timestamp
            alarm.history = previous.history
        else:
            alarm.state_value = "INSUFFICIENT_DATA"
        self.evaluate_alarm(alarm)
        return alarm

    def _periods(self, alarm: Alarm, now: datetime) -> list[tuple[datetime, float | None]]:
        period = int(alarm.period)
        n = int(alarm.evaluation_periods)
        wanted = _dimension_set(alarm.dimensions)
        points = [
            md
            for md in self.get_all_metrics()
            if md.namespace == alarm.namespace
            and md.name == alarm.metric_name
            and _dimension_set(md.dimensions) == wanted
            and (not alarm.unit or md.unit == alarm.unit)
        ]
        # The newest period is the one holding the newest datapoint when that is less than a period old: a value
        # put at hh:mm:59.999 and evaluated at hh:mm+1:00.001 still counts, as AWS's evaluation lag makes it.
        stamps = [t for t in (utc_naive(md.timestamp) for md in points) if t is not None and t <= now]
        reference = max(stamps) if stamps and (now - max(stamps)).total_seconds() < period else now
        epoch = datetime(1970, 1, 1)
        end = epoch + timedelta(seconds=(int((reference - epoch).total_seconds()) // period + 1) * period)
        start = end - timedelta(seconds=n * period)
        buckets: list[list[Any]] = [[] for _ in range(n)]
        for md in points:
            stamp = utc_naive(md.timestamp)
            if stamp is not None and start <= stamp < end:
                buckets[int((stamp - start).total_seconds()) // period].append(md)
        return [
            (start + timedelta(seconds=i * period), _statistic(bucket, alarm.statistic, alarm.extended_statistic))
            for i, bucket in enumerate(buckets)
        ]

    def evaluate_alarm(self, alarm: Alarm, now: datetime | None = None) -> None:
        """Sets the alarm's state from its metric's last EvaluationPeriods periods (see the module docstring)."""
        if alarm.metric_data_queries or not alarm.metric_name or alarm.comparison_operator not in _COMPARISONS:
            return
        with self._evaluation_lock:
            now = now or utcnow()
            compare, words = _COMPARISONS[alarm.comparison_operator]
            periods = self._periods(alarm, now)
            n = len(periods)
            needed = int(alarm.datapoints_to_alarm or n)
            threshold = float(alarm.threshold)
            present = [(t, v) for t, v in periods if v is not None]
            breaching = sum(1 for _, v in present if compare(v, threshold))
            treat = alarm.treat_missing_data or "missing"
            missing = n - len(present)
            if treat == "breaching":
                breaching += missing
            if not present and treat in ("missing", "ignore"):
                if treat == "ignore":
                    return
                state = "INSUFFICIENT_DATA"
                reason = (
                    f"Insufficient Data: {n} datapoint{'s were' if n != 1 else ' was'} unknown "
                    f"(no data in the last {n} period(s) of {alarm.period} seconds)."
                )
            else:
                state = "ALARM" if breaching >= needed else "OK"
                shown = ", ".join(f"{v:g} ({t:%d/%m/%y %H:%M:%S})" for t, v in reversed(present)) or "none"
                reason = (
                    f"Threshold Crossed: {breaching} out of the last {n} datapoints [{shown}] "
                    f"{'was' if breaching == 1 else 'were'} {words} the threshold ({threshold:g}) "
                    f"(minimum {needed} datapoint{'s' if needed != 1 else ''} for OK -> ALARM transition)."
                )
            if state == alarm.state_value:
                return
            data = {
                "version": "1.0",
                "queryDate": now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                "statistic": alarm.statistic or alarm.extended_statistic,
                "period": int(alarm.period),
                "recentDatapoints": [v for _, v in reversed(present)],
                "threshold": threshold,
                "evaluatedDatapoints": [
                    {"timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "value": v} for t, v in reversed(present)
                ],
            }
            alarm.update_state(reason, json.dumps(data), state)
