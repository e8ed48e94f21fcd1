"""The baseline a training DAG registers is the one the production drift monitor reads (issue 22, parts 1 and 2).

The evaluation writes ``sagemaker_mlops.baseline/1`` (evaluation/baseline.py) beside the model and names it in the
package's ``CustomerMetadataProperties["baseline_uri"]``; ``mnist_production_monitor`` validates it with its own
reader (monitoring may not import evaluation) and compares captured traffic with its class mix, mean top-1
confidence and image statistics. These tests hold the two sides to one contract: what the evaluation writes, the
monitor accepts; traffic like the holdout shows no drift, even in the image statistics each side computes its own
way; and a field either side refuses, both refuse. The end-to-end proof (a package pipeline 1 registered, loaded by
the monitor's own ``load_baseline``) is in tests/test_pipeline1.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.evaluation import baseline as bl
from sagemaker_mlops.evaluation import holdout as ho
from sagemaker_mlops.evaluation import scoring
from sagemaker_mlops.evaluation.tasks import make_baseline
from sagemaker_mlops.monitoring import drift


def _holdout(batch1: Path) -> tuple[dict[str, Any], list[ho.HoldoutImage]]:
    data = batch1.read_bytes()
    pinned = ho.PinnedHoldout("s3://admin-bucket/holdout/batch1.zip", hashlib.sha256(data).hexdigest())
    images = ho.read_images(data, pinned)
    info = {
        "uri": pinned.uri,
        "sha256": pinned.sha256,
        "images": len(images),
        "input": dict(ho.input_statistics([image.data for image in images])),
    }
    return info, images


def _answers(images: list[ho.HoldoutImage]) -> list[list[float]]:
    """A model that is right on 9 of 10 images, 0.8 sure of its top class."""
    out = []
    for i, image in enumerate(images):
        guess = image.label if i % 10 else (image.label + 1) % 10
        out.append([0.8 if c == guess else 0.2 / 9 for c in range(10)])
    return out


def _registered_baseline(batch1: Path) -> tuple[dict[str, Any], list[ho.HoldoutImage], list[list[float]]]:
    holdout, images = _holdout(batch1)
    answers = _answers(images)
    scores = scoring.score([image.label for image in images], answers, 10)
    made = make_baseline(holdout, scores, "mlops-train-x", "s3://b/mlops-train-x/output/model.tar.gz")
    return bl.Baseline.from_json(made.to_json()).to_dict(), images, answers  # as stored in S3 and read back


def test_what_the_evaluation_writes_the_monitor_accepts_and_traffic_like_the_holdout_is_no_drift(batch1: Path) -> None:
    stored, images, answers = _registered_baseline(batch1)
    monitored = drift.validate_baseline(stored)
    assert monitored["schema"] == drift.BASELINE_SCHEMA == bl.SCHEMA
    # production sends the holdout's own images and gets the same answers: every figure sits on the baseline
    summary = drift.summarise(
        drift.Record(image.data, probabilities) for image, probabilities in zip(images, answers, strict=True)
    )
    result = drift.evaluate(monitored, summary, drift.Thresholds())
    assert result["drift"] is False, result["reasons"]
    assert result["figures"]["class_mix_js"] == pytest.approx(0.0, abs=1e-9)
    assert result["figures"]["mean_top1_confidence"] == pytest.approx(monitored["mean_top1_confidence"])
    # the monitor's image statistics (PIL, greyscale) and the evaluation's (its own PNG reader) agree on the digits
    assert summary["input"]["mean_intensity"] == pytest.approx(monitored["input"]["mean_intensity"], abs=0.5)
    assert summary["input"]["mean_width"] == monitored["input"]["mean_width"] == 28.0
    assert summary["input"]["unreadable_fraction"] == monitored["input"]["unreadable_fraction"] == 0.0
    # and traffic that all lands on one class is drift against it
    skewed = drift.summarise(drift.Record(images[0].data, answers[0]) for _ in images)
    assert drift.evaluate(monitored, skewed, drift.Thresholds())["drift"] is True


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("schema", "sagemaker_mlops.baseline/2"),
        ("class_mix", {}),
        ("mean_top1_confidence", 1.5),
        ("input.mean_intensity", "bright"),
        ("holdout", {"uri": "s3://b/k.zip"}),
    ],
)
def test_a_baseline_either_side_refuses_both_refuse(batch1: Path, path: str, value: Any) -> None:
    stored, _, _ = _registered_baseline(batch1)
    broken: dict[str, Any] = {**stored, "input": dict(stored["input"])}
    head, _, tail = path.partition(".")
    if tail:
        broken[head][tail] = value
    else:
        broken[head] = value
    with pytest.raises(bl.BaselineError):
        bl.validate(broken)
    with pytest.raises(drift.BaselineError):
        drift.validate_baseline(broken)


def test_the_monitor_requires_exactly_the_contract_s_fields(batch1: Path) -> None:
    stored, _, _ = _registered_baseline(batch1)
    assert set(stored) == set(bl.SPEC)
    for field in sorted(set(bl.SPEC) - {"schema"}):
        missing = {k: v for k, v in stored.items() if k != field}
        with pytest.raises(drift.BaselineError, match=field):
            drift.validate_baseline(missing)
