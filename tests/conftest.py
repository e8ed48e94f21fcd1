"""Shared fixtures: one in-process emulator on a free loopback port for the whole session, reset per test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
# Before anything imports Airflow: a private AIRFLOW_HOME (SQLite), this repo's dags, no examples, fast polling.
os.environ["AIRFLOW_HOME"] = str(REPO / ".local" / "test-airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["SAGEMAKER_MLOPS_POLL_SECONDS"] = "1"
os.environ["SAGEMAKER_MLOPS_DATA_DIR"] = str(REPO / ".local" / "test-worker-data")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/service-role/AmazonSageMaker-ExecutionRole"
LOOPBACK_DATASET_HOSTS = "127.0.0.1"  # any port: the test dataset servers pick free ones
FAST = {"starting_seconds": 0.05, "downloading_seconds": 0.05, "epoch_seconds": 0.05, "uploading_seconds": 0.05,
        "endpoint_create_seconds": 0.2, "endpoint_update_seconds": 0.2}


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Any]:
    from aws_emulator.server import EmulatorServer

    server = EmulatorServer("127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def emulator(emulator_server: Any) -> Iterator[Any]:
    """The emulator's control client, with all state reset and fast phase durations."""
    from aws_emulator.control import EmulatorControl

    control = EmulatorControl(emulator_server.url)
    control.reset()
    control.settings(**FAST)
    yield control
    control.reset()


@pytest.fixture()
def aws(emulator: Any) -> Callable[[str], Any]:
    """boto3 clients pointed at the emulator (tests only: product code goes through the Airflow hooks)."""
    import boto3
    from botocore.config import Config

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=emulator.url,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(retries={"max_attempts": 1}))

    return client


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata DB for in-process DAG runs, migrated once per session."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True,
                   capture_output=True, env=dict(os.environ))
    return home


@pytest.fixture()
def airflow_aws(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The aws_default connection pointed at the emulator, plus the account Variables: all a DAG needs."""
    connection = {"conn_type": "aws", "login": "testing", "password": "testing",
                  "extra": {"region_name": REGION, "endpoint_url": emulator.url}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET", "mlops-test-bucket")
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_ROLE_ARN", ROLE_ARN)
    # The tests' dataset servers are on loopback, which the download refuses unless listed (the SSRF guard).
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_ALLOWED_DATASET_HOSTS", LOOPBACK_DATASET_HOSTS)
    return emulator
