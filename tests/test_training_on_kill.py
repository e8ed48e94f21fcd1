"""A train task stopped while it runs stops its training job (issue 11 item 4).

The provider's SageMaker operators have no ``on_kill``: a task marked failed (or its worker told to stop) while it
was creating the job or tailing its first logs left the job billing. Airflow calls ``on_kill`` when it stops a
running task; ``ExplainedTrainingOperator.on_kill`` stops this run's job, through the connection (the emulator
here). The deferred phase has no process: tests/test_fault_matrix_cancel.py covers it on the real services.
"""

from __future__ import annotations

from typing import Any

from constants import REGION
from emulator_helpers import dataset_zip, training_request, upload_zip, wait_training

BUCKET, PREFIX = "onkill-bucket", "ch06"


def _operator(name: str) -> Any:
    from sagemaker_mlops.training.operators import ExplainedTrainingOperator

    return ExplainedTrainingOperator(
        task_id="train", config={"TrainingJobName": name}, aws_conn_id="aws_default", region_name=REGION
    )


def test_on_kill_stops_this_runs_running_job_and_leaves_others_alone(airflow_aws, aws, tmp_path) -> None:
    airflow_aws.settings(epoch_seconds=30.0)  # still InProgress when the task is stopped
    sm = aws("sagemaker")
    samples = upload_zip(aws("s3"), dataset_zip(tmp_path, "batch1"), BUCKET, PREFIX)
    sm.create_training_job(**training_request("mlops-train-onkill", BUCKET, PREFIX, samples))
    sm.create_training_job(**training_request("mlops-train-other", BUCKET, PREFIX, samples))

    _operator("mlops-train-onkill").on_kill()

    assert wait_training(sm, "mlops-train-onkill", timeout=10)["TrainingJobStatus"] == "Stopped"
    assert sm.describe_training_job(TrainingJobName="mlops-train-other")["TrainingJobStatus"] == "InProgress"
    sm.stop_training_job(TrainingJobName="mlops-train-other")


def test_on_kill_before_the_job_exists_or_after_it_ended_does_nothing(airflow_aws, aws) -> None:
    _operator("mlops-train-never-created").on_kill()  # killed before CreateTrainingJob: nothing to stop
    assert "StopTrainingJob" not in airflow_aws.actions("sagemaker")
