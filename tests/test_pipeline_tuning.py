"""Pipeline 3 (mnist_tuning) end to end on the emulator, in-process: a small tuning job (4 trials, 2 at a time)
whose best training job is deployed, smoke-tested, reported, registered (the first champion of an empty group)
and published, with nothing left; the best model against an existing champion on the same sample (Rejected when
it does not beat it); and a tuning job whose every trial fails ends Failed, fails the run before any deploy, and
leaves nothing running."""

from __future__ import annotations

import json

import pytest

from constants import DATA_BUCKET, NOTHING_LEFT
from dag_runs import leftovers, run_dag, xcom
from emulator_helpers import completed_job, register_package

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
    assert smoke["passed"] and len(smoke["test_predictions"]) == 100 and not smoke.get("other_variants")

    # The registry: the best job (BestTrainingJob) is a new version; the group was empty, so the first champion.
    assert states["create_champion_model"] == "success" and xcom(run, "decide_promotion") is None
    approval = xcom(run, "decide_approval")
    package = sm.describe_model_package(ModelPackageName=approval["model_package_arn"])
    assert package["ModelApprovalStatus"] == "Approved" and "first champion" in package["ApprovalDescription"]
    assert package["CustomerMetadataProperties"]["training_job"] == best
    assert package["CustomerMetadataProperties"]["dag_id"] == DAG_ID
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == result["model_artifact"]
    assert tuning["tuning_job_name"] in package["ModelPackageDescription"]
    # ModelMetrics is the holdout baseline (the pinned holdout, scored by batch transform); the run's record of its
    # smoke test and tuning lies beside the model.
    baseline = _read_json(aws, package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"])
    assert baseline["training_job"] == best and baseline["accuracy"] == xcom(run, "evaluate")["challenger"]["accuracy"]
    evaluation = _read_json(aws, result["model_artifact"].rsplit("/", 1)[0] + "/evaluation.json")
    assert evaluation["training_job"] == best and evaluation["smoke_accuracy"] == smoke["accuracy"]
    assert evaluation["tuning"]["best_objective_value"] == trials[0]["objective"]
    assert evaluation["tuning"]["objective"] == "validation:accuracy (Maximize)"
    # Both Asset events carry the package: the model (pipeline 2's trigger) and the champion (production's).
    assert published["model_package_arn"] == approval["model_package_arn"]
    assert xcom(run, "publish_champion")["model_package_arn"] == approval["model_package_arn"]
    assert leftovers(aws) == NOTHING_LEFT


def test_the_best_model_is_rejected_when_it_does_not_beat_the_champion(airflow_db, airflow_aws, aws, datasets):
    # In the suite's data bucket (the Airflow role reads the champion's artifact there, as a deployment's would be).
    champion_job = completed_job(aws, datasets.folder / "batch1.zip", DATA_BUCKET, "champion", "mlops-champion")
    champion = register_package(aws("sagemaker"), champion_job, "Approved")
    run, states = run_dag(DAG_ID, datasets.conf(**SMALL, min_improvement=0.5))  # no model beats it by 0.5
    assert str(run.state) == "success", states
    assert xcom(run, "resolve_champion")["base_model_package_arn"] == champion
    # The champion and the best trial are scored on the same pinned holdout (batch transform), not on the endpoint.
    assert not xcom(run, "smoke_test").get("other_variants")
    evaluation, decision = xcom(run, "evaluate"), xcom(run, "decide_promotion")
    assert evaluation["challenger"]["holdout"] == evaluation["champion"]["holdout"]
    assert decision["promote"] is False and "kept the champion" in decision["reason"]
    sm = aws("sagemaker")
    package = sm.describe_model_package(ModelPackageName=xcom(run, "decide_approval")["model_package_arn"])
    assert (package["ModelApprovalStatus"], package["ApprovalDescription"]) == ("Rejected", decision["reason"])
    assert package["CustomerMetadataProperties"]["training_job"] == xcom(run, "tuning_result")["training_job_name"]
    assert sm.describe_model_package(ModelPackageName=champion)["ModelApprovalStatus"] == "Approved"
    assert states["publish_champion"] == "skipped" and states["publish_model"] == "success"
    assert states["delete_base_model"] == "success"
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
