"""The real services on Airflow's CeleryExecutor, as MWAA and the official docker-compose file run them: Debian's
``redis-server`` as the broker and result backend, and Celery workers that share nothing on disk.

Why: with LocalExecutor every task runs on the scheduler's machine, so a task that silently reads what the previous
task left on local disk passes; on MWAA (Celery, one container per worker) it breaks. Here each worker has its own
``SAGEMAKER_MLOPS_DATA_DIR`` and its own name, recorded on every task instance (``hostname`` in the REST API,
through ``[core] hostname_callable`` = :func:`worker_hostname`, since both run on one machine).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

from local_stack import free_port
from services import AIRFLOW, AirflowServices

HOSTNAME_ENV = "SAGEMAKER_MLOPS_WORKER_HOSTNAME"


def worker_hostname() -> str:
    """``[core] hostname_callable`` for the workers: the worker's own name, else the machine's FQDN."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


class CeleryAirflowServices(AirflowServices):
    """``AirflowServices`` with ``CeleryExecutor``: a Redis started first, then ``workers`` Celery workers, each
    with its own data directory (``<home>/<worker>-data``), ``--celery-hostname`` and task-instance hostname."""

    def __init__(
        self,
        airflow_home: Path,
        env: dict[str, str],
        *,
        workers: tuple[str, ...] = ("worker-a", "worker-b"),
        concurrency: int = 2,
        **kwargs: object,
    ) -> None:
        super().__init__(airflow_home, env, **kwargs)  # type: ignore[arg-type]
        self.workers = workers
        self.concurrency = concurrency
        self.redis_port = free_port()
        redis = f"redis://127.0.0.1:{self.redis_port}"
        dev = str(Path(__file__).resolve().parent)
        self.env.update(
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__CELERY__BROKER_URL=f"{redis}/0",
            AIRFLOW__CELERY__RESULT_BACKEND=f"{redis}/1",
            AIRFLOW__CELERY__WORKER_CONCURRENCY=str(concurrency),
            AIRFLOW__CORE__HOSTNAME_CALLABLE="celery_services.worker_hostname",
            PYTHONPATH=os.pathsep.join([p for p in (self.env.get("PYTHONPATH"), dev) if p]),
        )

    def data_dir(self, worker: str) -> Path:
        return self.home / f"{worker}-data"

    def start_before_services(self) -> None:
        redis = shutil.which("redis-server")
        if not redis:
            raise RuntimeError("redis-server not found: run `bash include/dev/redis_setup.sh` (Debian's package)")
        self.spawn(
            "redis",
            [
                redis,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.home),
            ],
        )
        deadline = time.monotonic() + 30
        while True:
            self._check_running()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.redis_port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server did not listen on {self.redis_port}")
            time.sleep(0.2)

    def start_after_services(self) -> None:
        for worker in self.workers:
            data = self.data_dir(worker)
            data.mkdir(parents=True, exist_ok=True)
            env = dict(self.env, SAGEMAKER_MLOPS_DATA_DIR=str(data), **{HOSTNAME_ENV: worker})
            # --skip-serve-logs: both would bind the same log-server port; the api-server reads the shared
            # log folder directly. --pid: one pid file each (the default is per AIRFLOW_HOME).
            self.spawn(
                worker,
                [
                    AIRFLOW,
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"{worker}@%h",
                    "--concurrency",
                    str(self.concurrency),
                    "--skip-serve-logs",
                    "--pid",
                    str(self.home / f"{worker}.pid"),
                ],
                env=env,
            )
        deadline = time.monotonic() + self.start_timeout
        for worker in self.workers:  # Celery logs "<name>@<host> ready." once it consumes from the broker
            while " ready." not in (self.logs / f"{worker}.log").read_text(errors="replace"):
                self._check_running()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Celery worker {worker} not ready within {self.start_timeout}s")
                time.sleep(0.5)
