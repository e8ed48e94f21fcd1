"""Pipeline 1 on the CeleryExecutor — MWAA's executor — with two workers that share no disk.

The real services (include/dev/celery_services.py): Debian's ``redis-server`` (broker and result backend, started
here), the api-server, a CeleryExecutor scheduler, the dag-processor, the triggerer and two Celery workers with
separate ``SAGEMAKER_MLOPS_DATA_DIR`` folders and hostnames. Pipeline 1 is triggered through the REST API with
the Trigger form's body; the run must succeed, and the task-instance records (``hostname``) must show that tasks
ran on both workers — so no task relied on a file an earlier task left on another worker's disk. When the
services stop, no process of this Airflow home (workers, their pool processes, Redis) is left.
Timings on 2 cores: services up in ~45 s, the run ~70 s.
"""

from __future__ import annotations

import shutil
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest
from celery_services import CeleryAirflowServices

from local_stack import LocalStack
from services import form_defaults, ui_trigger_body

REPO = Path(__file__).resolve().parents[1]

WORK = REPO / ".local" / "celery-services"
PIPELINE1 = "mnist_train_deploy"
WORKERS = ("worker-a", "worker-b")
RUN_TIMEOUT = 420

pytestmark = pytest.mark.e2e


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def test_pipeline1_on_the_celery_executor_runs_across_two_workers_with_separate_disks() -> None:
    from aws_emulator.control import EmulatorControl

    if not shutil.which("redis-server"):
        pytest.fail("redis-server missing: `make test` installs it (include/dev/redis_setup.sh)")
    shutil.rmtree(WORK, ignore_errors=True)
    timings: dict[str, float] = {}
    started = time.monotonic()
    with LocalStack(WORK) as local:
        EmulatorControl(local.emulator_url).settings(epoch_seconds=3.0, endpoint_create_seconds=6.0)
        env = local.airflow_env(WORK / "airflow", poll_seconds=2)
        af = CeleryAirflowServices(
            WORK / "airflow", env, dag_ids=("mnist_train_deploy", "mnist_incremental_spot"), workers=WORKERS
        )
        with af:
            timings["up_s"] = round(time.monotonic() - started, 1)
            af.api("PATCH", "/api/v2/dags/mnist_incremental_spot", {"is_paused": True})
            conf = {
                **form_defaults(af.api("GET", f"/api/v2/dags/{PIPELINE1}/details")),
                "dataset_url": f"{local.dataset_url}/r/batch1.zip",
            }
            run = af.api("POST", f"/api/v2/dags/{PIPELINE1}/dagRuns", ui_trigger_body(conf))
            run_id, run_started = run["dag_run_id"], time.monotonic()
            while run["state"] not in ("success", "failed") and time.monotonic() - run_started < RUN_TIMEOUT:
                af.snapshot_pids()
                time.sleep(2)
                run = af.api("GET", f"/api/v2/dags/{PIPELINE1}/dagRuns/{_q(run_id)}")
            timings["run_s"] = round(time.monotonic() - run_started, 1)
            tis = af.api("GET", f"/api/v2/dags/{PIPELINE1}/dagRuns/{_q(run_id)}/taskInstances")["task_instances"]
            ran = {ti["task_id"]: ti["hostname"] for ti in tis if ti["state"] == "success"}
            states = {ti["task_id"]: ti["state"] for ti in tis}
            assert run["state"] == "success", (states, f"logs: {af.logs}, {af.home / 'logs'}")
            per_worker = Counter(ran.values())
            print(f"\n[celery] {PIPELINE1} {run['state']}; tasks per worker {dict(per_worker)}; {ran}")
            assert set(per_worker) == set(WORKERS), per_worker
            # Each worker used its own disk: the download landed in the data folder of the worker that ran it, and
            # the upload read the dataset from its own worker's folder (fetched again there when that is another
            # worker), never from a path on the other worker's disk.
            for task_id in ("download_dataset", "upload_dataset"):
                extracted = af.data_dir(ran[task_id]) / "extracted"
                assert extracted.is_dir() and any(extracted.iterdir()), (task_id, ran[task_id])
            stop_started = time.monotonic()
    timings["stop_s"] = round(time.monotonic() - stop_started, 1)
    left = af.alive_pids() + [p.pid for p in af.processes_of_this_home()]
    print(f"[celery] timings {timings}; {len(af.pids_seen)} processes seen, left {sorted(set(left))}")
    assert not left, sorted(set(left))
