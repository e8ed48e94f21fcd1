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
import time
import urllib.parse
from typing import Any

import pytest

from airflow_stack import DAG_IDS, Stack
from services import AirflowServices, ApiError, form_defaults, ui_trigger_body

pytestmark = [pytest.mark.e2e, pytest.mark.airflow_services]

PIPELINE1 = "mnist_train_deploy"
DEFERRED_TASKS = ("train", "create_endpoint")
RUN_TIMEOUT = 360


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
    assert {
        part: health[part]["status"] for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
    } == dict.fromkeys(("metadatabase", "scheduler", "triggerer", "dag_processor"), "healthy")

    # 2. trigger as the UI's form does: the form's values (defaults) with the dataset fields filled in
    details = af.api("GET", f"/api/v2/dags/{PIPELINE1}/details")
    conf = {
        **form_defaults(details),
        "dataset_url": f"{local.dataset_url}/r/batch1.zip",
        "dataset_sha256": local.dataset_sha256("batch1.zip"),
    }
    started = time.monotonic()
    run = af.api("POST", f"/api/v2/dags/{PIPELINE1}/dagRuns", ui_trigger_body(conf))
    run_id = run["dag_run_id"]
    assert run["state"] == "queued" and run["conf"] == conf and run["run_type"] == "manual"
    run, states = _wait_for_run(airflow_stack, PIPELINE1, run_id)
    airflow_stack.timings["pipeline1_run_s"] = round(time.monotonic() - started, 1)
    print(f"[services] {PIPELINE1} run {run_id}: {run['state']} in {airflow_stack.timings['pipeline1_run_s']} s")
    assert run["state"] == "success", (states, f"logs: {af.logs}, {af.home / 'logs'}")
    assert states["train"] == "success" and states["reattach_training"] == "skipped"
    assert {
        states[t]
        for t in (
            "create_endpoint",
            "smoke_test",
            "publish_model",
            "delete_endpoint",
            "delete_endpoint_config",
            "delete_model",
        )
    } == {"success"}
    sm = local.client("sagemaker")
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []

    # 3. the SageMaker waits were deferred to the triggerer
    triggerers = af.api("GET", "/api/v2/jobs", params={"job_type": "TriggererJob", "is_alive": "true"})["jobs"]
    assert triggerers, "no live triggerer job"
    triggerer_ids = {job["id"] for job in triggerers}
    for task_id in DEFERRED_TASKS:
        events = af.api(
            "GET",
            "/api/v2/eventLogs",
            params={"dag_id": PIPELINE1, "run_id": run_id, "task_id": task_id, "order_by": "id", "limit": 100},
        )["event_logs"]
        history = [(e["event"], e["try_number"]) for e in events]
        print(f"[services]   audit log of {task_id}: {history}")
        assert history == [("running", 1), ("deferred", 1), ("running", 1), ("success", 1)], history

        log = _task_log(af, PIPELINE1, run_id, task_id, 1)
        texts = [str(e.get("event", "")) for e in log]
        trigger_files = [t for t in texts if ".log.trigger." in t]
        assert any(t.startswith("Pausing task as DEFERRED") for t in texts), texts[-30:]
        assert any(
            t.startswith("trigger ") and f"/{task_id}/-1/1 (ID " in t and t.endswith("starting") for t in texts
        ), texts[-30:]
        fired = [e for e in log if e.get("event") == "Trigger fired event"]
        assert fired and "'status': 'success'" in str(fired[0].get("result")), fired
        # the trigger's log file is named after the triggerer job that ran it: the live one
        assert (
            trigger_files and {int(t.rsplit(".trigger.", 1)[1].split(".")[0]) for t in trigger_files} <= triggerer_ids
        ), (trigger_files, triggerer_ids)
        print(
            f"[services]   {task_id}: 'Pausing task as DEFERRED', trigger run by triggerer job "
            f"{sorted(triggerer_ids)}, fired {fired[0].get('result')}"
        )

    # invalid conf is refused before any run is created (the server validates against the Params' schema)
    before = af.api("GET", f"/api/v2/dags/{PIPELINE1}/dagRuns")["total_entries"]
    with pytest.raises(ApiError) as err:
        af.api("POST", f"/api/v2/dags/{PIPELINE1}/dagRuns", ui_trigger_body({**conf, "smoke_sample_size": -1}))
    assert err.value.status in (400, 422) and "smoke_sample_size" in err.value.body
    assert af.api("GET", f"/api/v2/dags/{PIPELINE1}/dagRuns")["total_entries"] == before
    print(f"[services] timings: {json.dumps(airflow_stack.timings)}")
