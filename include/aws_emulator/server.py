"""The emulator's HTTP server: moto's WSGI app with the emulator installed, plus a small control API.

Control API (JSON, under ``/_emulator/``): ``GET health``; ``GET|POST settings`` (phase durations, S3 latency,
quota values, spot discount, ...); ``POST faults/training`` ``{"reason"}`` fails the next training job;
``POST faults/spot`` ``{"interruptions", "capacity_wait_seconds"}`` interrupts the next spot job(s);
``POST faults/endpoint`` ``{"reason"}`` fails the next endpoint creation; ``POST faults/transform`` ``{"reason"}``
fails the next batch transform job (Failed, with that FailureReason); ``POST faults/api`` ``{"operation",
"error": "ThrottlingException"|"InternalFailure", "count"| "seconds"}`` answers the next N calls of an operation
(or all calls for a time window) with that error, as AWS does under throttling or an outage; ``POST faults/alarm``
``{"alarm_name"}`` makes the next blue/green endpoint update's rollback alarm (that one, or its first) go into
ALARM during the bake, so the update rolls back; ``POST faults/system-updating`` ``{"endpoint", "seconds",
"region"}`` puts an InService endpoint under SageMaker's maintenance (``SystemUpdating``) for that long;
``POST faults/endpoint-behaviour`` ``{"endpoint_config", "latency_ms", "error_rate"}`` makes the models of one
endpoint config slow or failing (the metrics the rollback alarms read show it);
``GET|DELETE requests`` (the log of AWS calls answered);
``POST reset`` (all AWS state, settings and the request log).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from aws_emulator.install import install
from aws_emulator.requests_log import RequestLog, action_of, is_airflow_call, request_params, service_and_region
from aws_emulator.settings import SETTINGS

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]

# What AWS answers: ThrottlingException is HTTP 400 ("Rate exceeded"), InternalFailure HTTP 500. Expired
# credentials: JSON APIs (SageMaker, CloudWatch, STS's JSON peers) answer ExpiredTokenException, S3 ExpiredToken,
# and a request signed too long ago RequestExpired (botocore's retryhandler and the provider's executors name each).
API_FAULTS = {
    "ThrottlingException": (400, "Rate exceeded"),
    "InternalFailure": (500, "An internal error occurred. Try again."),
    "ExpiredTokenException": (400, "The security token included in the request is expired"),
    "ExpiredToken": (400, "The provided token has expired."),
    "RequestExpired": (400, "Request has expired."),
}
_XML_SERVICES = {"s3", "sts", "iam"}  # rest-xml / query protocols; the others speak JSON


def fault_response(service: str, code: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The error as the service's protocol carries it, so botocore parses the same code as from AWS."""
    status, message = API_FAULTS[code]
    if service in _XML_SERVICES:
        error = f"<Code>{code}</Code><Message>{message}</Message>"
        body = (
            f"<Error>{error}<RequestId>emulator</RequestId></Error>"
            if service == "s3"
            else f"<ErrorResponse><Error><Type>Sender</Type>{error}</Error><RequestId>emulator</RequestId>"
            "</ErrorResponse>"
        )
        return status, [("Content-Type", "text/xml")], body.encode()
    body = json.dumps({"__type": code, "message": message}).encode()
    return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)], body


class EmulatorApp:
    """WSGI middleware: answers /_emulator/*, adds S3 latency, records every AWS call, delegates to moto."""

    def __init__(self, moto_app: Callable[..., Iterable[bytes]]) -> None:
        self.moto_app = moto_app
        self.requests = RequestLog()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self._control(environ, start_response, path[len("/_emulator/") :].strip("/"))
        service, region = service_and_region(environ)
        action = action_of(environ, service) if service else ""
        if service and is_airflow_call(environ):
            self._audit(environ, service, action, region)
        if service == "s3":
            latency = SETTINGS.snapshot().s3_latency_ms
            if latency > 0:
                time.sleep(latency / 1000.0)
        fault = SETTINGS.take_api_fault(action, time.time()) if service else None
        if fault is not None:
            status, headers, body = fault_response(service, fault)
            start_response(f"{status} {HTTPStatus(status).phrase}", headers + [("Content-Length", str(len(body)))])
            self.requests.add(service, action, region, status)
            return [body]
        status_box: list[int] = [0]

        def recording_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            status_box[0] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.moto_app(environ, recording_start_response)
        if service:
            self.requests.add(service, action, region, status_box[0])
        return result

    def _audit(self, environ: dict[str, Any], service: str, action: str, region: str) -> None:
        entry: dict[str, Any] = {"service": service, "action": action, "region": region}
        try:  # the audit never changes what the emulator answers; a failure is recorded for the replay to report
            entry["params"] = params = request_params(environ, service)
            if service == "sagemaker" and action.startswith(("Delete", "Stop", "Update")):
                entry["resource_tags"] = _sagemaker_tags(action, region, params)
                if action == "UpdateEndpoint":  # authorized on the new endpoint config too, with its own tags
                    entry["config_tags"] = _sagemaker_tags("UpdateEndpointConfig", region, params)
        except Exception as err:
            entry["audit_error"] = repr(err)
        self.requests.audit(entry)

    # -- control API ---------------------------------------------------------------------------------------
    def _control(self, environ: dict[str, Any], start_response: StartResponse, route: str) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            payload = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
            if not isinstance(payload, dict):
                raise ValueError("the control API takes a JSON object")
            status, body = self._route(method, route, payload)
        except (ValueError, TypeError, KeyError) as err:
            status, body = 400, {"error": str(err)}
        data = json.dumps(body, default=str).encode()
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    def _route(self, method: str, route: str, payload: dict[str, Any]) -> tuple[int, Any]:
        if route == "health":
            return 200, {"status": "ok"}
        if route == "settings":
            return 200, SETTINGS.update(payload) if method == "POST" else SETTINGS.as_dict()
        if route == "faults/training" and method == "POST":
            current = SETTINGS.snapshot().fail_next_training_jobs
            reason = payload.get("reason") or "AlgorithmError: injected failure (emulator fault injection)"
            return 200, SETTINGS.update({"fail_next_training_jobs": current + [reason]})
        if route == "faults/spot" and method == "POST":
            return 200, SETTINGS.update(
                {
                    "spot_interruptions": int(payload.get("interruptions", 1)),
                    "spot_capacity_wait_seconds": float(payload.get("capacity_wait_seconds", 0.0)),
                }
            )
        if route == "faults/endpoint" and method == "POST":
            current = SETTINGS.snapshot().fail_next_endpoints
            reason = (
                payload.get("reason")
                or "The primary container for production variant AllTraffic did not "
                "pass the ping health check (emulator fault injection)."
            )
            return 200, SETTINGS.update({"fail_next_endpoints": current + [reason]})
        if route == "faults/transform" and method == "POST":
            current = SETTINGS.snapshot().fail_next_transform_jobs
            reason = payload.get("reason") or "AlgorithmError: injected failure (emulator fault injection)"
            return 200, SETTINGS.update({"fail_next_transform_jobs": current + [reason]})
        if route == "faults/alarm" and method == "POST":
            current = SETTINGS.snapshot().alarm_during_next_bakes
            return 200, SETTINGS.update({"alarm_during_next_bakes": current + [str(payload.get("alarm_name") or "")]})
        if route == "faults/system-updating" and method == "POST":
            return 200, _sagemaker(payload).begin_system_update(
                str(payload["endpoint"]), float(payload.get("seconds", 5.0))
            )
        if route == "faults/endpoint-behaviour" and method == "POST":
            return 200, _sagemaker(payload).set_config_behaviour(
                str(payload["endpoint_config"]),
                latency_ms=float(payload.get("latency_ms", 0.0)),
                error_rate=float(payload.get("error_rate", 0.0)),
            )
        if route == "metrics" and method == "POST":
            return 200, _publish_service_metrics(payload)
        if route == "faults/api" and method == "POST":
            error = payload.get("error", "ThrottlingException")
            if error not in API_FAULTS:
                raise ValueError(f"error must be one of {sorted(API_FAULTS)}")
            fault: dict[str, Any] = {"error": error}
            if payload.get("seconds") is not None:
                fault["until"] = time.time() + float(payload["seconds"])
            else:
                fault["count"] = int(payload.get("count", 1))
            return 200, SETTINGS.update({"api_faults": {str(payload["operation"]): fault}})
        if route == "requests":
            if method == "DELETE":
                self.requests.clear()
            return 200, self.requests.items()
        if route == "reset" and method == "POST":
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()
            SETTINGS.reset()
            self.requests.clear()
            return 200, {"status": "reset"}
        return 404, {"error": f"no control route {method} /_emulator/{route}"}


def _publish_service_metrics(payload: dict[str, Any]) -> dict[str, Any]:
    """Data points as an AWS service publishes them (e.g. SageMaker's training metrics of a job 20 days old):
    straight into the CloudWatch backend, past PutMetricData's checks, which bind callers, not services."""
    from datetime import datetime

    from moto.cloudwatch import models
    from moto.core import DEFAULT_ACCOUNT_ID

    data = [{**datum, "Timestamp": datetime.fromisoformat(str(datum["Timestamp"]))} for datum in payload["metric_data"]]
    backend = models.cloudwatch_backends[DEFAULT_ACCOUNT_ID][payload.get("region", "us-east-1")]
    backend.put_metric_data(str(payload["namespace"]), data)
    return {"published": len(data)}


def _sagemaker(payload: dict[str, Any]) -> Any:
    """The SageMaker backend of the payload's ``region`` (default us-east-1) in moto's default account."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[str(payload.get("account_id") or DEFAULT_ACCOUNT_ID)][
        str(payload.get("region") or "us-east-1")
    ]


_NAME_FIELDS = {
    "TrainingJob": ("training-job", "TrainingJobName"),
    "HyperParameterTuningJob": ("hyper-parameter-tuning-job", "HyperParameterTuningJobName"),
    "TransformJob": ("transform-job", "TransformJobName"),
    "EndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "Endpoint": ("endpoint", "EndpointName"),
    "Model": ("model", "ModelName"),
}


def _sagemaker_tags(action: str, region: str, params: dict[str, Any]) -> dict[str, str] | None:
    """The tags IAM's ``aws:ResourceTag/...`` would see on the resource a Delete/Stop/Update names (None: no such
    resource, as AWS sees it: no tags at all)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sagemaker.models import sagemaker_backends

    for suffix, (kind, field) in _NAME_FIELDS.items():
        if action.endswith(suffix) and params.get(field):
            arn = f"arn:aws:sagemaker:{region}:{DEFAULT_ACCOUNT_ID}:{kind}/{params[field]}"
            try:
                tags = sagemaker_backends[DEFAULT_ACCOUNT_ID][region]._get_resource_from_arn(arn).tags
            except Exception:  # any lookup failure means "no such resource" here
                return None
            return _tag_dict(tags)
    return None


def _tag_dict(tags: Any) -> dict[str, str]:
    """moto keeps tags as [{"Key", "Value"}], the emulator's own resources sometimes as a dict or (key, value) pairs."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    out: dict[str, str] = {}
    for tag in tags or []:
        key, value = (tag["Key"], tag["Value"]) if isinstance(tag, dict) else tag
        out[str(key)] = str(value)
    return out


def _remembering(dispatcher: type) -> type:
    """moto's dispatcher matches each request's host against every backend's URL patterns, holding one lock for all
    requests: the emulator's largest CPU cost per request. The answer for a host never changes, so it is kept."""

    class RememberingDispatcher(dispatcher):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._backend_by_host: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self._backend_by_host:
                self._backend_by_host[host] = super().get_backend_for_host(host)
            return self._backend_by_host[host]

    return RememberingDispatcher


class EmulatorServer:
    """Runs the emulator on host:port (port 0 picks a free one) in a background thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.app: EmulatorApp | None = None

    def start(self) -> str:
        install()
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        self.app = EmulatorApp(_remembering(DomainDispatcherApplication)(create_backend_app))
        self._server = make_server(self.host, self.port, self.app, threaded=True, request_handler=MotoRequestHandler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-emulator", daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
