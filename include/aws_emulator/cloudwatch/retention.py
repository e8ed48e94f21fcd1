"""CloudWatch's retention rules on GetMetricData, which moto does not apply.

botocore's ``MetricStat.Period``: "If the StartTime parameter specifies a time stamp that is greater than 3 hours
ago, you must specify the period as follows or no data points in that time range is returned: Start time between
3 hours and 15 days ago - Use a multiple of 60 seconds (1 minute). Start time between 15 and 63 days ago - Use a
multiple of 300 seconds (5 minutes). Start time greater than 63 days ago - Use a multiple of 3600 seconds (1
hour)." And GetMetricData: data points are kept 3 hours below a 60 s period, 15 days at 60 s, 63 days at 300 s,
455 days at 3600 s. So a query with a period too fine for its start time answers no data points (not an error),
and nothing older than 455 days is returned at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

RETENTION_DAYS = 455


def required_period_multiple(start_time: datetime, now: datetime) -> int:
    """The multiple of seconds a query's period must be for data from ``start_time`` (botocore's MetricStat)."""
    age = now - start_time
    if age > timedelta(days=63):
        return 3600
    if age > timedelta(days=15):
        return 300
    return 60 if age > timedelta(hours=3) else 1


def apply_retention(
    queries: list[dict[str, Any]], results: list[dict[str, Any]], start_time: datetime, now: datetime
) -> list[dict[str, Any]]:
    """GetMetricData's ``results`` as CloudWatch answers them (see the module docstring): no data points for a
    query whose period is too fine for ``start_time``, and nothing older than the retention."""
    multiple = required_period_multiple(start_time.replace(tzinfo=None), now.replace(tzinfo=None))
    too_fine = {q["Id"] for q in queries if "MetricStat" in q and int(q["MetricStat"]["Period"]) % multiple != 0}
    oldest = now.replace(tzinfo=None) - timedelta(days=RETENTION_DAYS)
    for result in results:
        if result["id"] in too_fine:
            result["values"], result["timestamps"] = [], []
            continue
        kept = [
            (t, v)
            for t, v in zip(result["timestamps"], result["values"], strict=True)
            if t.replace(tzinfo=None) >= oldest
        ]
        result["timestamps"], result["values"] = [t for t, _ in kept], [v for _, v in kept]
    return results
