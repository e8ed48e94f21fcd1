"""Starts what a local run needs — the AWS emulator and the dataset server, each its own process — and the
environment that points Airflow at them (the aws_default connection's endpoint_url, the account Variables).
Used by ``make run`` and the end-to-end tests; everything it starts stops with it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
BUCKET = "mlops-ch06-demo"


# Local lineage: OpenLineage events as JSON lines in <work>/lineage/ (docs/lineage.md). A team's own settings in the
# environment (any of these) are kept as they are, never overridden.
LINEAGE_NAMESPACE = "sagemaker-mlops-local"
LINEAGE_SETTINGS = (
    "AIRFLOW__OPENLINEAGE__TRANSPORT",
    "AIRFLOW__OPENLINEAGE__CONFIG_PATH",
    "AIRFLOW__OPENLINEAGE__DISABLED",
    "OPENLINEAGE_URL",
    "OPENLINEAGE_CONFIG",
    "OPENLINEAGE_DISABLED",
)


def lineage_env(lineage_dir: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The OpenLineage settings of a local run: a file transport appending every event to
    ``<lineage_dir>/openlineage.jsonl`` (one JSON event per line), unless the environment configures OpenLineage
    itself (its transport, config file, URL, or disabled): then nothing, so it is used as given. ``make run``
    writes .local/run/lineage/openlineage.jsonl, ``make airflow`` .local/airflow/lineage/openlineage.jsonl."""
    environ = dict(os.environ if environ is None else environ)
    if any(environ.get(name) for name in LINEAGE_SETTINGS) or any(
        name.startswith("OPENLINEAGE__TRANSPORT") and value for name, value in environ.items()
    ):
        return {}
    lineage_dir.mkdir(parents=True, exist_ok=True)
    transport = {"type": "file", "log_file_path": str(lineage_dir / "openlineage.jsonl"), "append": True}
    return {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": environ.get("AIRFLOW__OPENLINEAGE__NAMESPACE") or LINEAGE_NAMESPACE,
    }


def lineage_file(env: dict[str, str]) -> Path | None:
    """Where a local run's file transport writes (None when the environment chose another transport)."""
    transport = json.loads(env.get("AIRFLOW__OPENLINEAGE__TRANSPORT") or "{}")
    return Path(transport["log_file_path"]) if transport.get("type") == "file" else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class LocalStack:
    """The emulator and dataset server as child processes; a context manager that always stops them."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.procs: list[subprocess.Popen] = []
        self.emulator_url = ""
        self.dataset_url = ""

    def __enter__(self) -> LocalStack:
        env = dict(os.environ, PYTHONPATH=f"{REPO / 'include'}")
        log_dir = self.work_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "aws_emulator", "--port", str(port)],
                env=env,
                stdout=open(log_dir / "emulator.log", "w"),
                stderr=subprocess.STDOUT,
            )
        )
        self.emulator_url = f"http://127.0.0.1:{port}"
        data_port = free_port()
        self.procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "local_datasets",
                    "serve",
                    "--dir",
                    str(self.work_dir / "datasets"),
                    "--port",
                    str(data_port),
                ],
                env=env,
                stdout=open(log_dir / "datasets.log", "w"),
                stderr=subprocess.STDOUT,
            )
        )
        self.dataset_url = f"http://127.0.0.1:{data_port}"
        try:
            _wait_http(f"{self.emulator_url}/_emulator/health")
            _wait_http(f"{self.dataset_url}/batch1.zip", timeout=60)
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def connection(self) -> dict[str, Any]:
        """The ``aws_default`` connection that points the hooks at the emulator (Airflow's JSON connection form)."""
        return {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": REGION, "endpoint_url": self.emulator_url},
        }

    def variables(self) -> dict[str, str]:
        """The account Variables a run on the emulator needs (the names without Airflow's ``AIRFLOW_VAR_``)."""
        return {
            "sagemaker_mlops_bucket": BUCKET,
            "sagemaker_mlops_role_arn": ROLE_ARN,
            # The dataset server is on loopback, which the download refuses unless it is listed (SSRF guard).
            "sagemaker_mlops_allowed_dataset_hosts": self.dataset_url.removeprefix("http://"),
        }

    def airflow_env(self, airflow_home: Path, poll_seconds: int = 2, *, overrides: bool = True) -> dict[str, str]:
        """What points an unchanged Airflow at the emulator: a connection, Variables and a poll interval, and
        OpenLineage's local file transport (:func:`lineage_env`).

        ``overrides=False`` leaves the connection and Variables out (``make airflow`` keeps them in Airflow's DB,
        where the UI can change them: an ``AIRFLOW_CONN_*``/``AIRFLOW_VAR_*`` variable would win over any edit)."""
        settings = {f"AIRFLOW_VAR_{name.upper()}": value for name, value in self.variables().items()}
        settings["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(self.connection())
        return dict(
            os.environ,
            AIRFLOW_HOME=str(airflow_home),
            AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
            AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__UNIT_TEST_MODE="False",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
            **lineage_env(self.work_dir / "lineage"),
            **(settings if overrides else {}),
            SAGEMAKER_MLOPS_POLL_SECONDS=str(poll_seconds),
            SAGEMAKER_MLOPS_DATA_DIR=str(self.work_dir / "worker-data"),
            PYTHONPATH=os.pathsep.join([str(REPO / "dags"), str(REPO / "plugins"), str(REPO / "include")]),
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=REGION,
        )

    def client(self, service: str) -> Any:
        """A boto3 client on the emulator, for reading results back (the DAGs themselves use the hooks)."""
        import boto3

        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.emulator_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def dataset_sha256(self, name: str) -> str:
        import hashlib

        return hashlib.sha256((self.work_dir / "datasets" / name).read_bytes()).hexdigest()


HOLDOUT_BUCKET = "mlops-holdout-demo"


def pin_holdout(stack: LocalStack, work_dir: Path) -> dict[str, str]:
    """What an admin does once: put a holdout no pipeline trains on (batch3's validation digits) in S3 and pin it
    by SHA-256; promotion is decided on it. Returns the two Variables (sagemaker_mlops_holdout_uri/_sha256)."""
    from local_datasets import build_dataset

    info = build_dataset(work_dir / "holdout" / "batch3.zip", "batch3", train_per_class=1, test_count=1)
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=HOLDOUT_BUCKET)
    s3.put_object(Bucket=HOLDOUT_BUCKET, Key="holdout/batch3.zip", Body=info.path.read_bytes())
    uri = f"s3://{HOLDOUT_BUCKET}/holdout/batch3.zip"
    print(f"holdout pinned: {uri} sha256 {info.sha256} ({info.counts['validation']} labeled images)", flush=True)
    return {"sagemaker_mlops_holdout_uri": uri, "sagemaker_mlops_holdout_sha256": info.sha256}


def migrate_db(env: dict[str, str]) -> None:
    """Airflow's metadata DB (SQLite in AIRFLOW_HOME), created once."""
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def dags_test(dag_id: str, conf: dict[str, Any], env: dict[str, str], log_file: Path) -> int:
    """``airflow dags test`` (scheduler-less, in one process, triggers run inline) with a trigger conf."""
    with open(log_file, "w") as out:
        return subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, "-c", json.dumps(conf)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode


def dags_test_asset_triggered(dag_id: str, env: dict[str, str], log_file: Path, trigger_file: Path) -> int:
    """``airflow dags test`` of the run the scheduler makes from the DAG's queued Asset events (asset_runs.py): exit
    0 success, 1 failed, 2 no queued event satisfied its schedule; the run's trigger is written to ``trigger_file``."""
    trigger_file.unlink(missing_ok=True)
    script = Path(__file__).with_name("asset_runs.py")
    with open(log_file, "w") as out:
        return subprocess.run(
            [sys.executable, str(script), dag_id, "--trigger-file", str(trigger_file)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode
