"""The fault matrix of issue 11 (transient, outage, region, capacity) on the REAL Airflow services (api-server,
scheduler, dag-processor, triggerer; tests/airflow_stack.py) and the strict emulator. One stack serves every
scenario (module fixture, its own work dir and short back-offs); each scenario ends with no endpoint, endpoint
config, model or running training job of the run left, and at most one CreateTrainingJob (capacity attempts aside).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sagemaker_mlops.reaper.rules import TTL_VARIABLE

from airflow_stack import Stack
from constants import REPO
from services import form_defaults, ui_trigger_body

pytestmark = [pytest.mark.e2e, pytest.mark.airflow_services]

PIPELINE1 = "mnist_train_deploy"
REAPER = "sagemaker_mlops_reaper"
OTHER_REGION = "eu-west-1"  # the connection says us-east-1
TEARDOWN_RETRY_SECONDS = 3
RUN_TIMEOUT = 300
# Longer than the first attempt's capacity failure, the back-off and its trigger take; shorter than -a2 trains.
SCHEDULER_LAG_SECONDS = 10


@pytest.fixture(scope="module")
def stack() -> Any:
    stack = Stack(
        REPO / ".local" / "services-faults",
        {"SAGEMAKER_MLOPS_CAPACITY_BACKOFF_SECONDS": "2", "SAGEMAKER_MLOPS_TEARDOWN_RETRY_SECONDS": "3"},
    )
    stack.start()
    try:
        af = stack.airflow
        af.api("PATCH", "/api/v2/dags/mnist_incremental_spot", {"is_paused": True})  # pipeline 1's Asset starts it
        af.wait_dag(REAPER)
        yield stack
    finally:
        stack.stop_and_verify()


def _control(stack: Stack) -> Any:
    from aws_emulator.control import EmulatorControl

    return EmulatorControl(stack.local.emulator_url)


def _client(stack: Stack, service: str, region: str = "us-east-1") -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=stack.local.emulator_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _leftovers(stack: Stack, region: str = "us-east-1") -> dict[str, list[str]]:
    from dag_runs import leftovers

    return leftovers(lambda service: _client(stack, service, region))


NOTHING_LEFT = {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}


def _trigger(stack: Stack, dag_id: str = PIPELINE1, **overrides: Any) -> str:
    af, local = stack.airflow, stack.local
    conf = {**form_defaults(af.api("GET", f"/api/v2/dags/{dag_id}/details")), **overrides}
    if dag_id == PIPELINE1:
        conf |= {
            "dataset_url": f"{local.dataset_url}/r/batch1.zip",
            "dataset_sha256": local.dataset_sha256("batch1.zip"),
        }
    return af.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", ui_trigger_body(conf))["dag_run_id"]


def _states(stack: Stack, dag_id: str, run_id: str) -> tuple[str, dict[str, str]]:
    from urllib.parse import quote

    af, path = stack.airflow, f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
    tis = af.api("GET", f"{path}/taskInstances")["task_instances"]
    return af.api("GET", path)["state"], {ti["task_id"]: ti["state"] for ti in tis}


def _wait(stack: Stack, run_id: str, dag_id: str = PIPELINE1, until: Any = None) -> tuple[str, dict[str, str]]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        stack.airflow.snapshot_pids()
        state, states = _states(stack, dag_id, run_id)
        done = until(states) if until else state in ("success", "failed")
        if done or time.monotonic() > deadline:
            return state, states
        time.sleep(1)


def _log(stack: Stack, run_id: str, task_id: str, tries: int = 1) -> str:
    from test_real_services import _task_log

    return "\n".join(
        str(e) for n in range(1, tries + 1) for e in _task_log(stack.airflow, PIPELINE1, run_id, task_id, n)
    )


def _wait_for_call(control: Any, action: str, timeout: float = RUN_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while action not in control.actions("sagemaker"):
        assert time.monotonic() < deadline, f"no {action} within {timeout} s"
        time.sleep(0.2)


def _report(stack: Stack, run_id: str) -> dict[str, Any]:
    """The reaper run's JSON report (its task's return value): what it removed, kept, and why."""
    from urllib.parse import quote

    path = f"/api/v2/dags/{REAPER}/dagRuns/{quote(run_id, safe='')}/taskInstances/reap/xcomEntries/return_value"
    return stack.airflow.api("GET", path)["value"]


def _creates(stack: Stack) -> int:
    return _control(stack).actions("sagemaker").count("CreateTrainingJob")


def test_describe_throttled_during_the_wait_still_succeeds_and_stops_nothing(stack: Stack) -> None:
    control = _control(stack)
    control.clear_requests()
    run_id = _trigger(stack)
    _, states = _wait(stack, run_id, until=lambda s: s.get("train") == "deferred")
    assert states.get("train") == "deferred", states
    # Longer than the clients' own retries (the provider's waiter retries throttling without counting attempts;
    # a wait that still errors while the job runs re-defers: tests/test_training_rewait.py).
    control.fail_api("DescribeTrainingJob", "ThrottlingException", seconds=25)
    state, states = _wait(stack, run_id)
    assert state == "success", states
    assert "ThrottlingException" in _log(stack, run_id, "train")
    assert "StopTrainingJob" not in control.actions("sagemaker") and _creates(stack) == 1
    assert _leftovers(stack) == NOTHING_LEFT


def test_a_run_in_another_region_than_the_connection_s_succeeds_there(stack: Stack) -> None:
    _control(stack).clear_requests()
    # A form bucket other than the Variable's must be listed by an admin (issue 20: the form chooses within it).
    stack.airflow.api(
        "POST", "/api/v2/variables", {"key": "sagemaker_mlops_allowed_buckets", "value": "mlops-faults-euw1"}
    )
    run_id = _trigger(stack, region=OTHER_REGION, bucket="mlops-faults-euw1", create_bucket=True)
    state, states = _wait(stack, run_id)
    assert state == "success", states
    jobs = _client(stack, "sagemaker", OTHER_REGION).list_training_jobs()["TrainingJobSummaries"]
    assert len(jobs) == 1 and jobs[0]["TrainingJobArn"].split(":")[3] == OTHER_REGION
    assert _creates(stack) == 1
    assert _leftovers(stack, OTHER_REGION) == NOTHING_LEFT and _leftovers(stack) == NOTHING_LEFT


def test_a_capacity_failure_on_the_first_attempt_is_retried_and_the_run_succeeds(stack: Stack) -> None:
    control = _control(stack)
    control.clear_requests()
    control.fail_next_training_job_for_capacity()
    run_id = _trigger(stack)
    # The scheduler lags (a loaded host) from the first CreateTrainingJob until after the back-off: a back-off
    # deferred this briefly fired before the scheduler processed the executor's report of the deferral, and
    # Airflow 3.3.1 then failed the resumed attempt, which had created -a2 (apache/airflow#72716; the capacity
    # back-off is slept in the worker unless it is long: operators.MIN_DEFER_SECONDS).
    _wait_for_call(control, "CreateTrainingJob")
    with stack.airflow.paused("scheduler"):
        time.sleep(SCHEDULER_LAG_SECONDS)
    state, states = _wait(stack, run_id)
    assert state == "success", states
    assert _creates(stack) == 2
    names = [r for r in control.requests() if r["action"] == "CreateTrainingJob"]
    log = _log(stack, run_id, "train")
    assert "CapacityError" in log and "Attempt 2 of 3" in log and "ml.g4dn.xlarge" in log, log[-2000:]
    assert len(names) == 2 and _leftovers(stack) == NOTHING_LEFT


def test_a_delete_endpoint_outage_fails_the_run_naming_it_and_the_reaper_removes_it(stack: Stack) -> None:
    control = _control(stack)
    control.clear_requests()
    control.fail_api("DeleteEndpoint", "InternalFailure", seconds=900)
    run_id = _trigger(stack)
    state, states = _wait(stack, run_id)
    control.fail_api("DeleteEndpoint", "InternalFailure", seconds=0)  # the outage is over
    assert state == "failed" and states["delete_endpoint"] == "failed", states
    endpoints = _leftovers(stack)["endpoints"]
    assert len(endpoints) == 1
    assert f"endpoint {endpoints[0]} is left" in _log(stack, run_id, "delete_endpoint", tries=3)
    assert _creates(stack) == 1

    # A day on: its mlops:expires-at has passed, and so has the reaper's TTL, which counts from the deployment
    # (the later of the two decides: reaper/rules.py). The tags are set in the past and the TTL (Variable
    # sagemaker_mlops_reaper_ttl_hours) to ~1 s, since the teardown's tries alone took over a minute.
    sm = _client(stack, "sagemaker")
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for arn in (
        [sm.describe_endpoint(EndpointName=endpoints[0])["EndpointArn"]]
        + [
            sm.describe_endpoint_config(EndpointConfigName=c)["EndpointConfigArn"]
            for c in _leftovers(stack)["endpoint_configs"]
        ]
        + [sm.describe_model(ModelName=m)["ModelArn"] for m in _leftovers(stack)["models"]]
    ):
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "mlops:expires-at", "Value": past}])
    stack.airflow.api("POST", "/api/v2/variables", {"key": TTL_VARIABLE, "value": "0.0003"})
    try:
        reaper_run = _trigger(stack, REAPER, dry_run=False)
        state, states = _wait(stack, reaper_run, dag_id=REAPER)
    finally:
        stack.airflow.api("DELETE", f"/api/v2/variables/{TTL_VARIABLE}")
    assert state == "success", states
    assert _leftovers(stack) == NOTHING_LEFT, _report(stack, reaper_run)
