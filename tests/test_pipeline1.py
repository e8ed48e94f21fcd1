"""Pipeline 1 end to end on the emulator, in-process: outcomes, failure paths, and bad input stopped before spend."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest

from dag_runs import ACTIONS_THAT_CREATE, leftovers, run_dag, xcom

DAG_ID = "mnist_train_deploy"
# Each bad dataset and a piece of the message that must name the problem.
BAD_DATASETS = {"path_traversal": "'..' path part", "missing_channel": "validation_lst/: is missing",
                "lst_missing_file": "train.lst line 1", "small_images": "smaller than image_shape",
                "symlink": "symbolic link", "corrupt_image": "not a readable image"}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory):
    from local_datasets.bad import build_bad_dataset
    from local_datasets.builder import build_dataset
    from local_datasets.server import DatasetServer

    folder = tmp_path_factory.mktemp("served")
    info = build_dataset(folder / "batch1.zip", "batch1")
    for kind in BAD_DATASETS:
        build_bad_dataset(folder / f"bad-{kind}.zip", kind)
    with DatasetServer(folder) as server:
        yield {"url": server.url, "sha256": info.sha256, "folder": str(folder)}


def _conf(datasets, **overrides):
    conf = {"dataset_url": f"{datasets['url']}/r/batch1.zip", "dataset_sha256": datasets["sha256"]}
    conf.update(overrides)
    return conf


def _read_json(aws, uri: str):
    bucket, key = uri[5:].split("/", 1)
    return json.loads(aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_pipeline_trains_deploys_smoke_tests_and_tears_down(airflow_db, airflow_aws, aws, datasets):
    run, states = run_dag(DAG_ID, _conf(datasets))
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
    smoke = _read_json(aws, artifact.rsplit("/", 1)[0] + "/smoke_test.json")
    assert smoke["passed"] and len(smoke["test_predictions"]) == 100
    assert set(smoke["test_predictions"].values()) <= {"ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN",
                                                       "EIGHT", "NINE"}
    assert leftovers(aws) == {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}
    published = xcom(run, "publish_model")
    assert published["model_artifact"] == artifact

    # A second run of the same dataset re-uploads nothing (unchanged objects are skipped).
    run2, _ = run_dag(DAG_ID, _conf(datasets, min_accuracy=0.0))
    assert xcom(run2, "upload_dataset")["uploaded"] == 0


def test_smoke_test_below_threshold_fails_the_run_and_still_deletes_everything(airflow_db, airflow_aws, aws,
                                                                                datasets):
    run, states = run_dag(DAG_ID, _conf(datasets, min_accuracy=0.99))
    assert str(run.state) == "failed"
    assert states["smoke_test"] == "failed" and states["publish_model"] == "upstream_failed"
    assert {states[t] for t in ("delete_endpoint", "delete_endpoint_config", "delete_model")} == {"success"}
    assert leftovers(aws) == {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}


def test_failed_training_deploys_nothing_and_leaks_nothing(airflow_db, airflow_aws, aws, datasets, capfd):
    airflow_aws.fail_next_training_job("AlgorithmError: injected for the pipeline test")
    run, states = run_dag(DAG_ID, _conf(datasets))
    assert str(run.state) == "failed" and states["train"] == "failed"
    assert "injected for the pipeline test" in capfd.readouterr().out
    actions = airflow_aws.actions("sagemaker")
    assert actions.count("CreateTrainingJob") == 1
    assert not {"CreateModel", "CreateEndpointConfig", "CreateEndpoint"} & set(actions)
    assert leftovers(aws) == {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}


@pytest.mark.parametrize(("overrides", "field"), [
    ({"role_arn": "AmazonSageMaker-ExecutionRole"}, "role_arn"),
    ({"bucket": "Not_A_Valid_Bucket"}, "bucket"),
    ({"dataset_url": "ftp://example.com/batch1.zip"}, "dataset_url"),
    ({"training_image": "not-an-image-uri"}, "training_image"),
])
def test_bad_params_fail_before_anything_is_created(airflow_db, airflow_aws, datasets, capfd, overrides, field):
    run, states = run_dag(DAG_ID, _conf(datasets, **overrides))
    assert str(run.state) == "failed" and states["validate_and_preflight"] == "failed"
    out = capfd.readouterr().out
    assert f"{field}" in out and "Fix:" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())


def test_missing_quota_fails_before_anything_is_created(airflow_db, airflow_aws, datasets, capfd):
    airflow_aws.set_quota("ml.p2.xlarge for training job usage", 0)
    _run, states = run_dag(DAG_ID, _conf(datasets))
    out = capfd.readouterr().out
    assert states["validate_and_preflight"] == "failed", (states, out[-3000:])
    assert "ml.p2.xlarge for training job usage" in out and "ml.g4dn.xlarge" in out and "Request increase" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())


@pytest.mark.parametrize(("dataset", "sha", "expected"), [
    ("missing.zip", None, "dataset_url"),
    ("batch1.zip", "0" * 64, "dataset_sha256"),
    *[(f"bad-{kind}.zip", None, message) for kind, message in BAD_DATASETS.items()],
])
def test_bad_datasets_fail_before_anything_is_created(airflow_db, airflow_aws, datasets, capfd, dataset, sha,
                                                      expected):
    run, states = run_dag(DAG_ID, {"dataset_url": f"{datasets['url']}/{dataset}", "dataset_sha256": sha})
    assert str(run.state) == "failed" and states["download_dataset"] == "failed", states
    out = capfd.readouterr().out
    assert expected in out and "Fix:" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())


def test_a_rerun_reattaches_to_this_runs_running_job_instead_of_paying_twice(airflow_db, airflow_aws, aws, datasets):
    from datetime import datetime

    from sagemaker_mlops import naming

    from emulator_helpers import dataset_zip, training_request, upload_zip

    when = datetime(2026, 1, 5, tzinfo=UTC)
    job_name = naming.resource_name(naming.NAME_PREFIX, "train", DAG_ID, f"manual__{when.isoformat()}")
    # An earlier attempt of this very run already started its job, which is still running.
    samples = upload_zip(aws("s3"), dataset_zip(Path(datasets["folder"]), "batch1"), "mlops-test-bucket", "ch06")
    airflow_aws.settings(starting_seconds=20)  # still running when the DAG reaches its training step
    aws("sagemaker").create_training_job(**training_request(job_name, "mlops-test-bucket", "ch06", samples))
    airflow_aws.clear_requests()

    run, states = run_dag(DAG_ID, _conf(datasets), when=when)
    assert str(run.state) == "success", states
    assert states["train"] == "skipped" and states["reattach_training"] == "success"
    assert "CreateTrainingJob" not in airflow_aws.actions("sagemaker")
    assert xcom(run, "training_result")["training_job_name"] == job_name
    assert len(aws("sagemaker").list_training_jobs()["TrainingJobSummaries"]) == 1
