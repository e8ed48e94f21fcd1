"""The emulator, the dataset server and the real Airflow services (api-server, scheduler, dag-processor,
triggerer on SQLite), started together for tests/test_real_services.py and tests/test_ui_browser.py, and stopped
with a check that no port or process is left (the session fixture ``airflow_stack`` in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from constants import REPO
from local_stack import LocalStack
from services import AirflowServices

WORK = REPO / ".local" / "services"
DAG_IDS = ("mnist_train_deploy", "mnist_incremental_spot")
ARTIFACTS = REPO / ".local" / "artifacts"  # screenshots
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium through the Playwright client, for a module's ``browser`` fixture
    (tests/test_ui_browser.py, tests/test_make_airflow.py). ``make test`` installs both
    (include/dev/browser_setup.sh); only a bare pytest run elsewhere may lack them: skipped then, failed under CI."""
    missing = pytest.fail if os.environ.get("CI") else pytest.skip
    try:
        from playwright import sync_api
    except ImportError:
        missing("no Playwright client: run include/dev/browser_setup.sh")
    if not Path(CHROMIUM).exists():
        missing("no Chromium: run include/dev/browser_setup.sh")
    with sync_api.sync_playwright() as pw:
        # A new, empty user-data dir per launch (Playwright's default), no background networking.
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Stack:
    """The emulator, the dataset server and the Airflow services, shared by the tests of one session."""

    def __init__(self, work: Path = WORK, extra_env: dict[str, str] | None = None) -> None:
        self.work, self.extra_env = work, dict(extra_env or {})
        self.local: LocalStack | None = None
        self.airflow: AirflowServices | None = None
        self.timings: dict[str, float] = {}

    def start(self) -> None:
        from aws_emulator.control import EmulatorControl

        started = time.monotonic()
        shutil.rmtree(self.work / "airflow", ignore_errors=True)  # a fresh metadata DB each session
        self.local = LocalStack(self.work).__enter__()
        try:
            # Long enough that each wait is still in progress when the operator first looks (so it defers),
            # short enough for a quick run: training ~11 s, endpoint creation 6 s.
            EmulatorControl(self.local.emulator_url).settings(epoch_seconds=3.0, endpoint_create_seconds=6.0)
            env = {**self.local.airflow_env(self.work / "airflow", poll_seconds=2), **self.extra_env}
            self.airflow = AirflowServices(self.work / "airflow", env, dag_ids=DAG_IDS).__enter__()
        except BaseException:
            self.local.__exit__()
            raise
        self.timings["services_up_s"] = round(time.monotonic() - started, 1)
        print(
            f"\n[services] Airflow {self.airflow.url} (logs {self.airflow.logs}), emulator "
            f"{self.local.emulator_url}, datasets {self.local.dataset_url}: up in {self.timings['services_up_s']} s"
        )

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
        children = _children_named(("airflow", "aws_emulator", "local_datasets"), _owned_by(self.work, ports))
        print(
            f"\n[services] stopped in {self.timings['stop_s']} s: ports {ports} open={open_ports}, "
            f"{len(self.airflow.pids_seen)} service processes seen, left={sorted(set(left))}, "
            f"children={children}"
        )
        assert not open_ports, f"ports still open after stop: {open_ports}"
        assert not left, f"processes left after stop: {sorted(set(left))}"
        assert not children, f"child processes left after stop: {children}"


def _owned_by(work: Path, ports: list[int]) -> Any:
    """Whether a process is one of this stack's: its Airflow home is under ``work``, or its command line names
    ``work`` or one of the stack's ports. Another stack of the same test process (the session's, while a module
    starts its own) is not this one's to have stopped."""

    def owns(proc: Any) -> bool:
        cmd = " ".join(proc.cmdline())
        if str(work) in cmd or any(f"--port {port}" in cmd for port in ports):
            return True
        return proc.environ().get("AIRFLOW_HOME", "").startswith(str(work))

    return owns


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


def _children_named(names: tuple[str, ...], owned: Callable[[Any], bool]) -> list[str]:
    import psutil

    found = []
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
            if child.status() != psutil.STATUS_ZOMBIE and any(n in cmd for n in names) and owned(child):
                found.append(f"{child.pid}: {cmd[:120]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found
