"""The baseline contract (evaluation/baseline.py): round-trip, and validation that names the broken field."""

from __future__ import annotations

import json

import pytest

from sagemaker_mlops.evaluation.baseline import SCHEMA, Baseline, BaselineError, ClassScore, Holdout, InputStats


def sample() -> Baseline:
    return Baseline(
        holdout=Holdout(uri="s3://b/holdout/mnist.zip", sha256="a" * 64, images=4),
        training_job="mlops-train-x",
        model_data_url="s3://b/out/model.tar.gz",
        accuracy=0.75,
        per_class={"0": ClassScore(1.0, 0.5, 2), "1": ClassScore(0.5, 1.0, 1), "10": ClassScore(1.0, 1.0, 1)},
        confusion=[[1, 1, 0], [0, 1, 0], [0, 0, 1]],
        class_mix={"0": 0.25, "1": 0.5, "10": 0.25},
        mean_top1_confidence=0.8,
        input=InputStats(mean_intensity=33.3, mean_width=28.0, mean_height=28.0, unreadable_fraction=0.0),
        created_at="2026-12-07T04:00:00+00:00",
    )


def test_round_trip_and_schema_id():
    baseline = sample()
    text = baseline.to_json()
    assert json.loads(text)["schema"] == SCHEMA
    assert Baseline.from_json(text) == baseline
    assert baseline.labels == ["0", "1", "10"]  # numeric order, the confusion matrix's


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("accuracy"), "accuracy"),
        (lambda d: d.update(accuracy=1.5), "accuracy"),
        (lambda d: d.update(schema="other/1"), "schema"),
        (lambda d: d["holdout"].update(images=-1), "holdout.images"),
        (lambda d: d["per_class"]["0"].update(recall="x"), "per_class.0.recall"),
        (lambda d: d.update(confusion=[[1, 0], [0, 1]]), "confusion"),
        (lambda d: d["class_mix"].update({"7": 0.1}), "class_mix"),
        (lambda d: d["input"].update(extra=1), "input.extra"),
        (lambda d: d.update(created_at="yesterday"), "created_at"),
        (lambda d: d.update(mean_top1_confidence=float("nan")), "mean_top1_confidence"),
    ],
)
def test_validation_names_the_field(change, field):
    data = json.loads(sample().to_json())
    change(data)
    with pytest.raises(BaselineError, match=f"^{field}"):
        Baseline.from_dict(data)


def test_not_json_is_refused():
    with pytest.raises(BaselineError, match="not JSON"):
        Baseline.from_json("{")
