"""The tuning request: what the SDK's HyperparameterTuner sends for the book's code, valid for botocore's model, and
every bad range refused (naming the field) before anything is created."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest
from test_request_builders import api_problems, assert_api_valid, part01_spec

from sagemaker_mlops import naming
from sagemaker_mlops.tuning_config import (
    MAX_TUNING_JOB_NAME_LENGTH,
    CategoricalRange,
    NumericRange,
    TuningSpec,
    TuningSpecError,
    build_tuning_request,
    tuning_job_name,
)

FIXTURE = Path(__file__).parent / "fixtures" / "sdk_requests" / "tuning_book.json"
BOOK_RANGES = (
    NumericRange("learning_rate", 0.001, 0.1, "Logarithmic"),
    NumericRange("mini_batch_size", 16, 128),
    CategoricalRange("optimizer", ("sgd", "adam", "rmsprop", "nag")),
)


def book_spec(**changes: object) -> TuningSpec:
    """The book's tuner: HyperparameterTuner(estimator, objective, ranges, max_jobs=20, max_parallel_jobs=3)."""
    spec = TuningSpec(job_name="book-tuning-job", training=part01_spec(480), ranges=BOOK_RANGES)
    return replace(spec, **changes)


def test_request_equals_the_sdk_tuner() -> None:
    sdk = json.loads(FIXTURE.read_text(encoding="utf-8"))
    ours = build_tuning_request(book_spec())
    # The SDK sends empty range lists as [] too; everything, key for key, is the same.
    assert ours == sdk
    assert_api_valid("CreateHyperParameterTuningJob", ours)


def test_tags_go_on_the_tuning_job_not_the_definition() -> None:
    tags = {"mlops:created-by": "airflow-sagemaker-mlops", "mlops:dag-id": "mnist_tuning"}
    request = build_tuning_request(book_spec(training=part01_spec(480, tags=tags)))
    assert request["Tags"] == [{"Key": k, "Value": v} for k, v in tags.items()]
    assert "Tags" not in request["TrainingJobDefinition"]
    assert_api_valid("CreateHyperParameterTuningJob", request)


def test_tuned_names_leave_the_static_hyperparameters() -> None:
    request = build_tuning_request(book_spec(ranges=(NumericRange("momentum", 0.0, 0.99, "Linear"),)))
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    assert "momentum" not in static and static["learning_rate"] == "0.01" and static["mini_batch_size"] == "100"


@pytest.mark.parametrize(
    "run_id", ["manual__2026-11-24T08:00:00+00:00", "x" * 300, "東京", "scheduled__2026-01-01T00:00:00"]
)
def test_tuning_job_name_fits_32_and_is_deterministic(run_id: str) -> None:
    name = tuning_job_name("mnist_tuning", run_id)
    assert len(name) <= MAX_TUNING_JOB_NAME_LENGTH and name.startswith("mlops-hpo-")
    assert name == tuning_job_name("mnist_tuning", run_id) != tuning_job_name("mnist_tuning", run_id + "2")
    assert naming.run_token("mnist_tuning", run_id) in name
    assert not api_problems("DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": name})


def test_botocore_itself_refuses_a_33_character_name() -> None:
    assert api_problems("DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "a" * 33})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ranges": (NumericRange("learning_rate", 0.0, 0.1, "Logarithmic"),)}, "tune_learning_rate"),
        ({"ranges": (NumericRange("learning_rate", 0.1, 0.01),)}, "tune_learning_rate"),
        ({"ranges": (NumericRange("learning_rate", 0.001, 0.9),)}, "tune_learning_rate"),
        ({"ranges": (NumericRange("mini_batch_size", 8, 1000),)}, "tune_mini_batch_size"),
        ({"ranges": (NumericRange("mini_batch_size", 8.5, 64),)}, "tune_mini_batch_size"),
        ({"ranges": (NumericRange("num_layers", 18, 50),)}, "tune_num_layers"),
        ({"ranges": (CategoricalRange("optimizer", ("sgd", "adagrad")),)}, "tune_optimizer"),
        ({"ranges": (CategoricalRange("optimizer", ()),)}, "tune_optimizer"),
        ({"ranges": ()}, "ranges"),
        ({"max_jobs": 0}, "max_number_of_training_jobs"),
        ({"max_jobs": 2, "max_parallel_jobs": 3}, "max_parallel_training_jobs"),
        ({"strategy": "Grid"}, "tuning_strategy"),
        ({"early_stopping": "Sometimes"}, "early_stopping"),
        ({"job_name": "a" * 33}, "tuning_job_name"),
        ({"training": part01_spec(480, use_spot=True, max_wait_seconds=86400)}, "training"),
        ({"training": part01_spec(480, instance_type="ml.m5.xlarge")}, "instance_type"),
    ],
)
def test_bad_specs_name_the_field(changes: dict, field: str) -> None:
    with pytest.raises(TuningSpecError) as caught:
        build_tuning_request(book_spec(**changes))
    assert field in [one.field for one in caught.value.errors], caught.value


def test_mini_batch_size_never_above_the_training_samples() -> None:
    spec = book_spec(training=part01_spec(100), ranges=(NumericRange("mini_batch_size", 8, 128),))
    with pytest.raises(TuningSpecError, match="exceeds the 100 training samples"):
        build_tuning_request(spec)
    ok = build_tuning_request(replace(spec, ranges=(NumericRange("mini_batch_size", 8, 100),)))
    assert ok["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"][0]["MaxValue"] == "100"


def test_every_problem_is_reported_at_once() -> None:
    spec = book_spec(max_jobs=0, strategy="Grid", ranges=(NumericRange("learning_rate", 0.5, 0.1),))
    with pytest.raises(TuningSpecError) as caught:
        build_tuning_request(spec)
    fields = {one.field for one in caught.value.errors}
    assert {"max_number_of_training_jobs", "tuning_strategy", "tune_learning_rate"} <= fields


def test_the_request_is_not_shared_state() -> None:
    first = build_tuning_request(book_spec())
    again = copy.deepcopy(first)
    first["TrainingJobDefinition"]["StaticHyperParameters"]["epochs"] = "99"
    assert build_tuning_request(book_spec()) == again
