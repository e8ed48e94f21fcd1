"""The real Airflow 3.3.1 services on this machine, as child processes on the embedded SQLite DB: ``airflow
api-server`` (REST API, UI and the Task Execution API), ``airflow scheduler`` (LocalExecutor), ``airflow
dag-processor`` and ``airflow triggerer`` — what a deployment runs, minus Postgres. Used by the tests that drive
Airflow the way a person does (REST API and the UI's trigger form, tests/test_real_services.py and
tests/test_ui_browser.py).

Settings, each checked against Airflow 3.3.1's source:
- LocalExecutor on SQLite is allowed in Airflow 3 (the SequentialExecutor-only rule is gone; ``airflow
  standalone`` itself runs LocalExecutor on SQLite). Parallelism is kept small for a 2-core machine. It is the
  LocalExecutor of include/dev/resume_safe_executor.py, which drops a deferral's late end report that Airflow
  3.3.1 would take for the resumed attempt's end (and fail it).
- SimpleAuthManager with ``simple_auth_manager_all_admins``: ``GET /auth/token`` hands out an admin JWT with no
  credentials, and ``/auth/token/login`` sets the UI's cookie, so the REST API and the UI need no interactive login.
  With ``login_user`` (``make airflow``) there is a real login instead: that one admin user, its password
  generated once into AIRFLOW_HOME (Airflow's own password-file format) and kept across restarts.
- All four processes share one JWT secret and API secret key (tokens minted by one are checked by another).
- ``spawn`` and the ``start_before_services`` / ``start_after_services`` hooks let a subclass add processes
  that ``stop`` handles like the services (include/dev/celery_services.py: Redis and Celery workers).
- Workers reach the Task Execution API at ``http://127.0.0.1:<port>/execution/`` on the same api-server.
- DAGs are unpaused at creation and the dag-processor lists the folder every few seconds.

Everything started is stopped on exit — each process group gets SIGTERM, then SIGKILL after a timeout, and any
descendant that left its group (task supervisors, the executor's workers) is found and killed too — also when
start-up fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_stack import free_port, migrate_db

AIRFLOW = str(Path(sys.executable).parent / "airflow")
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_PATH = "/api/v2/monitor/health"
# include/dev/resume_safe_executor.py (a string: importing it here would load Airflow into every harness user).
RESUME_SAFE_EXECUTOR = "dev.resume_safe_executor.ResumeSafeLocalExecutor"


def _with_include(pythonpath: str) -> str:
    """The services' PYTHONPATH with ``include`` on it, where the scheduler imports RESUME_SAFE_EXECUTOR from."""
    include = str(Path(__file__).resolve().parent.parent)
    parts = [p for p in pythonpath.split(os.pathsep) if p]
    return os.pathsep.join(parts if include in parts else [*parts, include])


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str, url: str) -> None:
        super().__init__(f"{status} from {url}: {body[:2000]}")
        self.status, self.body = status, body


class AirflowServices:
    """``with AirflowServices(home, env) as af:`` — the four Airflow services up, the given DAGs listed by the API.

    ``env`` is the environment that points Airflow at AWS or the emulator (``LocalStack.airflow_env``); this adds
    the service settings. ``af.url`` is the api-server, ``af.api(...)`` an authenticated REST call, ``af.logs``
    the folder with one log file per service.
    """

    def __init__(
        self,
        airflow_home: Path,
        env: dict[str, str],
        *,
        dag_ids: tuple[str, ...] = (),
        port: int | None = None,
        start_timeout: float = 180.0,
        stop_timeout: float = 20.0,
        login_user: str | None = None,
    ) -> None:
        self.home = Path(airflow_home)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = self.home / "service-logs"
        self.dag_ids = dag_ids
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.procs: dict[str, subprocess.Popen] = {}
        self.spawned: dict[str, tuple[list[str], dict[str, str] | None]] = {}
        self.pids_seen: set[int] = set()
        self._token: str | None = None
        self.env = dict(
            env,
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.home / 'airflow.db'}",
            # LocalExecutor minus Airflow 3.3.1's race that failed a resumed deferred task (issue 21).
            AIRFLOW__CORE__EXECUTOR=RESUME_SAFE_EXECUTOR,
            PYTHONPATH=_with_include(env.get("PYTHONPATH", "")),
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager."
            "SimpleAuthManager",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="60",
            AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2",
            # A restarted triggerer takes over a dead one's triggers once that one missed its heartbeats this long.
            AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="10",
            AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(self.home / "logs"),
            PYTHONUNBUFFERED="1",
        )
        self.login_user = login_user
        if login_user:  # a real login (make airflow): one admin whose password is kept in AIRFLOW_HOME
            self.env.update(
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{login_user}:admin",
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(self.password_file),
            )

    @property
    def password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    def password(self) -> str:
        """The login user's password: generated once (Airflow's own file format), then kept across restarts."""
        assert self.login_user, "no login user: every visitor is admin"
        passwords = json.loads(self.password_file.read_text()) if self.password_file.is_file() else {}
        if self.login_user not in passwords:
            passwords[self.login_user] = secrets.token_urlsafe(12)
            self.password_file.write_text(json.dumps(passwords) + "\n")
            self.password_file.chmod(0o600)
        return passwords[self.login_user]

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            if self.login_user:
                self.password()
            migrate_db(self.env)
            self.start_before_services()
            for name in SERVICES:
                self.spawn(
                    name,
                    [AIRFLOW, name]
                    + (["--port", str(self.port), "--host", "127.0.0.1"] if name == "api-server" else []),
                )
            self.start_after_services()
            self.wait_healthy()
            for dag_id in self.dag_ids:
                self.wait_dag(dag_id)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """A child in its own process group (so ``stop`` can signal all of it), logging to ``logs/<name>.log``
        (appended to when the service is restarted)."""
        mode = "a" if name in self.spawned else "w"
        self.spawned[name] = (args, env)
        with open(self.logs / f"{name}.log", mode) as log:  # the child keeps its own copy
            self.procs[name] = subprocess.Popen(
                args,
                env=env or self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self.procs[name]

    def start_before_services(self) -> None:
        """Hook: what the services need up first (a broker)."""

    def start_after_services(self) -> None:
        """Hook: what runs beside the services (workers)."""

    def stop(self) -> None:
        """SIGTERM to every process group, SIGKILL to whatever is left after ``stop_timeout``."""
        import psutil

        tracked: list[psutil.Process] = []
        for proc in self.procs.values():
            try:
                parent = psutil.Process(proc.pid)
                tracked += [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        self.pids_seen |= {p.pid for p in tracked}
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.stop_timeout
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        # Descendants that made their own session/group (task processes) would outlive the killpg; so would one
        # re-parented to init after its parent died. Both are found here: by ancestry, and by AIRFLOW_HOME.
        tracked += self.processes_of_this_home()
        _, alive = psutil.wait_procs([p for p in tracked if p.is_running()], timeout=2)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
        self.procs.clear()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one service and every process under it (SIGKILL: a crash, no handler runs; SIGTERM: a stop),
        and wait until they are gone. ``restart`` brings it back."""
        import psutil

        proc = self.procs[name]
        try:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        self.pids_seen |= {p.pid for p in tree}
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        for p in tree:  # descendants that left the group
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(tree, timeout=self.stop_timeout)
        for p in alive:
            p.kill()
        proc.wait()

    def restart(self, name: str) -> subprocess.Popen:
        """Start a service again as it was first started (after ``kill``), and wait until Airflow reports every
        service healthy."""
        args, env = self.spawned[name]
        if self.procs[name].poll() is None:
            self.kill(name, signal.SIGTERM)
        proc = self.spawn(name, args, env)
        self.wait_healthy()
        return proc

    @contextlib.contextmanager
    def paused(self, name: str) -> Iterator[None]:
        """Freeze one service's main process (SIGSTOP) for the ``with`` block, then let it go on (SIGCONT): a
        service lagging behind, as on a loaded host. Its children (the LocalExecutor's workers, the task
        supervisors) keep running."""
        pid = self.procs[name].pid
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def task_processes(self, ti_id: str) -> list[Any]:
        """The processes running one task instance (titled ``airflow worker -- <ti id>`` by the Task SDK), among
        the services' descendants (setproctitle overwrites a task's environment, so AIRFLOW_HOME cannot find it)."""
        import psutil

        found, tree = [], []
        for service in self.procs.values():
            try:
                tree += psutil.Process(service.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        for proc in tree:
            try:
                if f"airflow worker -- {ti_id}" in " ".join(proc.cmdline()):
                    found.append(proc)
            except Exception:  # psutil.NoSuchProcess / AccessDenied: it ended meanwhile
                pass
        return found

    def alive_pids(self) -> list[int]:
        """PIDs this object ever saw (services and their descendants) that still run; empty after ``stop``."""
        import psutil

        alive = []
        for pid in self.pids_seen:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        return alive

    def processes_of_this_home(self) -> list[Any]:
        """Every process on the machine whose environment has this AIRFLOW_HOME — empty after ``stop``."""
        import psutil

        found = []
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == os.getpid():
                continue
            try:
                if proc.environ().get("AIRFLOW_HOME") == str(self.home) and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return found

    def snapshot_pids(self) -> None:
        """Remember the current descendants too (task processes come and go), for ``alive_pids``."""
        import psutil

        for proc in self.procs.values():
            try:
                parent = psutil.Process(proc.pid)
                self.pids_seen |= {parent.pid, *(c.pid for c in parent.children(recursive=True))}
            except psutil.NoSuchProcess:
                pass

    # -- readiness ----------------------------------------------------------------------------------------------
    def _check_running(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}; log tail:\n{tail}")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + HEALTH_PATH, timeout=5) as resp:
            return json.loads(resp.read())

    def wait_healthy(self) -> dict[str, Any]:
        """The api-server answers and reports the metadatabase, scheduler, triggerer and dag-processor healthy."""
        deadline = time.monotonic() + self.start_timeout
        last: Any = None
        while time.monotonic() < deadline:
            self._check_running()
            try:
                last = self.health()
                if all(
                    last.get(part, {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                ):
                    return last
            except (OSError, ValueError) as err:
                last = err
            time.sleep(1)
        raise TimeoutError(f"Airflow services not healthy within {self.start_timeout}s: {last}")

    def wait_dag(self, dag_id: str) -> dict[str, Any]:
        """The DAG is parsed and listed by the REST API (``GET /api/v2/dags/{dag_id}``)."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self._check_running()
            try:
                return self.api("GET", f"/api/v2/dags/{dag_id}")
            except ApiError as err:
                if err.status != 404:
                    raise
            time.sleep(1)
        errors = self.api("GET", "/api/v2/importErrors")
        raise TimeoutError(f"DAG {dag_id} not listed within {self.start_timeout}s; import errors: {errors}")

    # -- REST API -----------------------------------------------------------------------------------------------
    def token(self) -> str:
        """An admin JWT from the simple auth manager (``GET /auth/token`` with all-admins, else the login's)."""
        if self._token is None:
            self._token = login_token(self.url, self.login_user, self.password() if self.login_user else None)
        return self._token

    def api(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None) -> Any:
        """One authenticated REST call; the decoded JSON, or :class:`ApiError` with the status and body."""
        return api_request(self.url, self.token(), method, path, body, params=params)


def login_token(base_url: str, user: str | None = None, password: str | None = None) -> str:
    """A JWT from the simple auth manager: ``POST /auth/token`` with the credentials, as the UI's login form does,
    or ``GET /auth/token`` when every user is an admin (no ``user``)."""
    request: Any = base_url + "/auth/token"
    if user:
        request = urllib.request.Request(
            request,
            method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"username": user, "password": password}).encode(),
        )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())["access_token"]


def api_request(
    base_url: str,
    token: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    params: dict[str, Any] | None = None,
    attempts: int = 5,
) -> Any:
    """One authenticated call to Airflow's REST API, made again (2 s apart) while it answers 500 "Database error".

    On SQLite, a write the API makes while another connection holds the lock (the scheduler starting runs, a task's
    execution-API calls) fails once the 5 s lock timeout runs out; Airflow rolls the transaction back and answers
    500 with that reason, so the same request can be sent again. A longer lock timeout (tried: 30 s) only made
    those stalls longer."""
    from urllib.parse import urlencode

    url = base_url + path + (f"?{urlencode(params, doseq=True)}" if params else "")
    data = None if body is None else json.dumps(body).encode()
    attempt = 1
    while True:
        req = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            error = ApiError(err.code, err.read().decode(errors="replace"), url)
        if error.status != 500 or '"Database error"' not in error.body or attempt == attempts:
            raise error
        attempt += 1
        time.sleep(2)


def ui_trigger_body(conf: dict[str, Any], logical_date: str | None = None) -> dict[str, Any]:
    """The body Airflow 3.3.1's Trigger form POSTs to ``/api/v2/dags/{dag_id}/dagRuns`` (captured from the UI by
    tests/test_ui_browser.py): every Param's value in ``conf``, the form's Logical Date (prefilled with now, in
    UTC to the second) and the empty data-interval / partition fields. ``logical_date=None`` is also accepted."""
    from datetime import UTC, datetime

    if logical_date is None:
        logical_date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "conf": conf,
        "data_interval_end": None,
        "data_interval_start": None,
        "logical_date": logical_date,
        "partition_key": None,
    }


def form_defaults(dag_details: dict[str, Any]) -> dict[str, Any]:
    """What the Trigger form starts with: each Param's default, from ``GET /api/v2/dags/{dag_id}/details``."""
    return {name: param.get("value") for name, param in (dag_details.get("params") or {}).items()}
