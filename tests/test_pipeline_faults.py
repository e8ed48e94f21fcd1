"""Pipeline 1 under injected AWS faults: throttling is retried and the run still succeeds without a leak; a
training job that finds no capacity fails the run as AWS reports it, before anything is deployed."""

from __future__ import annotations

import pytest

from aws_emulator.control import CAPACITY_ERROR

from dag_runs import leftovers, run_dag

pytestmark = pytest.mark.e2e
DAG_ID = "mnist_train_deploy"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory):
    from local_datasets.builder import build_dataset
    from local_datasets.server import DatasetServer

    folder = tmp_path_factory.mktemp("served")
    info = build_dataset(folder / "batch1.zip", "batch1")
    with DatasetServer(folder) as server:
        yield {"dataset_url": f"{server.url}/r/batch1.zip", "dataset_sha256": info.sha256}


def test_throttled_calls_are_retried_and_the_run_succeeds_without_leaks(airflow_db, airflow_aws, aws, datasets):
    throttled = {"DescribeTrainingJob": 2, "CreateModel": 1, "DescribeEndpoint": 2, "DeleteEndpointConfig": 1}
    for operation, count in throttled.items():
        airflow_aws.fail_api(operation, "ThrottlingException", count=count)
    run, states = run_dag(DAG_ID, dict(datasets))
    assert str(run.state) == "success", states
    requests = airflow_aws.requests()
    for operation, count in throttled.items():
        statuses = [r["status"] for r in requests if r["action"] == operation]
        assert statuses[:count] == [400] * count and 200 in statuses, (operation, statuses)
    assert leftovers(aws) == {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}


def test_no_training_capacity_fails_the_run_as_aws_reports_it(airflow_db, airflow_aws, aws, datasets, capfd):
    airflow_aws.fail_next_training_job_for_capacity()
    run, states = run_dag(DAG_ID, {**datasets, "capacity_retries": 0})  # retries: test_capacity_retry_run
    assert str(run.state) == "failed" and states["train"] == "failed"
    assert CAPACITY_ERROR in capfd.readouterr().out
    assert not {"CreateModel", "CreateEndpointConfig", "CreateEndpoint"} & set(airflow_aws.actions("sagemaker"))
    assert leftovers(aws) == {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}
