"""Pipeline 2 end to end on the emulator: spot interruption and resume, max wait, validation before spend,
the base model left untouched, and champion/challenger."""

from __future__ import annotations

import json
from typing import Any

import pytest

from constants import DATA_BUCKET, INCREMENTAL_BUCKET, NOTHING_LEFT
from dag_runs import ACTIONS_THAT_CREATE, leftovers, run_dag, xcom
from emulator_helpers import completed_job, register_package

pytestmark = pytest.mark.e2e

DAG_ID = "mnist_incremental_spot"
# The base model lies in the suite's data bucket (pipeline 1's), which the Airflow role may read; pipeline 2 writes
# only to the incremental bucket, so the base model's objects must stay as they are.
BASE_BUCKET, BASE_PREFIX = DATA_BUCKET, "ch06"


@pytest.fixture()
def base_job(airflow_aws, aws, datasets, monkeypatch) -> dict[str, Any]:
    """A completed image-classification job on batch1 in its own bucket: the model pipeline 2 starts from."""
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET", INCREMENTAL_BUCKET)
    job = completed_job(aws, datasets.folder / "batch1.zip", BASE_BUCKET, BASE_PREFIX, "mlops-base-job")
    airflow_aws.clear_requests()
    return job


def _conf(datasets, **overrides):
    return datasets.conf("batch2", **{"base_training_job": "mlops-base-job", **overrides})


def _objects(aws, bucket: str) -> dict[str, str]:
    listed = aws("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in listed}


def _package(aws, arn: str) -> dict[str, Any]:
    return aws("sagemaker").describe_model_package(ModelPackageName=arn)


def _log_text(aws, job_name: str) -> str:
    logs = aws("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{job_name}/")[
        "logStreams"
    ]
    return "\n".join(  # every host's and launch's stream: a spot job resumes in its relaunch's streams
        e["message"]
        for stream in streams
        for e in logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"], startFromHead=True
        )["events"]
    )


def test_interrupted_spot_job_resumes_from_checkpoints_and_is_promoted(
    airflow_aws, aws, datasets, base_job, airflow_db
):
    base_objects = _objects(aws, BASE_BUCKET)
    # Sub-second local phases read as tens of seconds, so savings are measurable; 1800 s MaxRuntime still
    # leaves 90 real seconds, enough on a loaded machine.
    airflow_aws.settings(time_scale=20.0)
    airflow_aws.interrupt_spot(interruptions=1, capacity_wait_seconds=120)
    run, states = run_dag(DAG_ID, _conf(datasets))
    assert str(run.state) == "success", states
    result = xcom(run, "training_result")
    job = aws("sagemaker").describe_training_job(TrainingJobName=result["training_job_name"])
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert "Interrupted" in statuses and statuses[-1] == "Completed"
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}
    model_channel = next(c for c in job["InputDataConfig"] if c["ChannelName"] == "model")
    assert model_channel["DataSource"]["S3DataSource"]["S3Uri"] == base_job["ModelArtifacts"]["S3ModelArtifacts"]
    assert model_channel["ContentType"] == "application/x-sagemaker-model"
    checkpoint = job["CheckpointConfig"]["S3Uri"]
    # Under the DAG's checkpoint prefix (a resume_checkpoint_uri must lie there: tests/test_isolation.py).
    assert checkpoint == f"s3://{INCREMENTAL_BUCKET}/ch06/checkpoints/{result['training_job_name']}"
    assert "Resuming from checkpoint" in _log_text(aws, result["training_job_name"])
    assert result["spot_interruptions"] == 1 and result["spot_savings_percent"] > 0
    costs = result["costs"]  # spot: the worst case runs to max wait; savings = on-demand - billed
    assert costs["worst_case_usd"] == 1.83 and 0 < costs["estimated_actual_usd"] < costs["worst_case_usd"]
    assert costs["spot_savings_usd"] == round(result["on_demand_cost"]["usd"] - costs["estimated_actual_usd"], 4) > 0
    assert xcom(run, "utilisation_report")["rating"] in {"under-used", "right-sized", "saturated", "input-bound"}
    decision = xcom(run, "decide_promotion")
    assert decision["promote"] is True and decision["base"]["training_job_name"] == "mlops-base-job"
    assert states["publish_model"] == "success"
    package = _package(aws, xcom(run, "publish_model")["model_package_arn"])  # the Asset event carries it
    assert (package["ModelApprovalStatus"], package["ApprovalDescription"]) == ("Approved", decision["reason"])
    assert _objects(aws, BASE_BUCKET) == base_objects, "the base model's bucket must be untouched"
    assert leftovers(aws) == NOTHING_LEFT


def test_max_wait_exceeded_fails_clearly_keeps_checkpoints_and_resumes(
    airflow_aws, aws, datasets, base_job, airflow_db, capfd
):
    airflow_aws.interrupt_spot(interruptions=1, capacity_wait_seconds=100_000)
    run, states = run_dag(DAG_ID, _conf(datasets, min_improvement=0.0))
    assert str(run.state) == "failed" and states["train"] == "failed", states
    out = capfd.readouterr().out
    assert "MaxWaitTimeExceeded" in out and "resume_checkpoint_uri" in out
    job_name = next(
        j
        for j in aws("sagemaker").list_training_jobs()["TrainingJobSummaries"]
        if j["TrainingJobName"] != "mlops-base-job"
    )["TrainingJobName"]
    job = aws("sagemaker").describe_training_job(TrainingJobName=job_name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxWaitTimeExceeded")
    checkpoint = job["CheckpointConfig"]["S3Uri"]
    bucket, prefix = checkpoint[5:].split("/", 1)
    kept = aws("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"]
    assert kept > 0
    assert leftovers(aws) == NOTHING_LEFT

    resumed, states = run_dag(DAG_ID, _conf(datasets, resume_checkpoint_uri=checkpoint))
    assert str(resumed.state) == "success", states
    new_job = xcom(resumed, "training_result")["training_job_name"]
    assert aws("sagemaker").describe_training_job(TrainingJobName=new_job)["CheckpointConfig"]["S3Uri"] == checkpoint
    assert "Resuming from checkpoint" in _log_text(aws, new_job)


# Checked against the real base job in the emulator; the spot rules (max wait < max runtime...) are unit-tested
# in test_request_builders.py and the compatibility rule in test_pipeline_core.py.
# A job outside the package's mlops-* names is refused by the first task, before any AWS call: the Airflow role may
# not even describe it (issue 19 item 8; the IAM replay after this test would name the DescribeTrainingJob).
@pytest.mark.parametrize(
    ("overrides", "field", "task"),
    [
        ({"num_layers": 34}, "num_layers", "resolve_base_model"),
        ({"base_training_job": "mlops-no-such-job"}, "base_training_job", "resolve_base_model"),
        ({"base_training_job": "another-teams-job"}, "base_training_job", "validate_and_preflight"),
    ],
)
def test_incompatible_or_invalid_requests_are_rejected_before_any_create(
    airflow_aws, datasets, base_job, airflow_db, capfd, overrides, field, task
):
    run, states = run_dag(DAG_ID, _conf(datasets, **overrides))
    assert str(run.state) == "failed" and states[task] == "failed", states
    out = capfd.readouterr().out
    assert field in out and "Fix:" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())
    if task == "validate_and_preflight":
        assert "mlops-*" in out and "DescribeTrainingJob" not in airflow_aws.actions()


def test_a_worse_challenger_is_not_promoted(airflow_aws, aws, datasets, base_job, airflow_db):
    run, states = run_dag(DAG_ID, _conf(datasets, min_improvement=0.5))
    assert str(run.state) == "success", states
    decision = xcom(run, "decide_promotion")
    assert decision["promote"] is False and "kept the base model" in decision["reason"]
    assert states["publish_model"] == "skipped"
    package = _package(aws, xcom(run, "decide_approval")["model_package_arn"])
    assert (package["ModelApprovalStatus"], package["ApprovalDescription"]) == ("Rejected", decision["reason"])
    result = xcom(run, "training_result")
    stored = (
        aws("s3")
        .get_object(
            Bucket=INCREMENTAL_BUCKET,
            Key=result["model_artifact"][5:].split("/", 1)[1].rsplit("/", 1)[0] + "/promotion.json",
        )["Body"]
        .read()
    )
    assert json.loads(stored)["promote"] is False
    assert leftovers(aws) == NOTHING_LEFT


# -- the registry as pipeline 2's default base model: read at run time, a rejected package is never used ------------
def _resolve_only(datasets) -> tuple[Any, dict[str, str]]:
    """Pipeline 2 up to its base-model choice only (nothing is trained): the registry read is what is tested."""
    from dag_runs import load_dag

    dag = load_dag(DAG_ID).partial_subset(task_ids=["resolve_base_model"], include_upstream=True)
    run = dag.test(run_conf=datasets.conf("batch2"))
    return run, {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_after_its_own_promotion_pipeline_2_retrains_from_that_champion(
    airflow_aws, aws, datasets, airflow_db, monkeypatch
):
    """Once pipeline 2 promoted a model, the registry's champion lies in pipeline 2's own bucket and prefix (an earlier
    job's output folder). The next run — the tuning DAG's model Asset, the drift Asset or the cron — starts from it;
    under ``make airflow`` this was refused ("s3_prefix: ... holds the base model"), a red run."""
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET", INCREMENTAL_BUCKET)
    own = completed_job(aws, datasets.folder / "batch2.zip", INCREMENTAL_BUCKET, "ch06", "mlops-promoted-by-p2")
    assert own["ModelArtifacts"]["S3ModelArtifacts"].startswith(f"s3://{INCREMENTAL_BUCKET}/ch06/output/")
    champion = register_package(aws("sagemaker"), own, "Approved")
    airflow_aws.clear_requests()
    run, states = _resolve_only(datasets)
    assert states["resolve_base_model"] == "success", states
    chosen = xcom(run, "resolve_base_model")
    assert chosen["base_model_package_arn"] == champion
    assert chosen["base"]["training_job_name"] == own["TrainingJobName"]
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())


def test_the_latest_approved_package_is_the_base_and_a_rejected_one_never_is(
    airflow_aws, aws, datasets, base_job, airflow_db, capfd
):
    approved = register_package(aws("sagemaker"), base_job, "Approved")
    # A newer package a person rejected (console/CLI): it names a job that would fail the run if it were used.
    rejected = register_package(aws("sagemaker"), {**base_job, "TrainingJobName": "mlops-rejected-job"}, "Approved")
    aws("sagemaker").update_model_package(ModelPackageArn=rejected, ModelApprovalStatus="Rejected")
    run, states = _resolve_only(datasets)
    assert states["resolve_base_model"] == "success", states
    chosen = xcom(run, "resolve_base_model")
    assert chosen["base_model_package_arn"] == approved and chosen["base"]["training_job_name"] == "mlops-base-job"
    assert chosen["base"]["source"] == f"model registry {approved}"

    # Rejected too: the group has versions but no Approved one, so there is no base (never the rejected model).
    aws("sagemaker").update_model_package(ModelPackageArn=approved, ModelApprovalStatus="Rejected")
    run, states = _resolve_only(datasets)
    assert states["resolve_base_model"] == "failed", states
    out = capfd.readouterr().out
    assert "has no Approved package" in out and "update-model-package" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())
