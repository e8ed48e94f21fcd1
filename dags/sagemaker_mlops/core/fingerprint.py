"""The fingerprint of a training request, kept as a tag on the job, so a re-run under the same run id re-attaches
only to a job started from the same inputs (dataset, hyperparameters, instances …), never silently adopts stale
work. The job name and the tags are left out: an attempt's name and the expiry tag change, the work does not."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sagemaker_mlops.core.validation import ParamError

REQUEST_TAG = "mlops:request-sha256"
DATASET_TAG = "mlops:dataset-sha256"
VOLATILE = ("TrainingJobName", "Tags")


def request_sha256(request: dict[str, Any], dataset_sha256: str) -> str:
    """sha256 of the request (minus :data:`VOLATILE`) and the dataset zip's digest, canonical JSON."""
    stable = {k: v for k, v in request.items() if k not in VOLATILE}
    text = json.dumps({"request": stable, "dataset_sha256": dataset_sha256}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def tagged(request: dict[str, Any], dataset_sha256: str) -> dict[str, Any]:
    """The request with both fingerprint tags (replacing earlier ones)."""
    ours = {REQUEST_TAG: request_sha256(request, dataset_sha256), DATASET_TAG: dataset_sha256}
    tags = [t for t in request.get("Tags", []) if t["Key"] not in ours]
    return {**request, "Tags": tags + [{"Key": k, "Value": v} for k, v in ours.items()]}


def _differences(wanted: Any, actual: Any, path: str) -> list[str]:
    """Dotted paths where ``wanted`` is not contained in ``actual`` (Describe adds defaults, so a subset match)."""
    if isinstance(wanted, dict) and isinstance(actual, dict):
        return [d for key, value in wanted.items() for d in _differences(value, actual.get(key), f"{path}.{key}")]
    if isinstance(wanted, list) and isinstance(actual, list) and len(wanted) == len(actual):
        return [
            d for i, (w, a) in enumerate(zip(wanted, actual, strict=True)) for d in _differences(w, a, f"{path}[{i}]")
        ]
    return [] if wanted == actual else [path.lstrip(".")]


def changed_fields(request: dict[str, Any], job: dict[str, Any]) -> list[str]:
    stable = {k: v for k, v in request.items() if k not in VOLATILE}
    return _differences(stable, job, "")


def check_same_request(sagemaker: Any, job: dict[str, Any], request: dict[str, Any]) -> None:
    """Raises ParamError when ``job`` (this run's, found by name) was started from another request. A job without
    the tag (started before fingerprints existed) is accepted."""
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]}
    wanted = {t["Key"]: t["Value"] for t in request.get("Tags", [])}
    if REQUEST_TAG not in tags or tags[REQUEST_TAG] == wanted.get(REQUEST_TAG):
        return
    changes = changed_fields(request, job)
    if tags.get(DATASET_TAG) != wanted.get(DATASET_TAG):
        changes.append(f"the dataset (zip sha256 {tags.get(DATASET_TAG)} -> {wanted.get(DATASET_TAG)})")
    raise ParamError(
        "run id",
        f"this run's training job {job['TrainingJobName']} was started from a different request "
        f"(changed: {', '.join(changes) or 'the request'}); re-attaching would adopt stale work",
        "trigger a new run (a new run id) for the new inputs; clear this run only to repeat the same inputs",
    )
