"""``make airflow``: the real Airflow UI on this machine, against the local AWS emulator, until Ctrl-C.

Starts the emulator and the dataset server (include/dev/local_stack.py) and the Airflow 3.3.1 services —
api-server, scheduler, dag-processor, triggerer (include/dev/services.py) — with ``aws_default`` pointing at the
emulator and the Variable ``sagemaker_mlops_dataset_mirror`` set to the dataset server, so Trigger with the
form's defaults (the book's URLs) downloads the local copies. Prints the URL, the user and the password.

State lives in ``.local/airflow/`` (``--work``): Airflow's SQLite DB (runs, task logs, Variables and connections
made in the UI, Asset events), the generated password and the built dataset zips survive a restart. The emulator
keeps nothing: each start it is empty (no buckets, jobs, models), so old runs' S3 links and pipeline 2's default
base model (the newest model Asset event) point at things that are gone until pipeline 1 runs again.

Ctrl-C (SIGINT) or SIGTERM stops everything it started: each service's process group, then anything of this
Airflow home still running, then the emulator and the dataset server.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from aws_emulator.control import EmulatorControl
from sagemaker_mlops.run.run_config import DATASET_MIRROR_VARIABLE

from local_stack import REPO, LocalStack
from services import AirflowServices

DAG_IDS = ("mnist_train_deploy", "mnist_incremental_spot")
USER = "admin"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="the UI's port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--work", type=Path, default=REPO / ".local" / "airflow", help="state folder")
    args = parser.parse_args(argv)

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    work: Path = args.work.resolve()
    print(f"make airflow: starting the emulator, the dataset server and Airflow (state in {work}) ...", flush=True)
    started = time.monotonic()
    with LocalStack(work) as local:
        # The real-services test's time settings: a training job ~11 s, an endpoint 6 s, polled every 2 s.
        EmulatorControl(local.emulator_url).settings(epoch_seconds=3.0, endpoint_create_seconds=6.0)
        env = local.airflow_env(work / "airflow", poll_seconds=2)
        env[f"AIRFLOW_VAR_{DATASET_MIRROR_VARIABLE.upper()}"] = local.dataset_url
        airflow = AirflowServices(work / "airflow", env, dag_ids=DAG_IDS, port=args.port or None, login_user=USER)
        try:
            if not stop.is_set():
                airflow.__enter__()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:  # TimeoutError is an OSError
            print(f"make airflow: could not start Airflow: {error}", file=sys.stderr, flush=True)
            return 1
        try:
            if stop.is_set():
                return 0
            print(
                f"""
  Airflow UI:  {airflow.url}   (up in {time.monotonic() - started:.0f} s)
  Log in:      user {USER}, password {airflow.password()}   (kept in {airflow.password_file})

  Trigger mnist_train_deploy with the form's defaults: the book's dataset URLs resolve to the local dataset
  server ({local.dataset_url}) through the Variable {DATASET_MIRROR_VARIABLE}; aws_default points at the
  emulator ({local.emulator_url}). A successful run publishes the model Asset, which starts
  mnist_incremental_spot.

  Logs: {airflow.logs} (services), {airflow.home / "logs"} (tasks), {work / "logs"} (emulator, datasets).
  A restart keeps Airflow's DB, logs and password; the emulator starts empty.
  Ctrl-C stops everything.""",
                flush=True,
            )
            while not stop.wait(2):
                airflow._check_running()
        except RuntimeError as error:  # a service died
            print(f"make airflow: {error}", file=sys.stderr, flush=True)
            return 1
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
            print(f"\nmake airflow: {', '.join(received) or 'exit'}: stopping ...", flush=True)
            airflow.stop()
    print("make airflow: stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
