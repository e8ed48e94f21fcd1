"""Scores from a batch transform's output: what the model predicted for each holdout image, against its label.

The image-classification algorithm's transform output for one image object is its class-probability list as JSON
(``[p0, ..., p9]``; ``{"prediction": [...]}`` with ``Accept: application/jsonlines``). Stdlib only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


class OutputError(ValueError):
    """A transform output that is not a probability list."""


def parse_output(data: bytes | str, where: str = "") -> list[float]:
    """One image's class probabilities from its ``.out`` object."""
    try:
        value = json.loads(data)
    except ValueError as error:
        raise OutputError(f"{where}: not JSON ({error})") from None
    if isinstance(value, dict):
        value = value.get("prediction")
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not isinstance(value, list) or not value or not all(isinstance(p, (int, float)) for p in value):
        raise OutputError(f"{where}: expected a list of class probabilities, got {str(value)[:80]}")
    return [float(p) for p in value]


def top1(probabilities: Sequence[float]) -> int:
    """The predicted class: the highest probability (the first on a tie, as argmax)."""
    return max(range(len(probabilities)), key=lambda i: (probabilities[i], -i))


def score(labels: Sequence[int], probabilities: Sequence[Sequence[float]], num_classes: int) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/support, the confusion matrix (rows true, columns predicted), the mean
    top-1 confidence and the class mix of the predictions, over images in the same order as ``labels``."""
    if len(labels) != len(probabilities) or not labels:
        raise ValueError(f"{len(labels)} labels for {len(probabilities)} predictions: they must match and be > 0")
    confusion = [[0] * num_classes for _ in range(num_classes)]
    confidence = 0.0
    predicted: list[int] = []
    for label, probs in zip(labels, probabilities, strict=True):
        guess = top1(probs)
        if not 0 <= label < num_classes or guess >= num_classes:
            raise ValueError(f"label {label} or prediction {guess} outside 0..{num_classes - 1}")
        confusion[label][guess] += 1
        confidence += probs[guess]
        predicted.append(guess)
    total = len(labels)
    per_class = {}
    for c in range(num_classes):
        true_positive = confusion[c][c]
        column = sum(confusion[r][c] for r in range(num_classes))
        support = sum(confusion[c])
        per_class[str(c)] = {
            "precision": true_positive / column if column else 0.0,
            "recall": true_positive / support if support else 0.0,
            "support": support,
        }
    return {
        "accuracy": sum(confusion[c][c] for c in range(num_classes)) / total,
        "per_class": per_class,
        "confusion": confusion,
        "mean_top1_confidence": confidence / total,
        "class_mix": {str(c): predicted.count(c) / total for c in range(num_classes)},
        "images": total,
        "predictions": predicted,
    }


def compare(challenger: Mapping[str, Any], champion: Mapping[str, Any], margin: float) -> tuple[bool, str]:
    """Champion/challenger on the same holdout: promote when the challenger's accuracy is at least the
    champion's plus ``margin``. Both evaluations must name the same holdout digest, else nothing is promoted."""
    if challenger["holdout"]["sha256"] != champion["holdout"]["sha256"]:
        return False, (
            f"challenger scored on holdout {challenger['holdout']['sha256'][:12]}, champion on "
            f"{champion['holdout']['sha256'][:12]}: not the same data, no promotion"
        )
    new, old = challenger["accuracy"], champion["accuracy"]
    promote = new >= old + margin
    return promote, (
        f"new model {new:.3f} vs champion {old:.3f} on the pinned holdout ({challenger['holdout']['images']} images, "
        f"sha256 {challenger['holdout']['sha256'][:12]}); promotion needs >= champion + {margin:g}: "
        f"{'promoted' if promote else 'kept the champion'}"
    )
