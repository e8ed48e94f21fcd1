"""A small client for the emulator's control API (tests, the demo and the run script use it)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

CAPACITY_ERROR = (
    "CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance type."
)


class EmulatorControl:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, route: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.url}/_emulator/{route}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def health(self) -> bool:
        try:
            return self._call("GET", "health").get("status") == "ok"
        except OSError:
            return False

    def settings(self, **changes: Any) -> dict[str, Any]:
        return self._call("POST", "settings", changes) if changes else self._call("GET", "settings")

    def fail_next_training_job(self, reason: str | None = None) -> None:
        self._call("POST", "faults/training", {"reason": reason} if reason else {})

    def interrupt_spot(self, interruptions: int = 1, capacity_wait_seconds: float = 0.0) -> None:
        self._call(
            "POST", "faults/spot", {"interruptions": interruptions, "capacity_wait_seconds": capacity_wait_seconds}
        )

    def fail_next_endpoint(self, reason: str | None = None) -> None:
        self._call("POST", "faults/endpoint", {"reason": reason} if reason else {})

    def fail_next_transform_job(self, reason: str | None = None) -> None:
        """The next batch transform job ends Failed with ``reason`` once its instances are up."""
        self._call("POST", "faults/transform", {"reason": reason} if reason else {})

    def alarm_during_next_bake(self, alarm_name: str | None = None) -> None:
        """The next blue/green UpdateEndpoint's rollback alarm (``alarm_name``, else its first) goes into ALARM
        during the bake: the update rolls back, as a bad model's 5XX errors or latency would make it."""
        self._call("POST", "faults/alarm", {"alarm_name": alarm_name} if alarm_name else {})

    def system_update(self, endpoint: str, seconds: float = 5.0, region: str = "us-east-1") -> dict[str, Any]:
        """``endpoint`` (InService) goes into SageMaker's maintenance, ``SystemUpdating``, for ``seconds``: it
        cannot be updated or deleted meanwhile (botocore's EndpointStatus), then it is InService again."""
        payload = {"endpoint": endpoint, "seconds": seconds, "region": region}
        return self._call("POST", "faults/system-updating", payload)

    def endpoint_behaviour(
        self, endpoint_config: str, *, latency_ms: float = 0.0, error_rate: float = 0.0, region: str = "us-east-1"
    ) -> dict[str, Any]:
        """The models of ``endpoint_config`` answer ``latency_ms`` slower and fail ``error_rate`` of requests with
        a 5XX: what a bad new model looks like in the AWS/SageMaker metrics the rollback alarms read."""
        payload = {"endpoint_config": endpoint_config, "latency_ms": latency_ms, "error_rate": error_rate}
        return self._call("POST", "faults/endpoint-behaviour", {**payload, "region": region})

    def publish_metrics(self, namespace: str, metric_data: list[dict[str, Any]], region: str = "us-east-1") -> None:
        """Data points as the service itself publishes them (any age CloudWatch keeps; ``Timestamp`` a datetime):
        PutMetricData refuses data over two weeks old, but a long job's own metrics are that old."""
        data = [{**datum, "Timestamp": datum["Timestamp"].isoformat()} for datum in metric_data]
        self._call("POST", "metrics", {"namespace": namespace, "metric_data": data, "region": region})

    def fail_api(
        self, operation: str, error: str = "ThrottlingException", *, count: int = 1, seconds: float | None = None
    ) -> None:
        """Answer the next ``count`` calls of ``operation`` (or every call for ``seconds``) with ``error``
        (ThrottlingException, HTTP 400, or InternalFailure, HTTP 500; expired credentials: ExpiredTokenException,
        ExpiredToken (S3's spelling) or RequestExpired, HTTP 400)."""
        payload: dict[str, Any] = {"operation": operation, "error": error, "count": count}
        if seconds is not None:
            payload["seconds"] = seconds
        self._call("POST", "faults/api", payload)

    def fail_next_training_job_for_capacity(self) -> None:
        """The next training job fails the way AWS reports missing capacity (not an algorithm error)."""
        self.fail_next_training_job(CAPACITY_ERROR)

    def spot_no_capacity(self, jobs: int = 1) -> None:
        """The next ``jobs`` managed-spot jobs find no capacity until their MaxWaitTimeInSeconds runs out."""
        self.settings(spot_no_capacity=jobs)

    def set_quota(self, name: str, value: float) -> None:
        self.settings(quotas={name: value})

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "requests")

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def actions(self, service: str | None = None) -> list[str]:
        return [r["action"] for r in self.requests() if service is None or r["service"] == service]

    def reset(self) -> None:
        self._call("POST", "reset", {})
