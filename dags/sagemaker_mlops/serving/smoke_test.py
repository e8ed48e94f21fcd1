"""Smoke test of a deployed endpoint: the book's predictions on test/, plus accuracy and latency on a labeled sample.

The book prints the predicted class of every test PNG as ZERO…NINE; a pipeline also needs a number it can fail on,
so a labeled sample from validation/ (listed in validation_lst/) is scored against ``min_accuracy``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

CLASS_NAMES = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
CONTENT_TYPE = "application/x-image"


def class_name(index: int) -> str:
    return CLASS_NAMES[index] if 0 <= index < len(CLASS_NAMES) else str(index)


def argmax(probabilities: list[float]) -> int:
    return max(range(len(probabilities)), key=probabilities.__getitem__)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no numpy in DAG code)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def parse_lst(text: str) -> list[tuple[int, str]]:
    """(label, relative path) per ``index<TAB>label<TAB>path`` line."""
    rows = []
    for line in text.splitlines():
        if line.strip():
            _, label, path = line.split("\t")
            rows.append((int(float(label)), path.strip()))
    return rows


def sample_evenly(rows: list[Any], size: int) -> list[Any]:
    """A deterministic spread over the list (every k-th row), so every class tends to be represented."""
    if size >= len(rows):
        return list(rows)
    step = len(rows) / size
    return [rows[int(i * step)] for i in range(size)]


Invoke = Callable[..., list[float]]  # invoke(body, variant=None) -> class probabilities


def run(
    invoke: Invoke,
    read: Callable[[str], bytes],
    list_keys: Callable[[str], list[str]],
    *,
    prefix: str,
    sample_size: int,
    min_accuracy: float,
    other_variants: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Invoke every test/ image and a labeled validation sample; returns predictions, accuracy and latency.

    ``other_variants`` are scored on the very same labeled sample (TargetVariant), e.g. a base model to compare.
    """
    latencies: list[float] = []

    def timed(body: bytes) -> int:
        started = time.perf_counter()
        probabilities = invoke(body)
        latencies.append((time.perf_counter() - started) * 1000.0)
        return argmax(probabilities)

    predictions = {}
    for key in sorted(k for k in list_keys(f"{prefix}/test/") if not k.endswith("/")):
        predictions[key.rsplit("/", 1)[-1]] = class_name(timed(read(key)))

    lst_keys = [k for k in list_keys(f"{prefix}/validation_lst/") if k.endswith(".lst")]
    rows = [row for key in sorted(lst_keys) for row in parse_lst(read(key).decode())]
    sample = sample_evenly(rows, sample_size)
    images = [(label, read(f"{prefix}/validation/{path}")) for label, path in sample]
    correct = sum(timed(body) == label for label, body in images)
    accuracy = correct / len(sample) if sample else 0.0
    variants = {}
    for variant in other_variants:
        hits = sum(argmax(invoke(body, variant)) == label for label, body in images)
        variants[variant] = {"correct": hits, "accuracy": round(hits / len(images), 4) if images else 0.0}
    return {
        "other_variants": variants,
        "test_predictions": predictions,
        "sample_size": len(sample),
        "correct": correct,
        "accuracy": round(accuracy, 4),
        "min_accuracy": min_accuracy,
        "passed": bool(sample) and accuracy >= min_accuracy,
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 2),
            "p95": round(percentile(latencies, 95), 2),
            "invocations": len(latencies),
        },
    }


def endpoint_invoker(runtime: Any, endpoint_name: str) -> Invoke:
    def invoke(body: bytes, variant: str | None = None) -> list[float]:
        target = {"TargetVariant": variant} if variant else {}
        response = runtime.invoke_endpoint(EndpointName=endpoint_name, ContentType=CONTENT_TYPE, Body=body, **target)
        return json.loads(response["Body"].read())

    return invoke
