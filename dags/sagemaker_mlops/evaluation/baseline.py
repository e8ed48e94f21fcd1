"""The baseline contract: what a model scored on the pinned holdout, stored as JSON beside its model package.

Written by the evaluation (one per package, its URI in the package's ``CustomerMetadataProperties["baseline_uri"]``),
read by the production monitor, which compares captured traffic against it. Pure stdlib, so both sides (and the
tests) share one definition; ``validate`` names the first field that breaks the schema, so a hand-edited or
truncated object fails loudly instead of producing a drift score against garbage.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA = "sagemaker_mlops.baseline/1"
METADATA_KEY = "baseline_uri"  # the package's CustomerMetadataProperties key that holds the object's S3 URI
CONTENT_TYPE = "application/json"


class BaselineError(ValueError):
    """The JSON does not match the baseline schema; the message names the field."""


@dataclass(frozen=True)
class Holdout:
    """The pinned holdout the scores come from: its S3 URI, its SHA-256 and how many images were scored."""

    uri: str
    sha256: str
    images: int


@dataclass(frozen=True)
class ClassScore:
    precision: float
    recall: float
    support: int


@dataclass(frozen=True)
class InputStats:
    """Image statistics of the holdout, so the monitor can compare captured requests' images against them."""

    mean_intensity: float
    mean_width: float
    mean_height: float
    unreadable_fraction: float


@dataclass(frozen=True)
class Baseline:
    holdout: Holdout
    training_job: str
    model_data_url: str
    accuracy: float
    per_class: dict[str, ClassScore]
    confusion: list[list[int]]
    class_mix: dict[str, float]
    mean_top1_confidence: float
    input: InputStats
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    schema: str = SCHEMA

    @property
    def labels(self) -> list[str]:
        """The class labels in the order of ``confusion``'s rows (true) and columns (predicted)."""
        return label_order(self.per_class)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"schema": data.pop("schema"), **data}

    def to_json(self) -> str:
        """The object as stored in S3 (sorted keys, so equal baselines are byte-equal)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)

    @classmethod
    def from_dict(cls, data: Any) -> Baseline:
        validate(data)
        return cls(
            schema=data["schema"],
            holdout=Holdout(**data["holdout"]),
            training_job=data["training_job"],
            model_data_url=data["model_data_url"],
            accuracy=float(data["accuracy"]),
            per_class={label: ClassScore(**score) for label, score in data["per_class"].items()},
            confusion=[list(row) for row in data["confusion"]],
            class_mix={label: float(share) for label, share in data["class_mix"].items()},
            mean_top1_confidence=float(data["mean_top1_confidence"]),
            input=InputStats(**data["input"]),
            created_at=data["created_at"],
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Baseline:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise BaselineError(f"baseline is not JSON: {error}") from error
        return cls.from_dict(data)


def label_order(labels: Any) -> list[str]:
    """Labels sorted as numbers when they all are ("2" before "10"), else as text: the confusion matrix's order."""
    names = list(labels)
    return sorted(names, key=int) if all(name.isdigit() for name in names) else sorted(names)


# A JSON-schema-like description: field -> type (or nested spec); checked by validate().
_NUMBER = "number"
_FRACTION = "fraction"  # a number in [0, 1]
SPEC: dict[str, Any] = {
    "schema": str,
    "holdout": {"uri": str, "sha256": str, "images": int},
    "training_job": str,
    "model_data_url": str,
    "accuracy": _FRACTION,
    "per_class": ("map", {"precision": _FRACTION, "recall": _FRACTION, "support": int}),
    "confusion": ("matrix", int),
    "class_mix": ("map", _FRACTION),
    "mean_top1_confidence": _FRACTION,
    "input": {
        "mean_intensity": _NUMBER,
        "mean_width": _NUMBER,
        "mean_height": _NUMBER,
        "unreadable_fraction": _FRACTION,
    },
    "created_at": "datetime",
}


def _check(value: Any, spec: Any, path: str) -> None:
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise BaselineError(f"{path or 'baseline'}: expected an object, got {type(value).__name__}")
        missing = sorted(set(spec) - set(value))
        extra = sorted(set(value) - set(spec))
        if missing:
            raise BaselineError(f"{path + '.' if path else ''}{missing[0]}: required field missing")
        if extra:
            raise BaselineError(f"{path + '.' if path else ''}{extra[0]}: unknown field (schema {SCHEMA})")
        for key, sub in spec.items():
            _check(value[key], sub, f"{path}.{key}" if path else key)
    elif isinstance(spec, tuple) and spec[0] == "map":
        if not isinstance(value, dict) or not value:
            raise BaselineError(f"{path}: expected a non-empty object keyed by class label")
        for key, item in value.items():
            if not isinstance(key, str):
                raise BaselineError(f"{path}: keys must be class labels (strings)")
            _check(item, spec[1], f"{path}.{key}")
    elif isinstance(spec, tuple) and spec[0] == "matrix":
        if not isinstance(value, list) or not value or not all(isinstance(row, list) for row in value):
            raise BaselineError(f"{path}: expected a non-empty list of rows")
        if any(len(row) != len(value) for row in value):
            raise BaselineError(f"{path}: expected a square matrix ({len(value)} rows)")
        for i, row in enumerate(value):
            for j, cell in enumerate(row):
                _check(cell, spec[1], f"{path}[{i}][{j}]")
    elif spec is int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BaselineError(f"{path}: expected a non-negative integer, got {value!r}")
    elif spec is str:
        if not isinstance(value, str) or not value:
            raise BaselineError(f"{path}: expected a non-empty string, got {value!r}")
    elif spec in (_NUMBER, _FRACTION):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise BaselineError(f"{path}: expected a finite number, got {value!r}")
        if spec == _FRACTION and not 0.0 <= value <= 1.0:
            raise BaselineError(f"{path}: expected a number in [0, 1], got {value!r}")
    elif spec == "datetime":
        try:
            datetime.fromisoformat(value)
        except (TypeError, ValueError) as error:
            raise BaselineError(f"{path}: expected an ISO-8601 timestamp, got {value!r}") from error


def validate(data: Any) -> None:
    """Raise BaselineError naming the first field of ``data`` that breaks the schema (and a wrong schema id)."""
    if isinstance(data, dict) and data.get("schema") != SCHEMA:
        raise BaselineError(f"schema: expected {SCHEMA!r}, got {data.get('schema')!r}")
    _check(data, SPEC, "")
    labels = set(data["per_class"])
    if set(data["class_mix"]) - labels:
        raise BaselineError(f"class_mix: labels {sorted(set(data['class_mix']) - labels)} are not in per_class")
    if len(data["confusion"]) != len(labels):
        raise BaselineError(f"confusion: {len(data['confusion'])} rows for {len(labels)} classes in per_class")
    if sum(score["support"] for score in data["per_class"].values()) > data["holdout"]["images"]:
        raise BaselineError("per_class: supports add up to more than holdout.images")
