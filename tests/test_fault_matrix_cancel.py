"""The fault matrix, cancel/kill/restart half (issue 11): pipeline 1 on the REAL Airflow services and the strict
emulator, cancelled or disturbed the way a person or a machine does it, never leaves anything billing.

Every scenario triggers ``mnist_train_deploy`` through the REST API (the UI form's body), acts on it at the right
moment, waits for the run to end and then asserts, through the emulator, that no endpoint, endpoint config,
model or running training job is left and that at most one CreateTrainingJob was answered.

- The run marked failed (REST ``PATCH dagRun state=failed``) while ``train`` or ``create_endpoint`` is deferred:
  Airflow 3.3 keeps the run going for its teardowns and used to end it ``success``; the ``run_outcome`` watcher
  (sagemaker_mlops/run/outcome.py) makes it end ``failed``. The deferred task has no process to kill: its trigger is
  cancelled, and the teardowns stop the job / delete the endpoint.
- ``train`` marked failed while deferred; ``train``'s task process killed with SIGKILL while it runs (held there
  by throttled CloudWatch Logs calls, right after CreateTrainingJob): no ``on_kill`` can run, the
  ``stop_training_if_running`` teardown stops the job.
- The triggerer killed with SIGKILL while ``train`` is deferred, then restarted; the scheduler stopped and
  restarted while ``train`` is deferred: the run still succeeds, with one training job.

The services are the session's (tests/airflow_stack.py, shared with test_real_services.py); the restart scenarios
leave them running and healthy.
"""

from __future__ import annotations

import signal
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services import AirflowServices, form_defaults, ui_trigger_body

pytestmark = [pytest.mark.e2e, pytest.mark.airflow_services]

DAG_ID = "mnist_train_deploy"
RUN_TIMEOUT = 300
LONG_EPOCH_SECONDS = 60.0
NOTHING_LEFT = {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class Scenario:
    """One run of pipeline 1 on the shared services: trigger, watch its task states, read back the emulator."""

    def __init__(self, stack: Any) -> None:
        from aws_emulator.control import EmulatorControl

        self.stack = stack
        self.af: AirflowServices = stack.airflow
        self.control = EmulatorControl(stack.local.emulator_url)
        self.sm = stack.local.client("sagemaker")
        self.jobs_before = self._job_names()
        self.control.clear_requests()
        details = self.af.api("GET", f"/api/v2/dags/{DAG_ID}/details")
        conf = {
            **form_defaults(details),
            "dataset_url": f"{stack.local.dataset_url}/r/batch1.zip",
            "dataset_sha256": stack.local.dataset_sha256("batch1.zip"),
        }
        self.run_id = self.af.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", ui_trigger_body(conf))["dag_run_id"]
        self.run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{_q(self.run_id)}"

    def _job_names(self) -> set[str]:
        return {j["TrainingJobName"] for j in self.sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]}

    def states(self) -> dict[str, str | None]:
        tis = self.af.api("GET", f"{self.run_path}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in tis}

    def wait_until(self, what: str, done: Callable[[dict[str, str | None]], bool], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.af.snapshot_pids()
            states = self.states()
            if done(states):
                return
            run = self.af.api("GET", self.run_path)
            assert run["state"] not in ("success", "failed"), f"run ended {run['state']} before {what}: {states}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {states}"
            time.sleep(0.3)

    def wait_deferred(self, task_id: str) -> None:
        self.wait_until(f"{task_id} deferred", lambda s: s.get(task_id) == "deferred")

    def finish(self) -> tuple[str, dict[str, str | None]]:
        """Waits for the run to end; returns its state and task states."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            self.af.snapshot_pids()
            run = self.af.api("GET", self.run_path)
            if run["state"] in ("success", "failed"):
                return run["state"], self.states()
            assert time.monotonic() < deadline, f"run still {run['state']}: {self.states()}"
            time.sleep(1)

    def job(self) -> dict[str, Any]:
        """This run's one training job (jobs are never deleted: the new name is this run's)."""
        new = self._job_names() - self.jobs_before
        assert len(new) == 1, new
        return self.sm.describe_training_job(TrainingJobName=new.pop())

    def job_status_after_stop(self) -> str:
        """The job's status once a stop has taken effect (Stopping lasts a moment)."""
        deadline = time.monotonic() + 30
        while (status := self.job()["TrainingJobStatus"]) == "Stopping" and time.monotonic() < deadline:
            time.sleep(0.5)
        return status

    def assert_nothing_left(self) -> None:
        sm = self.sm
        left = {
            "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
            "endpoint_configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
            "models": [m["ModelName"] for m in sm.list_models()["Models"]],
            "running_jobs": [
                j["TrainingJobName"] for j in sm.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]
            ],
        }
        assert left == NOTHING_LEFT
        creates = [r for r in self.control.requests() if r["action"] == "CreateTrainingJob" and r["status"] == 200]
        assert len(creates) <= 1, creates

    def mark_run_failed(self) -> None:
        assert self.af.api("PATCH", self.run_path, {"state": "failed"})["state"] in ("running", "failed")

    def mark_task_failed(self, task_id: str) -> None:
        self.af.api("PATCH", f"{self.run_path}/taskInstances/{task_id}", {"new_state": "failed"})


@pytest.fixture()
def scenario(airflow_stack: Any) -> Iterator[Callable[..., Scenario]]:
    """``scenario(long_training=True)``: the job trains for minutes, so it is surely still InProgress when the
    teardown looks (on a busy machine a cancelled run's teardown starts many seconds later)."""
    from aws_emulator.control import EmulatorControl

    control = EmulatorControl(airflow_stack.local.emulator_url)
    usual = control.settings()["epoch_seconds"]
    airflow_stack.airflow.api("PATCH", "/api/v2/dags/mnist_incremental_spot", {"is_paused": True})  # p1 starts it

    started: list[Scenario] = []

    def start(long_training: bool = False) -> Scenario:
        control.settings(epoch_seconds=LONG_EPOCH_SECONDS if long_training else usual)
        started.append(Scenario(airflow_stack))
        return started[-1]

    try:
        yield start
    finally:
        control.settings(epoch_seconds=usual)
        for run in started:  # a scenario that failed half-way must not hold the next run (max_active_runs=1)
            if run.af.api("GET", run.run_path)["state"] not in ("success", "failed"):
                run.mark_run_failed()
                run.finish()


def _report(name: str, started: float, state: str, states: dict[str, str | None]) -> None:
    print(f"\n[fault matrix] {name}: run {state} in {time.monotonic() - started:.0f} s; {states}")


def test_run_marked_failed_while_train_is_deferred_ends_failed_and_stops_the_job(scenario):
    started = time.monotonic()
    run = scenario(long_training=True)
    run.wait_deferred("train")
    assert run.job()["TrainingJobStatus"] == "InProgress"
    run.mark_run_failed()
    state, states = run.finish()
    _report("run marked failed, train deferred", started, state, states)
    assert state == "failed", states
    assert states["train"] == "failed" and states["training_result"] == "skipped"
    assert states["stop_training_if_running"] == "success" and states["run_outcome"] == "failed"
    assert run.job_status_after_stop() == "Stopped"
    run.assert_nothing_left()


def test_run_marked_failed_while_create_endpoint_is_deferred_ends_failed_and_deletes_everything(scenario):
    started = time.monotonic()
    run = scenario()
    run.wait_deferred("create_endpoint")
    assert [e["EndpointStatus"] for e in run.sm.list_endpoints()["Endpoints"]] == ["Creating"]
    run.mark_run_failed()
    state, states = run.finish()
    _report("run marked failed, create_endpoint deferred", started, state, states)
    assert state == "failed", states
    assert states["create_endpoint"] == "failed" and states["smoke_test"] == "skipped"
    assert {states[t] for t in ("delete_endpoint", "delete_endpoint_config", "delete_model")} == {"success"}
    assert run.job()["TrainingJobStatus"] == "Completed"
    run.assert_nothing_left()


def test_train_marked_failed_while_deferred_ends_failed_and_stops_the_job(scenario):
    started = time.monotonic()
    run = scenario(long_training=True)
    run.wait_deferred("train")
    run.mark_task_failed("train")
    state, states = run.finish()
    _report("train marked failed, deferred", started, state, states)
    assert state == "failed", states
    assert states["train"] == "failed" and states["stop_training_if_running"] == "success"
    assert run.job_status_after_stop() == "Stopped"
    run.assert_nothing_left()


def test_train_worker_killed_with_sigkill_ends_failed_and_the_teardown_stops_the_job(scenario):
    started = time.monotonic()
    run = scenario(long_training=True)
    run.wait_until("train to start", lambda s: s.get("train") in ("queued", "running"))
    # Hold train in its running phase right after it created the job: its first log tailing is throttled
    # (botocore retries with back-off), so the task process is alive, with a job InProgress, when it is killed.
    run.control.fail_api("DescribeLogStreams", seconds=20)
    deadline = time.monotonic() + 60
    while not any(r["action"] == "CreateTrainingJob" for r in run.control.requests()):
        assert time.monotonic() < deadline and run.states()["train"] in ("queued", "running"), run.states()
        time.sleep(0.1)
    ti_id = run.af.api("GET", f"{run.run_path}/taskInstances/train")["id"]
    procs = run.af.task_processes(ti_id)
    assert procs, f"no process runs train ({ti_id}): {run.states()}"
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
    state, states = run.finish()
    _report("train's task process SIGKILLed", started, state, states)
    log = run.af.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run.run_id}" / "task_id=train" / "attempt=1.log"
    assert "Process terminated by signal" in log.read_text()  # the SIGKILL, not the throttled call's own error
    assert state == "failed", states
    assert states["train"] == "failed" and states["stop_training_if_running"] == "success"
    assert run.job_status_after_stop() == "Stopped"
    run.assert_nothing_left()


def test_triggerer_killed_while_train_is_deferred_then_restarted_the_run_succeeds(scenario):
    started = time.monotonic()
    run = scenario()
    run.wait_deferred("train")
    run.af.kill("triggerer", signal.SIGKILL)
    time.sleep(3)  # the job goes on training with no one watching
    assert run.states()["train"] == "deferred"
    run.af.restart("triggerer")
    state, states = run.finish()
    _report("triggerer SIGKILLed and restarted, train deferred", started, state, states)
    assert state == "success", states
    assert states["train"] == "success" and states["run_outcome"] == "success"
    assert run.job()["TrainingJobStatus"] == "Completed"
    run.assert_nothing_left()


def test_scheduler_restarted_mid_run_the_run_succeeds(scenario):
    started = time.monotonic()
    run = scenario()
    run.wait_deferred("train")
    run.af.kill("scheduler", signal.SIGTERM)
    run.af.restart("scheduler")
    state, states = run.finish()
    _report("scheduler restarted, train deferred", started, state, states)
    assert state == "success", states
    assert states["publish_model"] == "success" and states["run_outcome"] == "success"
    run.assert_nothing_left()
