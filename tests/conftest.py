"""Shared fixtures: one in-process emulator on a free loopback port for the whole session, reset per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/service-role/AmazonSageMaker-ExecutionRole"
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
