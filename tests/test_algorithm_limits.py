"""The image-classification algorithm's own limits, checked before CreateTrainingJob (issue 19, defect 13): every
rule the params and the counted dataset decide refuses the run naming the field and the fix; the emulator's
stand-in algorithm fails a job that breaks one, as the real one does; and a job that still fails reports its
FailureReason with the fix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.training import algorithm_limits
from sagemaker_mlops.training.job import TrainingJobEnded, raise_for_status
from sagemaker_mlops.training.training_config import Hyperparameters

from constants import DATA_BUCKET
from emulator_helpers import training_request, upload_zip, wait_training

BOOK = {"mini_batch_size": 100, "num_classes": 10, "top_k": 5, "epochs": 3}
TOO_FEW = "The number of input images must be bigger or equal to the mini_batch_size"


@pytest.fixture(scope="module")
def sixty_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The book's layout with 6 training images per class: 60, fewer than the book's mini_batch_size of 100."""
    from local_datasets import build_dataset

    out = tmp_path_factory.mktemp("small") / "small60.zip"
    build_dataset(out, "batch1", train_per_class=6, validation_per_class=2, test_count=10)
    return out


# -- the rules, one by one ---------------------------------------------------------------------------------------
def test_fewer_training_images_than_mini_batch_size_is_refused_naming_the_fix() -> None:
    [error] = algorithm_limits.dataset_errors(BOOK, 60)
    assert error.field == "mini_batch_size"
    assert "100 is more than the dataset's 60 training images" in error.problem
    assert "at most 60" in error.fix


@pytest.mark.parametrize("samples", [100, 480])
def test_a_dataset_that_fills_a_batch_passes(samples: int) -> None:
    assert algorithm_limits.dataset_errors(BOOK, samples) == []
    algorithm_limits.check_dataset(BOOK, samples)


def test_a_tuned_mini_batch_size_is_left_to_the_tuning_range() -> None:
    """Pipeline 3 sends no fixed mini_batch_size when it tunes it (its range is capped at the training images)."""
    params = {"tune_mini_batch_size_min": 16, "tune_mini_batch_size_max": 128}
    assert algorithm_limits.tuned_names(params) == {"mini_batch_size"}
    assert algorithm_limits.tuned_names({"tune_mini_batch_size_min": 16, "tune_mini_batch_size_max": None}) == set()
    assert algorithm_limits.dataset_errors(BOOK, 60, algorithm_limits.tuned_names(params)) == []


def test_check_dataset_raises_one_param_error() -> None:
    with pytest.raises(ParamError, match="mini_batch_size: 100 is more than"):
        algorithm_limits.check_dataset(BOOK, 60)


@pytest.mark.parametrize(
    ("top_k", "num_classes", "ok"), [(5, 10, True), (9, 10, True), (10, 10, False), (12, 10, False)]
)
def test_top_k_must_be_below_num_classes(top_k: int, num_classes: int, ok: bool) -> None:
    errors = Hyperparameters(num_training_samples=480, top_k=top_k, num_classes=num_classes).errors()
    assert (errors == []) is ok, errors
    if not ok:
        assert errors[0].field == "top_k" and f"below {num_classes}" in errors[0].fix


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"num_classes": 1, "top_k": None}, "num_classes"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": 1.5}, "learning_rate"),
        ({"mini_batch_size": 0}, "mini_batch_size"),
        ({"top_k": 1}, "top_k"),
        ({"num_layers": 19}, "num_layers"),
        ({"image_shape": "2,28,28"}, "image_shape"),
        ({"precision_dtype": "int8"}, "precision_dtype"),
    ],
)
def test_every_param_only_rule_of_the_algorithm_is_checked_in_the_set_up(changes: dict, field: str) -> None:
    base = Hyperparameters(num_training_samples=480)
    errors = replace(base, **changes).errors()
    assert [e.field for e in errors] == [field], errors


# -- the emulator refuses what the algorithm refuses ------------------------------------------------------------
def test_the_stand_in_algorithm_fails_a_batch_larger_than_the_training_set(
    airflow_aws: Any, aws: Any, sixty_images: Path
) -> None:
    samples = upload_zip(aws("s3"), sixty_images, DATA_BUCKET, "small")
    assert samples == 60
    sm = aws("sagemaker")
    sm.create_training_job(**training_request("mlops-too-few", DATA_BUCKET, "small", samples))
    job = wait_training(sm, "mlops-too-few")
    assert job["TrainingJobStatus"] == "Failed" and TOO_FEW in job["FailureReason"]


# -- a job that still fails: its FailureReason and the fix ------------------------------------------------------
def _failed(reason: str) -> dict[str, Any]:
    return {
        "TrainingJobName": "mlops-train-x",
        "TrainingJobStatus": "Failed",
        "SecondaryStatus": "Failed",
        "FailureReason": reason,
    }


@pytest.mark.parametrize(
    ("reason", "fix"),
    [
        (f"ClientError: {TOO_FEW}. (train: 60 images, mini_batch_size: 100)", "lower mini_batch_size"),
        ("ClientError: train/0/a.png is 20x20 pixels, smaller than image_shape 1,28,28", "image_shape"),
        ("ClientError: Invalid lst file in the 'train_lst' channel: train.lst line 3: bad", "fix the .lst files"),
        ("AlgorithmError: something nobody anticipated", "CloudWatch log"),
    ],
)
def test_a_failed_job_reports_its_failure_reason_and_the_fix(reason: str, fix: str) -> None:
    with pytest.raises(TrainingJobEnded) as ended:
        raise_for_status(_failed(reason))
    message = str(ended.value)
    assert reason in message and "Fix:" in message and fix in message


def test_the_train_operator_fails_with_the_reason_and_the_fix(airflow_aws: Any, aws: Any, sixty_images: Path) -> None:
    """The deferred wait's end on a job the algorithm failed (the provider says only 'Error while running job')."""
    from sagemaker_mlops.training.operators import ExplainedTrainingOperator

    samples = upload_zip(aws("s3"), sixty_images, DATA_BUCKET, "small")
    sm = aws("sagemaker")
    sm.create_training_job(**training_request("mlops-too-few-op", DATA_BUCKET, "small", samples))
    wait_training(sm, "mlops-too-few-op")
    operator = ExplainedTrainingOperator(
        task_id="train", config={"TrainingJobName": "mlops-too-few-op"}, aws_conn_id="aws_default", deferrable=True
    )
    event = {
        "status": "error",
        "message": "Waiter encountered a terminal failure state",
        "job_name": "mlops-too-few-op",
    }
    with pytest.raises(TrainingJobEnded, match="Fix: lower mini_batch_size") as ended:
        operator.execute_complete({}, event)
    assert TOO_FEW in str(ended.value)


# -- end to end: the 60-image dataset with the book's batch of 100 ----------------------------------------------
@pytest.mark.e2e
def test_sixty_images_with_a_batch_of_100_fail_before_any_training_job(
    airflow_db: Any, airflow_aws: Any, datasets: Any, sixty_images: Path, capfd: pytest.CaptureFixture
) -> None:
    import shutil

    from dag_runs import ACTIONS_THAT_CREATE, run_dag

    shutil.copy(sixty_images, datasets.folder / "small60.zip")
    run, states = run_dag("mnist_train_deploy", {"dataset_url": f"{datasets.url}/small60.zip"})
    assert str(run.state) == "failed" and states["download_dataset"] == "failed", states
    out = capfd.readouterr().out
    assert "mini_batch_size: 100 is more than the dataset's 60 training images" in out
    assert "Fix: lower mini_batch_size to at most 60" in out
    assert "CreateTrainingJob" not in airflow_aws.actions("sagemaker")
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())
