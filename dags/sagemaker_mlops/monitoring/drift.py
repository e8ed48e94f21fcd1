"""Drift of the production endpoint against the Approved package's baseline: pure statistics, no AWS, no Airflow.

Why Jensen–Shannon for the class mix (and PSI only reported beside it): JS divergence (base 2) is symmetric,
bounded in [0, 1] and defined when a class is absent on one side, so one threshold means the same thing for any
number of classes and any sample; PSI needs an epsilon for empty classes, and its value then depends on that
epsilon (a class the model stopped predicting adds ~ p·ln(p/ε)), so it is shown for readers who know its rules of
thumb (0.1 / 0.25) but never decides.

The baseline's contract is ``sagemaker_mlops.baseline/1`` (written by the offline evaluation); it is validated here,
field by field, so a baseline from elsewhere fails naming the field instead of producing nonsense figures.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

BASELINE_SCHEMA = "sagemaker_mlops.baseline/1"
EPSILON = 1e-4  # PSI's floor for a class absent on one side

# figure -> (CloudWatch metric name, unit): every figure a run publishes, alarmed one by one
FIGURES: dict[str, tuple[str, str]] = {
    "class_mix_js": ("ClassMixJensenShannon", "None"),
    "class_mix_psi": ("ClassMixPSI", "None"),
    "mean_top1_confidence": ("MeanTop1Confidence", "None"),
    "mean_intensity": ("MeanIntensity", "None"),
    "unreadable_fraction": ("UnreadableFraction", "None"),
    "error_rate": ("ErrorRate", "None"),
    "invocations": ("Invocations", "Count"),
    "records": ("CapturedRecords", "Count"),
}


class BaselineError(ValueError):
    """The baseline JSON does not follow ``sagemaker_mlops.baseline/1``; the message names the field."""


def _number(value: Any, field: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BaselineError(f"baseline.{field}: {value!r} is not a number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise BaselineError(f"baseline.{field}: {value!r} is outside [{low}, {high}]")
    return float(value)


def validate_baseline(baseline: Any) -> dict[str, Any]:
    """The baseline as given, once every field the monitor reads (and the contract's others) checks out."""
    if not isinstance(baseline, Mapping):
        raise BaselineError("baseline: not a JSON object")
    if baseline.get("schema") != BASELINE_SCHEMA:
        raise BaselineError(f"baseline.schema: {baseline.get('schema')!r}, expected {BASELINE_SCHEMA!r}")
    missing = [
        key
        for key in (
            "holdout",
            "training_job",
            "model_data_url",
            "accuracy",
            "per_class",
            "confusion",
            "class_mix",
            "mean_top1_confidence",
            "input",
            "created_at",
        )
        if key not in baseline
    ]
    if missing:
        raise BaselineError(f"baseline: missing {', '.join(missing)}")
    holdout = baseline["holdout"]
    if not isinstance(holdout, Mapping) or not {"uri", "sha256", "images"} <= set(holdout):
        raise BaselineError("baseline.holdout: needs uri, sha256 and images")
    for key in ("training_job", "model_data_url", "created_at"):
        if not isinstance(baseline[key], str) or not baseline[key]:
            raise BaselineError(f"baseline.{key}: not a non-empty string")
    _number(baseline["accuracy"], "accuracy", 0, 1)
    _number(baseline["mean_top1_confidence"], "mean_top1_confidence", 0, 1)
    mix = baseline["class_mix"]
    if not isinstance(mix, Mapping) or not mix:
        raise BaselineError("baseline.class_mix: not a non-empty object of label -> share")
    for label, share in mix.items():
        _number(share, f"class_mix.{label}", 0, 1)
    if abs(sum(mix.values()) - 1.0) > 0.01:
        raise BaselineError(f"baseline.class_mix: shares sum to {sum(mix.values()):.4f}, not 1")
    if not isinstance(baseline["per_class"], Mapping):
        raise BaselineError("baseline.per_class: not an object")
    confusion = baseline["confusion"]
    if not isinstance(confusion, list) or not all(isinstance(row, list) for row in confusion):
        raise BaselineError("baseline.confusion: not a list of rows")
    inputs = baseline["input"]
    if not isinstance(inputs, Mapping):
        raise BaselineError("baseline.input: not an object")
    for key in ("mean_intensity", "mean_width", "mean_height", "unreadable_fraction"):
        _number(inputs.get(key), f"input.{key}", 0)
    return dict(baseline)


def normalise(counts: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(counts.values()))
    return {k: (v / total if total else 0.0) for k, v in counts.items()}


def js_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen–Shannon divergence, base 2, of two distributions over labels (missing label = 0): 0 same, 1 disjoint."""
    p, q = normalise(p), normalise(q)
    labels = set(p) | set(q)
    m = {k: (p.get(k, 0.0) + q.get(k, 0.0)) / 2 for k in labels}

    def kl(a: Mapping[str, float]) -> float:
        return sum(a.get(k, 0.0) * math.log2(a.get(k, 0.0) / m[k]) for k in labels if a.get(k, 0.0) > 0)

    return max(0.0, min(1.0, (kl(p) + kl(q)) / 2))


def psi(expected: Mapping[str, float], actual: Mapping[str, float], epsilon: float = EPSILON) -> float:
    """Population stability index: sum (a - e) * ln(a / e), each share floored at ``epsilon``."""
    e, a = normalise(expected), normalise(actual)
    total = 0.0
    for k in set(e) | set(a):
        ek, ak = max(e.get(k, 0.0), epsilon), max(a.get(k, 0.0), epsilon)
        total += (ak - ek) * math.log(ak / ek)
    return total


@dataclass(frozen=True)
class ImageStats:
    width: int
    height: int
    mean_intensity: float  # 0-255, greyscale


def image_stats(body: bytes) -> ImageStats | None:
    """Size and mean greyscale intensity of an encoded image; None when it does not decode (counted unreadable)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(body)) as image:
            grey = image.convert("L")
            histogram = grey.histogram()
            pixels = sum(histogram) or 1
            mean = sum(value * count for value, count in enumerate(histogram)) / pixels
            return ImageStats(image.width, image.height, mean)
    except (UnidentifiedImageError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class Record:
    """One captured request: its input bytes (None when not captured) and the answer's class probabilities."""

    body: bytes | None
    probabilities: list[float] | None


def summarise(records: Iterable[Record]) -> dict[str, Any]:
    """Class mix of the predictions (top-1 label -> share), mean top-1 confidence, input statistics."""
    labels: Counter[str] = Counter()
    confidences: list[float] = []
    images: list[ImageStats] = []
    unreadable = inputs = count = 0
    for record in records:
        count += 1
        if record.probabilities:
            top = max(range(len(record.probabilities)), key=record.probabilities.__getitem__)
            labels[str(top)] += 1
            confidences.append(float(record.probabilities[top]))
        if record.body is not None:
            inputs += 1
            stats = image_stats(record.body)
            if stats is None:
                unreadable += 1
            else:
                images.append(stats)

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    return {
        "records": count,
        "class_counts": dict(sorted(labels.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else kv[0])),
        "class_mix": normalise(labels),
        "mean_top1_confidence": mean(confidences),
        "input": {
            "mean_intensity": mean([s.mean_intensity for s in images]),
            "mean_width": mean([float(s.width) for s in images]),
            "mean_height": mean([float(s.height) for s in images]),
            "unreadable_fraction": (unreadable / inputs) if inputs else None,
        },
    }


@dataclass(frozen=True)
class Thresholds:
    """When a figure counts as drift (Variables; defaults in docs/configuration.md)."""

    class_mix_js: float = 0.1
    confidence_drop: float = 0.1
    intensity_shift: float = 25.0
    unreadable_fraction: float = 0.05
    error_rate: float = 0.05


def evaluate(
    baseline: Mapping[str, Any],
    summary: Mapping[str, Any],
    thresholds: Thresholds,
    invocations: float | None = None,
    errors: float | None = None,
) -> dict[str, Any]:
    """Figures against the baseline and the reasons (one sentence per figure past its threshold)."""
    figures: dict[str, float] = {
        "class_mix_js": js_divergence(baseline["class_mix"], summary["class_mix"]),
        "class_mix_psi": psi(baseline["class_mix"], summary["class_mix"]),
        "records": float(summary["records"]),
    }
    if summary["mean_top1_confidence"] is not None:
        figures["mean_top1_confidence"] = summary["mean_top1_confidence"]
    for key in ("mean_intensity", "unreadable_fraction"):
        if summary["input"][key] is not None:
            figures[key] = summary["input"][key]
    if invocations is not None:
        figures["invocations"] = float(invocations)
        if invocations > 0 and errors is not None:
            figures["error_rate"] = float(errors) / float(invocations)
    reasons = []
    if figures["class_mix_js"] > thresholds.class_mix_js:
        reasons.append(
            f"class mix: Jensen-Shannon {figures['class_mix_js']:.3f} > {thresholds.class_mix_js} "
            f"(PSI {figures['class_mix_psi']:.3f})"
        )
    base_conf = float(baseline["mean_top1_confidence"])
    if "mean_top1_confidence" in figures and base_conf - figures["mean_top1_confidence"] > thresholds.confidence_drop:
        reasons.append(
            f"mean top-1 confidence {figures['mean_top1_confidence']:.3f} is more than "
            f"{thresholds.confidence_drop} below the baseline's {base_conf:.3f}"
        )
    base_intensity = float(baseline["input"]["mean_intensity"])
    if "mean_intensity" in figures and abs(figures["mean_intensity"] - base_intensity) > thresholds.intensity_shift:
        reasons.append(
            f"mean intensity {figures['mean_intensity']:.1f} is more than {thresholds.intensity_shift} "
            f"from the baseline's {base_intensity:.1f}"
        )
    if figures.get("unreadable_fraction", 0.0) > thresholds.unreadable_fraction:
        reasons.append(f"unreadable inputs {figures['unreadable_fraction']:.1%} > {thresholds.unreadable_fraction:.0%}")
    if figures.get("error_rate", 0.0) > thresholds.error_rate:
        reasons.append(f"error rate {figures['error_rate']:.1%} > {thresholds.error_rate:.0%}")
    return {"figures": figures, "reasons": reasons, "drift": bool(reasons)}


def alarm_thresholds(baseline: Mapping[str, Any], thresholds: Thresholds) -> dict[str, tuple[str, float]]:
    """figure -> (ComparisonOperator, Threshold) for the CloudWatch alarm of each figure that has a limit."""
    conf = float(baseline["mean_top1_confidence"]) - thresholds.confidence_drop
    return {
        "class_mix_js": ("GreaterThanThreshold", thresholds.class_mix_js),
        "mean_top1_confidence": ("LessThanThreshold", max(conf, 0.0)),
        "unreadable_fraction": ("GreaterThanThreshold", thresholds.unreadable_fraction),
        "error_rate": ("GreaterThanThreshold", thresholds.error_rate),
    }
