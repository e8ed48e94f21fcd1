"""A cleared-and-re-run ``mnist_tuning`` re-attaches to its tuning job (issue 19, defect 6): the worker of the first
try died while the tuning job was InProgress (``tune`` failed, no teardown ran), and the run is run again under
the same run id. The re-run finds the tuning job by its name, waits for it in ``reattach_tuning``, and deploys
its best trial: one tuning job, its trials trained once, nothing stopped, nothing left."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dag_runs import leftovers, run_dag, xcom
from emulator_helpers import all_trials

pytestmark = pytest.mark.e2e
DAG_ID = "mnist_tuning"
SMALL = {
    "max_number_of_training_jobs": 2,
    "max_parallel_training_jobs": 2,  # both trials start with the first try, so both outlive its worker
    "training_instance_count": 1,
    "tune_learning_rate_min": 0.005,
    "tune_learning_rate_max": 0.05,
    "tune_mini_batch_size_min": None,
    "tune_mini_batch_size_max": None,
    "tune_optimizer": ["sgd", "nag"],
}


class WorkerDied(Exception):
    """Stands for the worker's death after CreateHyperParameterTuningJob, before the deferred wait."""


def test_a_re_run_re_attaches_to_its_running_tuning_job(
    airflow_db: Any, airflow_aws: Any, aws: Any, datasets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sagemaker_mlops.tuning.operators import ExplainedTuningOperator

    when = datetime.now(UTC).replace(microsecond=0)  # a run id (and tuning job name) new to the session's DB
    # The first try: the trials take long enough to outlive it and the re-run's set-up; ``tune`` creates the tuning
    # job and its worker dies; the teardown never ran (the scheduler went with it), so the tuning job goes on.
    airflow_aws.settings(starting_seconds=45)

    def dies(self: Any, **kwargs: Any) -> None:
        raise WorkerDied("the worker died while the tuning job was InProgress")

    with monkeypatch.context() as patched:
        patched.setattr(ExplainedTuningOperator, "defer", dies)
        dag_run = run_dag(DAG_ID, datasets.conf(**SMALL), when=when, mark_success_pattern="stop_tuning_if_running")
    run, states = dag_run
    assert states["tune"] == "failed", states
    sm = aws("sagemaker")
    [summary] = sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    name = summary["HyperParameterTuningJobName"]
    assert summary["HyperParameterTuningJobStatus"] == "InProgress"
    airflow_aws.settings(starting_seconds=0.5)

    run, states = run_dag(DAG_ID, datasets.conf(**SMALL), when=when)  # cleared: the same run id, the same inputs
    assert str(run.state) == "success", states
    assert states["start_or_attach_tuning"] == "success" and states["tune"] == "skipped", states
    assert states["reattach_tuning"] == "success", states
    actions = airflow_aws.actions("sagemaker")
    assert actions.count("CreateHyperParameterTuningJob") == 1
    assert "StopHyperParameterTuningJob" not in actions
    job = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert job["HyperParameterTuningJobStatus"] == "Completed"
    trials = all_trials(sm, name)
    assert len(trials) == 2 and {t["TrainingJobStatus"] for t in trials} == {"Completed"}
    assert len(sm.list_training_jobs()["TrainingJobSummaries"]) == 2  # no trial trained twice, no other job
    assert xcom(run, "tuning_result")["training_job_name"] == job["BestTrainingJob"]["TrainingJobName"]
    assert leftovers(aws) == {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}
