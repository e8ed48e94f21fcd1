"""Pipeline 3 (mnist_tuning) end to end on the emulator, in-process: a small tuning job (4 trials, 2 at a time)
whose best training job is deployed, smoke-tested, reported and published, with nothing left; and a tuning job
whose every trial fails ends Failed, fails the run before any deploy, and leaves nothing running."""

from __future__ import annotations

import json

import pytest

from constants import NOTHING_LEFT
from dag_runs import leftovers, run_dag, xcom

pytestmark = pytest.mark.e2e

DAG_ID = "mnist_tuning"
SMALL = {
    "max_number_of_training_jobs": 4,
    "max_parallel_training_jobs": 2,
    "training_instance_count": 1,
    "tune_learning_rate_min": 0.005,
    "tune_learning_rate_max": 0.05,
    "tune_mini_batch_size_min": 32,
    "tune_mini_batch_size_max": 512,  # above the 480 training images: capped at them
    "tune_optimizer": ["sgd", "nag"],
}


def _read_json(aws, uri: str):
    bucket, key = uri[5:].split("/", 1)
    return json.loads(aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_tunes_deploys_the_best_and_tears_down(airflow_db, airflow_aws, aws, datasets):
    run, states = run_dag(DAG_ID, datasets.conf(**SMALL))
    assert str(run.state) == "success", states
    assert states["tune"] == "success" and states["reattach_tuning"] == "skipped"
    assert states["stop_tuning_if_running"] == "success"
    sm = aws("sagemaker")
    result = xcom(run, "tuning_result")
    tuning = result["tuning"]
    job = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning["tuning_job_name"])
    assert job["HyperParameterTuningJobStatus"] == "Completed"
    assert job["HyperParameterTuningJobConfig"]["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 4,
        "MaxParallelTrainingJobs": 2,
    }
    ranges = job["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert ranges["IntegerParameterRanges"][0]["MaxValue"] == "480"

    # Every trial, sorted by objective, with its cost; the best is the one deployed and published.
    trials = tuning["trials"]
    assert len(trials) == 4 and {t["status"] for t in trials} == {"Completed"}
    objectives = [t["objective"] for t in trials]
    assert objectives == sorted(objectives, reverse=True)
    assert all(t["billable_seconds"] > 0 and t["cost_usd"] > 0 for t in trials)
    assert tuning["total_cost_usd"] == pytest.approx(sum(t["cost_usd"] for t in trials), abs=1e-3)
    best = job["BestTrainingJob"]["TrainingJobName"]
    assert tuning["best_training_job"] == result["training_job_name"] == trials[0]["training_job_name"] == best
    best_job = sm.describe_training_job(TrainingJobName=best)
    assert result["model_artifact"] == best_job["ModelArtifacts"]["S3ModelArtifacts"]
    report = _read_json(aws, result["model_artifact"].rsplit("/", 1)[0] + "/tuning_report.json")
    assert report["best_training_job"] == best and len(report["trials"]) == 4
    published = xcom(run, "publish_model")
    assert published["training_job_name"] == best
    assert published["hyperparameters"]["optimizer"] == best_job["HyperParameters"]["optimizer"]
    smoke = xcom(run, "smoke_test")
    assert smoke["passed"] and len(smoke["test_predictions"]) == 100
    assert leftovers(aws) == NOTHING_LEFT


def test_every_trial_failing_fails_the_run_with_nothing_left(airflow_db, airflow_aws, aws, emulator, datasets):
    emulator.settings(fail_next_training_jobs=["AlgorithmError: injected for the test"] * 2)
    run, states = run_dag(DAG_ID, datasets.conf(**{**SMALL, "max_number_of_training_jobs": 2}))
    assert str(run.state) == "failed", states
    assert states["tune"] == "failed"
    assert states["create_model"] in ("upstream_failed", "skipped") and states["deploy_requests"] == "upstream_failed"
    sm = aws("sagemaker")
    config = xcom(run, "validate_and_preflight")
    job = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=config["names"]["tuning_job"])
    assert job["HyperParameterTuningJobStatus"] == "Failed" and "injected" in job["FailureReason"]
    assert "CreateModel" not in emulator.actions("sagemaker")
    assert leftovers(aws) == NOTHING_LEFT


def test_parallel_jobs_beyond_the_quota_fail_before_any_spend(airflow_db, airflow_aws, aws, emulator, datasets):
    # The book's 3 parallel trials x 2 instances = 6 ml.p2.xlarge, but the emulator's default quota is 4.
    run, states = run_dag(DAG_ID, datasets.conf(training_instance_count=2, max_parallel_training_jobs=3))
    assert str(run.state) == "failed" and states["validate_and_preflight"] == "failed", states
    assert not {"CreateHyperParameterTuningJob", "CreateTrainingJob", "PutObject"} & set(emulator.actions())
