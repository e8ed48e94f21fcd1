"""A whole pipeline-1 run whose first training attempt finds no capacity (issue 11, item 6), in-process on the
emulator: the second attempt ``<job>-a2`` trains after the back-off, every downstream task uses it, the run
succeeds and nothing is left."""

from __future__ import annotations

import pytest

from dag_runs import leftovers, run_dag, xcom

pytestmark = pytest.mark.e2e


def test_a_capacity_failure_is_retried_under_the_attempt_name(airflow_db, airflow_aws, aws, datasets, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_MLOPS_CAPACITY_BACKOFF_SECONDS", "1")
    # The back-off deferred, as a production-length one is (a short one is slept in the worker); dag.test
    # resumes it in-process, where the scheduler race of apache/airflow#72716 cannot happen.
    monkeypatch.setattr("sagemaker_mlops.training.operators.MIN_DEFER_SECONDS", 0.0)
    airflow_aws.fail_next_training_job_for_capacity()
    run, states = run_dag("mnist_train_deploy", datasets.conf())
    assert str(run.state) == "success", states
    base = xcom(run, "validate_and_preflight")["names"]["job"]
    assert xcom(run, "training_result")["training_job_name"] == f"{base}-a2"
    assert xcom(run, "publish_model")["training_job_name"] == f"{base}-a2"
    assert airflow_aws.actions("sagemaker").count("CreateTrainingJob") == 2
    jobs = {
        j["TrainingJobName"]: j["TrainingJobStatus"]
        for j in aws("sagemaker").list_training_jobs()["TrainingJobSummaries"]
    }
    assert jobs == {base: "Failed", f"{base}-a2": "Completed"}
    assert leftovers(aws) == {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}
