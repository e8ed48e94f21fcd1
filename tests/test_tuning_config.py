"""The tuning request: what the SDK's HyperparameterTuner sends for the book's code, valid for botocore's model, and
every bad range refused (naming the field) before anything is created."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest
from test_request_builders import api_problems, assert_api_valid, part01_spec

from sagemaker_mlops.core import naming
from sagemaker_mlops.tuning.tuning_config import (
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
        ({"max_jobs": 20, "max_parallel_jobs": 11}, "max_parallel_training_jobs"),  # AWS's default limit: 10
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


# -- the trigger form's ranges, the report and the job's end: pure, no DAG run ------------------------------------
FORM = {
    "tune_learning_rate_min": 0.001,
    "tune_learning_rate_max": 0.1,
    "learning_rate_scaling": "Logarithmic",
    "tune_mini_batch_size_min": 16,
    "tune_mini_batch_size_max": 512,
    "tune_optimizer": ["sgd", "adam"],
    "tune_optimizer_ranges": {"momentum": [0.0, 0.9]},
}


def test_form_ranges_cap_mini_batch_size_at_the_samples() -> None:
    from sagemaker_mlops.tuning.tuning_config import ranges_from_form

    ranges = {one.name: one for one in ranges_from_form(FORM, num_training_samples=480)}
    assert ranges["mini_batch_size"].max_value == 480 and ranges["learning_rate"].scaling == "Logarithmic"
    assert ranges["optimizer"].values == ("sgd", "adam") and ranges["momentum"].scaling == "Linear"
    untuned = ranges_from_form({**FORM, "tune_learning_rate_min": None, "tune_optimizer": []})
    assert {one.name for one in untuned} == {"mini_batch_size", "momentum"}


def test_form_with_a_minimum_above_the_samples_is_refused() -> None:
    from sagemaker_mlops.tuning.tuning_config import spec_from_form

    spec = spec_from_form({**FORM, "tune_mini_batch_size_min": 200}, "book-tuning-job", part01_spec(100), 100)
    with pytest.raises(TuningSpecError, match="exceeds the 100 training samples"):
        build_tuning_request(spec)


def test_report_sorts_trials_by_objective_and_sums_the_cost() -> None:
    from sagemaker_mlops.tuning import tuning_report

    summaries = [
        {"TrainingJobName": "t-001", "TrainingJobStatus": "Failed", "TunedHyperParameters": {"optimizer": "adam"}},
        {
            "TrainingJobName": "t-002",
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"optimizer": "sgd"},
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:accuracy", "Value": 0.8},
        },
        {
            "TrainingJobName": "t-003",
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"optimizer": "nag"},
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:accuracy", "Value": 0.9},
        },
    ]
    resources = {"InstanceType": "ml.p2.xlarge", "InstanceCount": 2}
    jobs = {
        "t-001": {"ResourceConfig": resources},
        "t-002": {"ResourceConfig": resources, "BillableTimeInSeconds": 3600},
        "t-003": {"ResourceConfig": resources, "BillableTimeInSeconds": 1800},
    }
    rows = tuning_report.trial_rows(summaries, jobs, "us-east-1")
    assert [r["training_job_name"] for r in rows] == ["t-003", "t-002", "t-001"]
    hourly = tuning_report.estimate_cost("training", "ml.p2.xlarge", 1, 3600, "us-east-1")["hourly_usd"]
    assert rows[1]["cost_usd"] == pytest.approx(2 * hourly) and rows[2]["cost_usd"] == 0
    job = {
        "HyperParameterTuningJobName": "t",
        "HyperParameterTuningJobStatus": "Completed",
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "HyperParameterTuningJobObjective": {}},
        "BestTrainingJob": summaries[2],
    }
    summary = tuning_report.tuning_summary(job, rows)
    assert summary["best_training_job"] == "t-003" and summary["best_objective"] == 0.9
    assert summary["total_cost_usd"] == pytest.approx(3 * hourly, abs=1e-3)
    assert "| t-003 | Completed | 0.9 |" in tuning_report.render_markdown(summary)


def test_a_tuning_job_that_did_not_complete_fails_the_run_naming_why() -> None:
    from sagemaker_mlops.core.validation import ParamError
    from sagemaker_mlops.training.job import TrainingJobEnded
    from sagemaker_mlops.tuning import job as tuning_job

    failed = {
        "HyperParameterTuningJobName": "t",
        "HyperParameterTuningJobStatus": "Failed",
        "FailureReason": "All training jobs failed.",
        "TrainingJobStatusCounters": {"NonRetryableError": 2},
    }
    with pytest.raises(TrainingJobEnded, match=r"ended Failed .*NonRetryableError 2.*All training jobs failed"):
        tuning_job.raise_for_status(failed)
    with pytest.raises(TrainingJobEnded, match="no training job reported the objective"):
        tuning_job.raise_for_status({**failed, "HyperParameterTuningJobStatus": "Completed", "FailureReason": None})
    assert tuning_job.next_step(None) == "create"
    assert tuning_job.next_step({**failed, "HyperParameterTuningJobStatus": "InProgress"}) == "attach"
    with pytest.raises(ParamError, match="already ended Failed"):
        tuning_job.next_step(failed)


def test_the_forms_parallel_maximum_is_awss_default_limit() -> None:
    """AWS: 10 parallel training jobs per tuning job by default; the form offered 100."""
    from sagemaker_mlops.tuning import tasks as tuning_tasks

    assert tuning_tasks.tuning_params()["max_parallel_training_jobs"].schema["maximum"] == 10
