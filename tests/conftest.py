"""Shared fixtures: one in-process emulator on a free loopback port for the whole session (reset per test), the
local datasets built and served once, Airflow's test database and the real Airflow services."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from constants import DATA_BUCKET, FAST, LOOPBACK_DATASET_HOSTS, REGION, REPO, ROLE_ARN

# Before anything imports Airflow: a private AIRFLOW_HOME (SQLite), this repo's dags, no examples, fast polling.
# Each pytest-xdist worker (pyproject's addopts run two) gets its own Airflow DB and worker disk.
WORKER_SUFFIX = f"-{os.environ['PYTEST_XDIST_WORKER']}" if os.environ.get("PYTEST_XDIST_WORKER") else ""
os.environ["AIRFLOW_HOME"] = str(REPO / ".local" / f"test-airflow{WORKER_SUFFIX}")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["SAGEMAKER_MLOPS_POLL_SECONDS"] = "1"
os.environ["SAGEMAKER_MLOPS_DATA_DIR"] = str(REPO / ".local" / f"test-worker-data{WORKER_SUFFIX}")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _keep_bytecode() -> None:
    """Cache the repo's own bytecode (and pytest's assertion-rewritten test modules) even under
    PYTHONDONTWRITEBYTECODE, which CI machines and this project's dev shells set: without it every pytest-xdist
    worker compiled dags/, include/ and rewrote all 80 test modules again on every run, about 3 s of CPU per
    worker (the installed packages have their .pyc from install time, include/dev/bootstrap.sh). The files go to
    the usual ``__pycache__`` folders, which git and the MWAA bundle ignore; subprocesses keep the setting."""
    import sys

    sys.dont_write_bytecode = False


def _share_botocore_loader() -> None:
    """One botocore data loader for every session in this process. Each Airflow hook opens a new boto3 session, and
    a new session parses the service model and endpoint rules again (about 150 ms of CPU per client, 8x what a
    shared loader costs). The loader only caches the JSON data files it has read, which nothing modifies."""
    import functools

    import botocore.loaders
    import botocore.session

    botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)


def _exit_workers_without_finalizing() -> None:
    """An xdist worker ends with ``os._exit`` once its results are sent (atexit runs handlers last-registered
    first, so this one runs after the others): finalizing Airflow, moto and the rest took 2-4 s at the end of every
    run, after the last test."""
    import atexit
    import sys

    def _exit() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    if os.environ.get("PYTEST_XDIST_WORKER"):
        atexit.register(_exit)


_keep_bytecode()
_share_botocore_loader()
_exit_workers_without_finalizing()


@pytest.hookimpl(wrapper=True)  # around xdist's own hook, which reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """xdist groups (``--dist loadgroup``): the e2e tests in two lines, each one test after another on one worker -
    the real-services stack's (they share its session and folders under .local/) beside the rest (in-process DAG
    runs, Celery, make airflow: each in its own folder, on free ports), so at most two heavy tests run at once;
    the others by file, so a module's fixtures (a DagBag, an import probe, a trained job) are built once."""
    for item in items:
        if item.get_closest_marker("airflow_services"):
            group = "e2e-services"
        elif item.get_closest_marker("e2e"):
            group = "e2e"
        else:
            group = item.nodeid.partition("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
    result = yield
    if getattr(config.option, "loadgroup", False) and items and "@" not in items[0].nodeid:
        raise pytest.UsageError(
            "pytest-xdist ignored the xdist_group marks (--dist loadgroup), so e2e tests would run in parallel: "
            "keep pytest at the version requirements-dev.txt pins (pytest-xdist#1386), or run with -n 0"
        )
    return result


_STARTED_EMULATORS: list[Any] = []


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Any]:
    from aws_emulator.server import EmulatorServer

    server = EmulatorServer("127.0.0.1", 0)
    server.start()
    _STARTED_EMULATORS.append(server)
    yield server
    _STARTED_EMULATORS.remove(server)
    server.stop()


@pytest.fixture(autouse=True)
def _iam_replay(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: each AWS call Airflow made (the emulator's audit) must be allowed by the Airflow execution
    role's policy (tests/iam_replay.py), so a path the DAGs need a missing permission on fails the test walking it."""
    yield
    import iam_replay

    if not iam_replay.ENABLED:
        return
    for server in _STARTED_EMULATORS:
        audited = server.app.requests.drain_audit()
        if request.node.get_closest_marker("iam_denied_expected"):
            continue
        denied = iam_replay.denied_calls(audited)
        header = "include/iam/airflow-execution-role-policy-*.json deny calls this test's DAG runs made:\n"
        assert not denied, header + "\n".join(dict.fromkeys(denied))


@pytest.fixture()
def emulator(emulator_server: Any) -> Iterator[Any]:
    """The emulator's control client, with all state reset and fast phase durations."""
    from aws_emulator.control import EmulatorControl

    control = EmulatorControl(emulator_server.url)
    control.reset()
    control.settings(**FAST)
    yield control
    control.reset()


@pytest.fixture(scope="session")
def _aws_clients() -> dict[tuple[str, str], Any]:
    """The ``aws`` fixture's clients, made once per service for the session: creating one costs 10-60 ms of CPU
    (an S3 client the most), which the tests paid some 170 times a run. A client keeps no state of its own but
    its connection pool, so the emulator's reset between tests is all a test needs."""
    return {}


@pytest.fixture()
def aws(emulator: Any, _aws_clients: dict[tuple[str, str], Any]) -> Callable[[str], Any]:
    """boto3 clients pointed at the emulator (tests only: product code goes through the Airflow hooks)."""
    import boto3
    from botocore.config import Config

    def client(service: str) -> Any:
        key = (service, emulator.url)
        if key not in _aws_clients:
            _aws_clients[key] = boto3.client(
                service,
                region_name=REGION,
                endpoint_url=emulator.url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 1}),
            )
        return _aws_clients[key]

    return client


@dataclass(frozen=True)
class ServedDatasets:
    """The book's two batches and every one-defect variant (``bad-<kind>.zip``), served over loopback HTTP."""

    folder: Path
    url: str
    sha256: dict[str, str]  # file name -> digest, for batch1.zip and batch2.zip

    def conf(self, batch: str = "batch1", **overrides: Any) -> dict[str, Any]:
        """A trigger conf for ``<batch>.zip`` through the bit.ly-style redirect, with its pinned digest."""
        return {"dataset_url": f"{self.url}/r/{batch}.zip", "dataset_sha256": self.sha256[f"{batch}.zip"], **overrides}


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDatasets]:
    """Built once per session (about a second) and served until it ends."""
    from local_datasets import BAD_KINDS, DatasetServer, build_bad_dataset, build_dataset

    folder = tmp_path_factory.mktemp("served")
    digests = {f"{batch}.zip": build_dataset(folder / f"{batch}.zip", batch).sha256 for batch in ("batch1", "batch2")}
    for kind in BAD_KINDS:
        build_bad_dataset(folder / f"bad-{kind}.zip", kind)
    with DatasetServer(folder) as server:
        yield ServedDatasets(folder, server.url, digests)


@pytest.fixture()
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retries without their back-off sleeps (legacy and standard mode): for tests of how many tries are
    made and what a caller sees after them, not of how long botocore waits in between."""
    import botocore.retries.standard
    import botocore.retryhandler

    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    monkeypatch.setattr(botocore.retryhandler, "delay_exponential", lambda *args, **kwargs: 0.0)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata DB for in-process DAG runs, migrated once per session."""
    from airflow.utils import db

    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if _migrated_revision(home) is None:
        db.upgradedb()  # in-process: `airflow db migrate` in a subprocess pays Airflow's import again (~8 s)
        _migrated_revision(home, stamp=True)
    return home


def _migrated_revision(home: Path, *, stamp: bool = False) -> str | None:
    """The DB's alembic revision if a previous session of this Airflow version migrated it to there (a stamp
    file beside the DB), else None: checking a migrated DB with ``upgradedb`` cost each worker ~1.6 s of CPU."""
    import sqlite3

    from airflow import __version__

    stamp_file = home / "tests-migrated.json"
    database = home / "airflow.db"
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
            (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except (sqlite3.Error, TypeError):
        return None
    expected = {"airflow": __version__, "revision": revision}
    if stamp:
        stamp_file.write_text(json.dumps(expected))
        return revision
    try:
        return revision if json.loads(stamp_file.read_text()) == expected else None
    except (OSError, ValueError):
        return None


@pytest.fixture()
def airflow_aws(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The aws_default connection pointed at the emulator, plus the account Variables: all a DAG needs."""
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": REGION, "endpoint_url": emulator.url},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET", DATA_BUCKET)
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_ROLE_ARN", ROLE_ARN)
    # The tests' dataset servers are on loopback, which the download refuses unless listed (the SSRF guard).
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_ALLOWED_DATASET_HOSTS", LOOPBACK_DATASET_HOSTS)
    return emulator


@pytest.fixture(scope="session")
def airflow_stack() -> Iterator[Any]:
    """The real Airflow services beside the emulator and dataset server (tests/airflow_stack.py), started once for
    the session's users (test_real_services, test_ui_browser) and checked to be fully stopped afterwards."""
    from airflow_stack import Stack

    stack = Stack()
    stack.start()
    try:
        yield stack
    finally:
        stack.stop_and_verify()


@pytest.fixture(scope="session")
def batch1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small batch1 zip the emulator tests upload and train on, built once per session."""
    from emulator_helpers import dataset_zip

    return dataset_zip(tmp_path_factory.mktemp("emulator-data"), "batch1")
