"""Pipeline 1 end to end on the emulator, in-process: outcomes, failure paths, and bad input stopped before spend.

Bad input gets one DAG run of each kind here, as proof that the tasks stop it before any Create call; every other
bad param and dataset is tested without a DAG run (test_run_config.py, test_dataset.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from constants import DATA_BUCKET, NOTHING_LEFT
from dag_runs import ACTIONS_THAT_CREATE, leftovers, run_dag, xcom

pytestmark = pytest.mark.e2e

DAG_ID = "mnist_train_deploy"


def _read_json(aws, uri: str):
    bucket, key = uri[5:].split("/", 1)
    return json.loads(aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_pipeline_trains_deploys_smoke_tests_and_tears_down(airflow_db, airflow_aws, aws, datasets):
    run, states = run_dag(DAG_ID, datasets.conf())
    assert str(run.state) == "success", states
    assert states["reattach_training"] == "skipped" and states["train"] == "success"
    result = xcom(run, "training_result")
    artifact = result["model_artifact"]
    bucket, key = artifact[5:].split("/", 1)
    assert aws("s3").head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    assert result["validation_accuracy"] >= 0.7
    assert result["dataset"]["num_training_samples"] == 480
    job = aws("sagemaker").describe_training_job(TrainingJobName=result["training_job_name"])
    assert job["HyperParameters"]["num_training_samples"] == "480"
    assert job["ResourceConfig"] == {"InstanceCount": 2, "InstanceType": "ml.p2.xlarge", "VolumeSizeInGB": 30}
    report = _read_json(aws, artifact.rsplit("/", 1)[0] + "/report.json")
    assert report["training_job_name"] == result["training_job_name"] and report["estimated_cost"]["usd"] > 0
    costs = report["costs"]  # worst case (the budget guard's) beside the estimate; no spot, no savings
    assert costs["worst_case_usd"] == 54.63 and costs["max_cost_usd"] == 200.0
    assert costs["worst_case_terms"] == {"training": 54.0, "training_storage": 0.28, "endpoint": 0.35}
    assert 0 < costs["estimated_actual_usd"] < costs["worst_case_usd"] and costs["spot_savings_usd"] is None
    utilisation = xcom(run, "utilisation_report")
    assert utilisation["rating"] == "under-used" and "on 2 × ml.p2.xlarge: under-used" in utilisation["verdict"]
    stored = _read_json(aws, utilisation["json_uri"])
    assert set(stored["hosts"]) == {"algo-1", "algo-2"} and stored["verdict"]["text"] == utilisation["verdict"]
    page_bucket, page_key = utilisation["html_uri"][5:].split("/", 1)
    page = aws("s3").get_object(Bucket=page_bucket, Key=page_key)["Body"].read().decode()
    assert "data:image/png;base64," in page and "https://" not in page
    smoke = _read_json(aws, artifact.rsplit("/", 1)[0] + "/smoke_test.json")
    assert smoke["passed"] and len(smoke["test_predictions"]) == 100
    assert set(smoke["test_predictions"].values()) <= {
        "ZERO",
        "ONE",
        "TWO",
        "THREE",
        "FOUR",
        "FIVE",
        "SIX",
        "SEVEN",
        "EIGHT",
        "NINE",
    }
    assert leftovers(aws) == NOTHING_LEFT
    published = xcom(run, "publish_model")
    assert published["model_artifact"] == artifact

    # The registry: the first model of the empty group is registered Pending, then Approved as its first champion.
    sm = aws("sagemaker")
    first = sm.describe_model_package(ModelPackageName=published["model_package_arn"])
    assert xcom(run, "register_model")["created"] is True
    assert (first["ModelPackageGroupName"], first["ModelPackageVersion"]) == ("mnist-image-classifier", 1)
    assert first["ModelApprovalStatus"] == "Approved" and "first champion" in first["ApprovalDescription"]
    assert first["InferenceSpecification"]["SupportedContentTypes"] == [
        "application/x-image",
        "image/png",
        "image/jpeg",
    ]
    assert first["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == artifact
    metadata = first["CustomerMetadataProperties"]
    assert metadata["training_job"] == result["training_job_name"] and len(metadata["dataset_sha256"]) == 64
    evaluation = _read_json(aws, first["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"])
    assert evaluation["smoke_accuracy"] == smoke["accuracy"] and evaluation["sample_size"] == smoke["sample_size"]
    # AWS refuses Tags on a version: the group carries them, the version its provenance in its metadata
    group_arn = sm.describe_model_package_group(ModelPackageGroupName=first["ModelPackageGroupName"])[
        "ModelPackageGroupArn"
    ]
    assert {"mlops:created-by", "mlops:dag-run-id"} <= {t["Key"] for t in sm.list_tags(ResourceArn=group_arn)["Tags"]}
    assert metadata["created_by"] == "airflow-sagemaker-mlops" and metadata["dag_run"]

    # A second run of the same dataset re-uploads nothing (unchanged objects are skipped); its model waits for a
    # person (the group has a champion already).
    run2, _ = run_dag(DAG_ID, datasets.conf("batch1", min_accuracy=0.0))
    assert xcom(run2, "upload_dataset")["uploaded"] == 0
    second = xcom(run2, "decide_approval")
    assert second["status"] == "PendingManualApproval" and second["model_package_arn"].endswith("/2")

    # A cleared register_model (same training job) finds its version again: no third one.
    from sagemaker_mlops.registry import tasks as registry_tasks

    config = xcom(run, "validate_and_preflight")
    again = registry_tasks.register_model.function(config, xcom(run, "download_dataset"), result, smoke)
    assert again == {**xcom(run, "register_model"), "created": False}
    packages = sm.list_model_packages(ModelPackageGroupName="mnist-image-classifier")["ModelPackageSummaryList"]
    assert len(packages) == 2


def test_smoke_test_below_threshold_fails_the_run_and_still_deletes_everything(airflow_db, airflow_aws, aws, datasets):
    run, states = run_dag(DAG_ID, datasets.conf("batch1", min_accuracy=0.99))
    assert str(run.state) == "failed"
    assert states["smoke_test"] == "failed" and states["publish_model"] == "upstream_failed"
    assert {states[t] for t in ("delete_endpoint", "delete_endpoint_config", "delete_model")} == {"success"}
    assert leftovers(aws) == NOTHING_LEFT


def test_failed_training_deploys_nothing_and_leaks_nothing(airflow_db, airflow_aws, aws, datasets, capfd):
    airflow_aws.fail_next_training_job("AlgorithmError: injected for the pipeline test")
    run, states = run_dag(DAG_ID, datasets.conf())
    assert str(run.state) == "failed" and states["train"] == "failed"
    assert "injected for the pipeline test" in capfd.readouterr().out
    actions = airflow_aws.actions("sagemaker")
    assert actions.count("CreateTrainingJob") == 1
    assert not {"CreateModel", "CreateEndpointConfig", "CreateEndpoint"} & set(actions)
    assert leftovers(aws) == NOTHING_LEFT


def test_a_bad_param_fails_before_anything_is_created(airflow_db, airflow_aws, datasets, capfd):
    conf = datasets.conf("batch1", role_arn="AmazonSageMaker-ExecutionRole", max_cost_usd=5)
    run, states = run_dag(DAG_ID, conf)
    assert str(run.state) == "failed" and states["validate_and_preflight"] == "failed"
    out = capfd.readouterr().out
    assert "role_arn: 'AmazonSageMaker-ExecutionRole' looks like a role name" in out and "Fix:" in out
    # The budget guard, in the same preflight: 2 x ml.p2.xlarge x 24 h + the endpoint is over 5 USD.
    assert "max_cost_usd: the worst case of this run is 54.63 USD, above the budget of 5 USD" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())


def test_missing_quota_fails_before_anything_is_created(airflow_db, airflow_aws, datasets, capfd):
    airflow_aws.set_quota("ml.p2.xlarge for training job usage", 0)
    _run, states = run_dag(DAG_ID, datasets.conf())
    out = capfd.readouterr().out
    assert states["validate_and_preflight"] == "failed", (states, out[-3000:])
    assert "ml.p2.xlarge for training job usage" in out and "ml.g4dn.xlarge" in out and "Request increase" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())


def test_a_bad_dataset_fails_before_anything_is_created(airflow_db, airflow_aws, datasets, capfd):
    run, states = run_dag(DAG_ID, {"dataset_url": f"{datasets.url}/bad-path_traversal.zip"})
    assert str(run.state) == "failed" and states["download_dataset"] == "failed", states
    out = capfd.readouterr().out
    assert "'..' path part" in out and "Fix:" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())


def test_a_rerun_reattaches_to_this_runs_running_job_instead_of_paying_twice(airflow_db, airflow_aws, aws, datasets):
    from sagemaker_mlops.core import naming

    from emulator_helpers import training_request, upload_zip

    when = datetime(2026, 1, 5, tzinfo=UTC)
    job_name = naming.resource_name(naming.NAME_PREFIX, "train", DAG_ID, f"manual__{when.isoformat()}")
    # An earlier attempt of this very run already started its job, which is still running.
    # ... on this zip's content-addressed prefix, as the DAG uploads it (so the DAG's upload sends 0 bytes).
    data_prefix = naming.dataset_prefix("ch06", datasets.sha256["batch1.zip"])
    samples = upload_zip(aws("s3"), datasets.folder / "batch1.zip", DATA_BUCKET, data_prefix)
    airflow_aws.settings(starting_seconds=60)  # still running when the DAG reaches its training step (a busy CI: 50 s)
    output = {"S3OutputPath": f"s3://{DATA_BUCKET}/ch06/output"}  # as the DAG's: beside, not inside, the dataset
    aws("sagemaker").create_training_job(
        **training_request(job_name, DATA_BUCKET, data_prefix, samples, OutputDataConfig=output)
    )
    airflow_aws.clear_requests()

    run, states = run_dag(DAG_ID, datasets.conf(), when=when)
    assert str(run.state) == "success", states
    assert states["train"] == "skipped" and states["reattach_training"] == "success"
    assert "CreateTrainingJob" not in airflow_aws.actions("sagemaker")
    assert xcom(run, "training_result")["training_job_name"] == job_name
    assert len(aws("sagemaker").list_training_jobs()["TrainingJobSummaries"]) == 1
