"""A record of every AWS API call the emulator answered: tests assert on it ("no Create call was made"), and
the IAM policy checks derive the actions the DAGs really call from it.

Besides that log (which tests clear), an *audit* of the calls Airflow made (the provider's hooks sign them with
``Airflow/<version>`` in the User-Agent): each with its request parameters and, for a change to an existing SageMaker
resource, the tags that resource had. Tests never clear it; tests/iam_replay.py drains it after every test and checks
each call against the IAM policy, so every path a test walks is an IAM test too.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qs

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


def service_and_region(environ: dict[str, Any]) -> tuple[str, str]:
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (match.group(2), match.group(1)) if match else ("", "")


# Bucket sub-resources (?publicAccessBlock, ?encryption, ...) name the operation, as in S3's own API.
_BUCKET_SUBRESOURCES = {
    "publicAccessBlock": "PublicAccessBlock",
    "encryption": "BucketEncryption",
    "versioning": "BucketVersioning",
    "tagging": "BucketTagging",
    "policy": "BucketPolicy",
    "location": "BucketLocation",
    "acl": "BucketAcl",
    "lifecycle": "BucketLifecycleConfiguration",
}


def _s3_action(method: str, path: str, query: str) -> str:
    parts = [p for p in path.split("/") if p]
    keys = {pair.split("=", 1)[0] for pair in query.split("&") if pair}
    if len(parts) <= 1:  # bucket level
        for key, name in _BUCKET_SUBRESOURCES.items():
            if key in keys:
                return {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method) + name
        if method == "GET":
            return "ListObjectsV2" if "list-type=2" in query else ("ListBuckets" if not parts else "ListObjects")
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket", "POST": "DeleteObjects"}.get(
            method, method
        )
    if "uploadId" in query or "uploads" in query:
        return "MultipartUpload"
    return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method)


def action_of(environ: dict[str, Any], service: str) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    if service == "s3":
        return _s3_action(method, path, query)
    if path.endswith("/invocations"):
        return "InvokeEndpoint"
    if "Action=" in query:
        return parse_qs(query).get("Action", [""])[0]
    if method == "POST" and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # hand the body on untouched
        return parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    return f"{method} {path}"


def is_airflow_call(environ: dict[str, Any]) -> bool:
    """The provider's AWS hooks put ``Airflow/<version>`` in the User-Agent; a test's own boto3 clients do not."""
    return "Airflow/" in environ.get("HTTP_USER_AGENT", "")


def request_params(environ: dict[str, Any], service: str) -> dict[str, Any]:
    """The call's parameters as IAM sees them: a JSON body, a query/form body, or S3's bucket and key."""
    path = environ.get("PATH_INFO", "")
    if service == "s3":
        bucket, _, key = path.lstrip("/").partition("/")
        return {"Bucket": bucket, "Key": key}
    if path.endswith("/invocations"):  # SageMaker Runtime: /endpoints/<name>/invocations
        return {"EndpointName": path.split("/")[-2]}
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length or length > 1_000_000:
        return dict(parse_qs(environ.get("QUERY_STRING", "")))
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)  # hand the body on untouched
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class RequestLog:
    def __init__(self, maxlen: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._items: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._audit: deque[dict[str, Any]] = deque(maxlen=maxlen)

    def audit(self, entry: dict[str, Any]) -> None:
        """Keep one Airflow call (service, action, region, params, resource_tags) until drained."""
        with self._lock:
            self._audit.append(entry)

    def drain_audit(self) -> list[dict[str, Any]]:
        """The Airflow calls audited since the last drain; reset and clear() leave them alone."""
        with self._lock:
            items = list(self._audit)
            self._audit.clear()
            return items

    def add(self, service: str, action: str, region: str, status: int) -> None:
        with self._lock:
            self._items.append(
                {"time": time.time(), "service": service, "action": action, "region": region, "status": status}
            )

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
