"""What every capability's Airflow tasks share: the connection, the poll interval, the model Assets, the AWS clients
(through the provider's hooks, so the connection's ``endpoint_url`` and credentials apply everywhere), the record
written next to a model, failing fast on bad input, and the teardown wiring. No capability imports here."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.core.validation import JobEnded, ParamError

AWS_CONN_ID = "aws_default"


# Poll interval of every SageMaker wait (deferred triggers and sensors). 30 s suits real AWS; the emulator run
# sets it to a few seconds.
POLL_SECONDS = int(os.environ.get("SAGEMAKER_MLOPS_POLL_SECONDS", "30"))


# Pipeline 1 publishes MODEL_ASSET (which starts pipeline 2); pipeline 2 publishes a promoted model as
# CHAMPION_ASSET (a separate Asset, so a promotion does not re-trigger pipeline 2 itself).
MODEL_ASSET = Asset(name="sagemaker_mlops.mnist_image_classifier")


CHAMPION_ASSET = Asset(name="sagemaker_mlops.mnist_image_classifier_champion")


CONFIG_TASK = "validate_and_preflight"


# Every task has an execution_timeout (issue 20): a hung call must not hold a worker slot for ever. TASK_TIMEOUT is
# the DAGs' default (default_args); a task that waits on AWS sets its own from the longest wait its request allows
# (aws_wait_timeout), so AWS's own limit, not Airflow's, ends a long job.
TASK_TIMEOUT = timedelta(hours=1)
TIMEOUT_MARGIN = timedelta(minutes=30)


def aws_wait_timeout(wait_seconds: float) -> timedelta:
    """execution_timeout for a task that waits up to ``wait_seconds`` on AWS: the wait plus TIMEOUT_MARGIN."""
    return timedelta(seconds=wait_seconds) + TIMEOUT_MARGIN


def sagemaker_client(cfg: RunConfig) -> Any:
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    return SageMakerHook(aws_conn_id=cfg.aws_conn_id, region_name=cfg.region).conn


def aws_client(cfg: RunConfig, client_type: str) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=cfg.aws_conn_id, client_type=client_type, region_name=cfg.region).conn


def s3_hook(cfg: RunConfig) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=cfg.aws_conn_id, region_name=cfg.region)


def store_beside_model(s3: Any, result: dict[str, Any], name: str, content: Any) -> str:
    """Writes a run's record (report, smoke test, promotion decision) next to its model.tar.gz; JSON unless text."""
    key = f"{result['model_artifact'].rsplit('/', 1)[0]}/{name}"
    text = content if isinstance(content, str) else json.dumps(content, indent=2, default=str)
    s3.load_string(text, key, replace=True)
    return key


@contextmanager
def bad_input_fails_fast() -> Iterator[None]:
    """Bad input, or a job that already ended Failed/Stopped, is not transient: fail at once (no retries), with
    the field or reason and the fix in the message."""
    try:
        yield
    except (ParamError, JobEnded) as err:
        raise AirflowFailException(str(err)) from err


def teardown_of(task_output: Any, setups: Any) -> Any:
    """Make a task a teardown of ``setups``: it runs after success, failure or upstream failure, and its own failure
    (a resource that could not be deleted) fails the run. Applied in the DAG file rather than with ``@teardown``,
    whose decorator cannot be called twice (Airflow 3.3 keeps the forced trigger rule), as two DAGs do here."""
    return task_output.as_teardown(setups=setups, on_failure_fail_dagrun=True)
