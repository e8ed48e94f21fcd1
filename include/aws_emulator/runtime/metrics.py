"""An endpoint's invocation metrics in CloudWatch, as SageMaker publishes them.

SageMaker sends ``Invocations`` (Sum per minute: the InvokeEndpoint requests sent to a variant) to namespace
``AWS/SageMaker`` with dimensions ``EndpointName`` and ``VariantName``; the reaper reads it to find idle endpoints
and alarms watch it. The emulator publishes one datapoint of 1 (Unit None) per request routed to a variant, at the
time of the request. (AWS's ModelLatency, OverheadLatency and the 4XX/5XX error counts are not published yet.)
"""

from __future__ import annotations

from moto.core.utils import utcnow

NAMESPACE = "AWS/SageMaker"


def publish_invocation(account_id: str, region: str, endpoint_name: str, variant_name: str) -> None:
    """Into the emulator's CloudWatch backend directly (the AWS/ namespace is closed to PutMetricData callers)."""
    from moto.cloudwatch import models  # the emulator's BackendDict, installed after imports

    models.cloudwatch_backends[account_id][region].put_metric_data(
        NAMESPACE,
        [
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint_name},
                    {"Name": "VariantName", "Value": variant_name},
                ],
                "Timestamp": utcnow(),
                "Value": 1.0,
                "Unit": "None",
            }
        ],
    )
