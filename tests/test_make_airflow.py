"""``make airflow``: started as the Makefile starts it, used the way a newcomer uses it, stopped with Ctrl-C.

The test runs include/dev/airflow_ui.sh (what ``make airflow`` runs) in its own process group, reads the URL,
user and password it prints, logs in with them, triggers ``mnist_train_deploy`` with the Trigger form's
defaults only (the book's dataset URLs: the Variable the target sets maps them to the local dataset server),
waits for success, then sends SIGINT to the group — what Ctrl-C in a terminal does — and checks that the command
exits 0 and that no process it started (by pid, by process group, by AIRFLOW_HOME) is left. A second start on the
same state folder still lists the run and accepts the same password: what a restart keeps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from local_stack import free_port
from services import api_request, form_defaults, login_token, ui_trigger_body

REPO = Path(__file__).resolve().parents[1]

WORK = REPO / ".local" / "make-airflow-test"
PIPELINE1 = "mnist_train_deploy"
START_TIMEOUT = 240
RUN_TIMEOUT = 360

pytestmark = pytest.mark.e2e


class MakeAirflow:
    """One ``make airflow`` process: its printed login, REST calls with it, and every pid it ever had."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.log = WORK / f"make-airflow-{time.monotonic_ns()}.out"
        WORK.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                ["bash", str(REPO / "include/dev/airflow_ui.sh"), "--port", str(port), "--work", str(WORK)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pids: set[int] = {self.proc.pid}
        self.url = self.user = self.password = ""
        self._token = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.output()
            ui = re.search(r"Airflow UI:\s+(\S+)", text)
            login = re.search(r"Log in:\s+user (\S+), password (\S+)", text)
            if ui and login:
                self.url, (self.user, self.password) = ui.group(1), login.groups()
                return
            assert self.proc.poll() is None, f"make airflow exited with {self.proc.returncode}:\n{text[-3000:]}"
            time.sleep(1)
        raise TimeoutError(f"make airflow not ready in {START_TIMEOUT}s:\n{self.output()[-3000:]}")

    def snapshot(self) -> None:
        import psutil

        try:
            self.pids |= {p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass

    def api(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        if not self._token:  # the UI's login form posts the same credentials
            self._token = login_token(self.url, self.user, self.password)
        return api_request(self.url, self._token, method, path, body, params=params)

    def ctrl_c(self) -> int:
        """SIGINT to the whole process group, as a terminal's Ctrl-C; the exit code."""
        self.snapshot()
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=90)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def leftovers(self) -> list[str]:
        """Processes of this run still alive: seen pids, its process group, or this Airflow home's."""
        import psutil

        left = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                mine = proc.pid in self.pids or os.getpgid(proc.pid) == self.proc.pid
                if not mine and proc.pid != os.getpid():
                    mine = proc.environ().get("AIRFLOW_HOME") == str(WORK / "airflow")
                if mine:
                    left.append(f"{proc.pid}: {' '.join(proc.cmdline())[:120]}")
            except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
                pass
        return left


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def test_make_airflow_triggers_with_the_form_defaults_succeeds_and_ctrl_c_stops_everything() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    timings: dict[str, float] = {}
    started = time.monotonic()
    ui = MakeAirflow(free_port())
    try:
        ui.wait_ready()
        timings["up_s"] = round(time.monotonic() - started, 1)
        assert ui.url == f"http://127.0.0.1:{ui.port}" and ui.user == "admin" and len(ui.password) >= 12
        with pytest.raises(urllib.error.HTTPError) as refused:  # a real login: a wrong password is refused
            urllib.request.urlopen(
                urllib.request.Request(
                    ui.url + "/auth/token",
                    method="POST",
                    data=json.dumps({"username": "admin", "password": "wrong"}).encode(),
                    headers={"Content-Type": "application/json"},
                )
            )
        assert refused.value.code == 401
        ui.api("PATCH", "/api/v2/dags/mnist_incremental_spot", {"is_paused": True})  # keep the test to pipeline 1

        details = ui.api("GET", f"/api/v2/dags/{PIPELINE1}/details")
        conf = form_defaults(details)
        assert conf["dataset_url"] == "https://bit.ly/37zmQeb", "the form's default stays the book's URL"
        run = ui.api("POST", f"/api/v2/dags/{PIPELINE1}/dagRuns", ui_trigger_body(conf))
        run_started = time.monotonic()
        deadline = run_started + RUN_TIMEOUT
        while run["state"] not in ("success", "failed") and time.monotonic() < deadline:
            ui.snapshot()
            time.sleep(2)
            run = ui.api("GET", f"/api/v2/dags/{PIPELINE1}/dagRuns/{_q(run['dag_run_id'])}")
        timings["run_s"] = round(time.monotonic() - run_started, 1)
        tis = ui.api("GET", f"/api/v2/dags/{PIPELINE1}/dagRuns/{_q(run['dag_run_id'])}/taskInstances")
        states = {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
        assert run["state"] == "success", (states, ui.output()[-2000:])
        assert states["download_dataset"] == "success" and states["smoke_test"] == "success"
        xcom = ui.api(
            "GET",
            f"/api/v2/dags/{PIPELINE1}/dagRuns/{_q(run['dag_run_id'])}/taskInstances/"
            "validate_and_preflight/xcomEntries/return_value",
        )
        assert re.search(r"http://127\.0\.0\.1:\d+/batch1\.zip", json.dumps(xcom["value"])), xcom
    finally:
        stop_started = time.monotonic()
        code = ui.ctrl_c()
        timings["stop_s"] = round(time.monotonic() - stop_started, 1)
    left = ui.leftovers()
    print(f"\n[make airflow] timings {timings}, {len(ui.pids)} processes seen, left {left}")
    assert code == 0, ui.output()[-3000:]
    assert "make airflow: stopped." in ui.output()
    assert not left, left

    # A restart keeps Airflow's DB and the password: the run is still listed.
    again = MakeAirflow(free_port())
    try:
        again.wait_ready()
        assert again.password == ui.password
        runs = again.api("GET", f"/api/v2/dags/{PIPELINE1}/dagRuns")["dag_runs"]
        assert [r["dag_run_id"] for r in runs] == [run["dag_run_id"]] and runs[0]["state"] == "success"
    finally:
        assert again.ctrl_c() == 0
    assert not again.leftovers()
