"""CloudWatch GetMetricData queries of an endpoint variant's ``AWS/SageMaker`` sums, with periods CloudWatch
answers, shared by every room that reads them.

Why in ``core``: the reaper (idle endpoints) and the production monitor (invocations and errors) both read
``AWS/SageMaker`` sums over windows that may start weeks ago, and ``monitoring`` may not import ``reaper``.
Stdlib only.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

MAX_POINTS = 1440  # per query: GetMetricData returns at most 100,800 points a call, 1,440 keeps pages few


def metric_period(start: datetime, end: datetime, now: datetime) -> int:
    """A GetMetricData period for ``start``..``end`` that CloudWatch answers (botocore's MetricStat.Period: a multiple
    of 60 s for a StartTime over 3 h ago, of 300 s over 15 days, of 3,600 s over 63 days; a finer one returns no
    points) and gives at most :data:`MAX_POINTS` points."""
    age = now - start
    multiple = 3600 if age > timedelta(days=63) else 300 if age > timedelta(days=15) else 60
    wanted = (end - start).total_seconds() / MAX_POINTS
    return max(multiple, math.ceil(wanted / multiple) * multiple)


def variant_sum_query(
    query_id: str, endpoint: str, variant: str, metric: str, period: int, label: str
) -> dict[str, Any]:
    """One GetMetricData query: the Sum of ``AWS/SageMaker`` ``metric`` for the endpoint's ``variant`` (dimensions
    EndpointName + VariantName, as SageMaker publishes them) per ``period`` seconds."""
    return {
        "Id": query_id,
        "Label": label,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/SageMaker",
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": variant},
                ],
            },
            "Period": period,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }
