"""Pipeline 1 on the REAL Airflow 3.3.1 services, triggered the way a person triggers it.

Where the other pipeline tests run a DAG in one process (``dag.test``, in which deferred triggers run inline),
this starts what a deployment runs — ``airflow api-server``, ``scheduler`` (LocalExecutor), ``dag-processor`` and
``triggerer``, on SQLite (include/dev/services.py) — beside the AWS emulator and the dataset server
(include/dev/local_stack.py), and proves that:

1. the dag-processor parses both DAGs and the REST API lists them, unpaused;
2. a run started through the REST API with the body the UI's Trigger form posts (every Param in ``conf``;
   tests/test_ui_browser.py checks the shape against what the UI really sends) is scheduled, executed by the
   LocalExecutor's workers through the Task Execution API, and succeeds;
3. the SageMaker waits — ``train`` (training job) and ``create_endpoint`` (endpoint InService) — were handed to
   the triggerer and did not hold a worker: the audit log (``GET /api/v2/eventLogs``) records each of them going
   ``running -> deferred -> running -> success`` within one try, and the task's log (``GET .../logs/1``) holds the
   worker's "Pausing task as DEFERRED" and, from the triggerer, "trigger ... starting" and "Trigger fired event"
   with the SageMaker job's success — in the trigger log file named after the running triggerer's job id;
4. when the services stop (fixture teardown, after every test of the session that shares them), nothing is left:
   the api-server, emulator and dataset ports are closed and no process of this Airflow home remains.

Pipeline 2 (``mnist_incremental_spot``) is paused first: pipeline 1 publishes the model Asset that would start it.
Timings on 2 cores: services up in ~35 s, the run ~55 s.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include" / "dev"))

from local_stack import LocalStack
from services import AirflowServices, ApiError, form_defaults, ui_trigger_body

WORK = REPO / ".local" / "services"
DAG_IDS = ("mnist_train_deploy", "mnist_incremental_spot")
PIPELINE1 = "mnist_train_deploy"
DEFERRED_TASKS = ("train", "create_endpoint")
RUN_TIMEOUT = 360


class Stack:
    """The emulator, the dataset server and the Airflow services, shared by the tests of one session."""

    def __init__(self) -> None:
        self.local: LocalStack | None = None
        self.airflow: AirflowServices | None = None
        self.users = 0
        self.timings: dict[str, float] = {}

    def start(self) -> None:
        from aws_emulator.control import EmulatorControl

        started = time.monotonic()
        shutil.rmtree(WORK / "airflow", ignore_errors=True)  # a fresh metadata DB each session
        self.local = LocalStack(WORK).__enter__()
        try:
            # Long enough that each wait is still in progress when the operator first looks (so it defers),
            # short enough for a quick run: training ~11 s, endpoint creation 6 s.
            EmulatorControl(self.local.emulator_url).settings(epoch_seconds=3.0, endpoint_create_seconds=6.0)
            env = self.local.airflow_env(WORK / "airflow", poll_seconds=2)
            self.airflow = AirflowServices(WORK / "airflow", env, dag_ids=DAG_IDS).__enter__()
        except BaseException:
            self.local.__exit__()
            raise
        self.timings["services_up_s"] = round(time.monotonic() - started, 1)
        print(f"\n[services] Airflow {self.airflow.url} (logs {self.airflow.logs}), emulator "
              f"{self.local.emulator_url}, datasets {self.local.dataset_url}: up in {self.timings['services_up_s']} s")

    def stop_and_verify(self) -> None:
        """Stops everything, then fails (teardown error) if a port is still open or a process is left."""
        assert self.local is not None and self.airflow is not None
        started = time.monotonic()
        ports = [self.airflow.port, _port(self.local.emulator_url), _port(self.local.dataset_url)]
        local_pids = [p.pid for p in self.local.procs]
        try:
            self.airflow.__exit__(None, None, None)
        finally:
            self.local.__exit__()
        self.timings["stop_s"] = round(time.monotonic() - started, 1)
        open_ports = [p for p in ports if _port_open(p)]
        left = self.airflow.alive_pids() + [p.pid for p in self.airflow.processes_of_this_home()]
        left += [pid for pid in local_pids if _alive(pid)]
        children = _children_named(("airflow", "aws_emulator", "local_datasets"))
        print(f"\n[services] stopped in {self.timings['stop_s']} s: ports {ports} open={open_ports}, "
              f"{len(self.airflow.pids_seen)} service processes seen, left={sorted(set(left))}, "
              f"children={children}")
        assert not open_ports, f"ports still open after stop: {open_ports}"
        assert not left, f"processes left after stop: {sorted(set(left))}"
        assert not children, f"child processes left after stop: {children}"


_STACK = Stack()


def shared_stack() -> Iterator[Stack]:
    """The body of the session fixture ``airflow_stack`` of this module and of tests/test_ui_browser.py: the
    services start for the first user and stop — checked to be fully stopped — when the last one is done."""
    if _STACK.users == 0:
        _STACK.start()
    _STACK.users += 1
    try:
        yield _STACK
    finally:
        _STACK.users -= 1
        if _STACK.users == 0:
            _STACK.stop_and_verify()


@pytest.fixture(scope="session")
def airflow_stack() -> Iterator[Stack]:
    yield from shared_stack()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _children_named(names: tuple[str, ...]) -> list[str]:
    import psutil

    found = []
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
            if child.status() != psutil.STATUS_ZOMBIE and any(n in cmd for n in names):
                found.append(f"{child.pid}: {cmd[:120]}")
        except psutil.NoSuchProcess:
            pass
    return found


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _task_log(af: AirflowServices, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[dict[str, Any]]:
    """The task's whole log through the REST API (worker and triggerer parts), as structured entries."""
    path = f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/{task_id}/logs/{try_number}"
    entries: list[dict[str, Any]] = []
    token = None
    for _ in range(50):
        params: dict[str, Any] = {"full_content": "true"}
        if token:
            params["token"] = token
        page = af.api("GET", path, params=params)
        content = page.get("content") or []
        entries += [e if isinstance(e, dict) else {"event": str(e)} for e in content]
        token = page.get("continuation_token")
        if not token or not content:
            break
    return entries


def _wait_for_run(stack: Stack, dag_id: str, run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    af = stack.airflow
    assert af is not None
    deadline = time.monotonic() + RUN_TIMEOUT
    states: dict[str, str] = {}
    while True:
        af.snapshot_pids()  # task processes come and go: remember them for the "nothing left" check
        run = af.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}")
        tis = af.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances")["task_instances"]
        states = {ti["task_id"]: ti["state"] for ti in tis}
        if run["state"] in ("success", "failed") or time.monotonic() > deadline:
            return run, states
        time.sleep(1)


def test_pipeline1_triggered_through_the_api_runs_on_the_real_services_with_deferred_waits(airflow_stack):
    af, local = airflow_stack.airflow, airflow_stack.local
    # 1. both DAGs parsed and listed, unpaused at creation; pipeline 2 then paused (pipeline 1's Asset starts it)
    dags = {d["dag_id"]: d for d in af.api("GET", "/api/v2/dags", params={"dag_id_pattern": "mnist"})["dags"]}
    assert set(DAG_IDS) <= set(dags), dags.keys()
    assert not dags[PIPELINE1]["is_paused"]
    assert af.api("PATCH", "/api/v2/dags/mnist_incremental_spot", {"is_paused": True})["is_paused"] is True
    health = af.health()
    assert {part: health[part]["status"] for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")} \
        == dict.fromkeys(("metadatabase", "scheduler", "triggerer", "dag_processor"), "healthy")

    # 2. trigger as the UI's form does: the form's values (defaults) with the dataset fields filled in
    details = af.api("GET", f"/api/v2/dags/{PIPELINE1}/details")
    conf = {**form_defaults(details), "dataset_url": f"{local.dataset_url}/r/batch1.zip",
            "dataset_sha256": local.dataset_sha256("batch1.zip")}
    started = time.monotonic()
    run = af.api("POST", f"/api/v2/dags/{PIPELINE1}/dagRuns", ui_trigger_body(conf))
    run_id = run["dag_run_id"]
    assert run["state"] == "queued" and run["conf"] == conf and run["run_type"] == "manual"
    run, states = _wait_for_run(airflow_stack, PIPELINE1, run_id)
    airflow_stack.timings["pipeline1_run_s"] = round(time.monotonic() - started, 1)
    print(f"[services] {PIPELINE1} run {run_id}: {run['state']} in {airflow_stack.timings['pipeline1_run_s']} s")
    assert run["state"] == "success", (states, f"logs: {af.logs}, {af.home / 'logs'}")
    assert states["train"] == "success" and states["reattach_training"] == "skipped"
    assert {states[t] for t in ("create_endpoint", "smoke_test", "publish_model", "delete_endpoint",
                                "delete_endpoint_config", "delete_model")} == {"success"}
    sm = local.client("sagemaker")
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []

    # 3. the SageMaker waits were deferred to the triggerer
    triggerers = af.api("GET", "/api/v2/jobs", params={"job_type": "TriggererJob", "is_alive": "true"})["jobs"]
    assert triggerers, "no live triggerer job"
    triggerer_ids = {job["id"] for job in triggerers}
    for task_id in DEFERRED_TASKS:
        events = af.api("GET", "/api/v2/eventLogs", params={
            "dag_id": PIPELINE1, "run_id": run_id, "task_id": task_id, "order_by": "id", "limit": 100})["event_logs"]
        history = [(e["event"], e["try_number"]) for e in events]
        print(f"[services]   audit log of {task_id}: {history}")
        assert history == [("running", 1), ("deferred", 1), ("running", 1), ("success", 1)], history

        log = _task_log(af, PIPELINE1, run_id, task_id, 1)
        texts = [str(e.get("event", "")) for e in log]
        trigger_files = [t for t in texts if ".log.trigger." in t]
        assert any(t.startswith("Pausing task as DEFERRED") for t in texts), texts[-30:]
        assert any(t.startswith("trigger ") and f"/{task_id}/-1/1 (ID " in t and t.endswith("starting")
                   for t in texts), texts[-30:]
        fired = [e for e in log if e.get("event") == "Trigger fired event"]
        assert fired and "'status': 'success'" in str(fired[0].get("result")), fired
        # the trigger's log file is named after the triggerer job that ran it: the live one
        assert trigger_files and {int(t.rsplit(".trigger.", 1)[1].split(".")[0]) for t in trigger_files} \
            <= triggerer_ids, (trigger_files, triggerer_ids)
        print(f"[services]   {task_id}: 'Pausing task as DEFERRED', trigger run by triggerer job "
              f"{sorted(triggerer_ids)}, fired {fired[0].get('result')}")

    # invalid conf is refused before any run is created (the server validates against the Params' schema)
    before = af.api("GET", f"/api/v2/dags/{PIPELINE1}/dagRuns")["total_entries"]
    with pytest.raises(ApiError) as err:
        af.api("POST", f"/api/v2/dags/{PIPELINE1}/dagRuns", ui_trigger_body({**conf, "smoke_sample_size": -1}))
    assert err.value.status in (400, 422) and "smoke_sample_size" in err.value.body
    assert af.api("GET", f"/api/v2/dags/{PIPELINE1}/dagRuns")["total_entries"] == before
    print(f"[services] timings: {json.dumps(airflow_stack.timings)}")
