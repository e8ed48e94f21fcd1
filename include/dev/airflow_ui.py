"""``make airflow``: the real Airflow UI on this machine, against the local AWS emulator, until Ctrl-C.

Starts the emulator and the dataset server (include/dev/local_stack.py) and the Airflow 3.3.1 services —
api-server, scheduler, dag-processor, triggerer (include/dev/services.py). Prints the URL, the user and the password.

Before the services start, the ``aws_default`` connection (pointing at the emulator) and every Variable a local run
needs (:func:`local_variables`: the buckets of pipelines 1 and 2, the role, the dataset server as mirror and allowed
host, production off) are written into Airflow's metadata DB — each only if it is not there yet, so what a person
changed in the UI (Admin > Variables / Connections) survives a restart, and no ``AIRFLOW_VAR_*``/``AIRFLOW_CONN_*``
environment variable hides an edit (Airflow reads those before the DB). The DAGs start unpaused and stay green
without anyone acting: pipeline 2's cron fires at once and, with no model yet, its run ends skipped; the hourly
reaper finds nothing to remove; the hourly drift monitor skips, saying there is no production endpoint to watch;
``mnist_deploy_production`` skips, saying production is off; the setup check and the decommission run only when
triggered.

State lives in ``.local/airflow/`` (``--work``): Airflow's SQLite DB (runs, task logs, Variables and connections,
Asset events), the generated password and the built dataset zips survive a restart. The emulator keeps nothing:
each start it is empty (no buckets, jobs, models), so old runs' S3 links and pipeline 2's default base model point
at things that are gone until pipeline 1 runs again; since the emulator's port changes each start, the
connection's ``endpoint_url`` and the dataset-server Variables are brought up to date at each start while they
still point at a loopback address (a person's edit to a real account's endpoint is kept).

Ctrl-C (SIGINT) or SIGTERM stops everything it started: each service's process group, then anything of this
Airflow home still running, then the emulator and the dataset server.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from aws_emulator.control import EmulatorControl
from sagemaker_mlops.run.run_config import DATASET_MIRROR_VARIABLE, DATASET_SHA256_VARIABLE, DATASET_URL_VARIABLE

from local_stack import REPO, LocalStack, lineage_file, pin_holdout
from services import AirflowServices

# Every DAG of dags/ (each file is named after its DAG): the UI is ready once all are listed, so a new DAG is never
# missing from make airflow's first page (a fixed list here once left three out).
DAG_IDS = tuple(sorted(path.stem for path in (REPO / "dags").glob("*.py") if not path.name.startswith("_")))
USER = "admin"
CONN_ID = "aws_default"
INCREMENTAL_BUCKET = "mlops-ch06-incremental-demo"
SEEDED_FILE = "make-airflow-seeded.json"  # in AIRFLOW_HOME: what this target last wrote, to tell it from an edit

# What each Variable does, shown beside it in Admin > Variables.
DESCRIPTIONS = {
    "sagemaker_mlops_bucket": "S3 bucket of pipelines 1 and 3 (created on first use); the reaper's reports.",
    "sagemaker_mlops_incremental_bucket": "S3 bucket of pipeline 2 (mnist_incremental_spot), apart from the base's.",
    "sagemaker_mlops_role_arn": "IAM role SageMaker assumes for training and endpoints.",
    "sagemaker_mlops_allowed_dataset_hosts": "Loopback/private host[:port] the dataset download may fetch from.",
    DATASET_MIRROR_VARIABLE: "Where the form's default (book) dataset URLs resolve to. Empty on a real account.",
    "sagemaker_mlops_production_enabled": "true: mnist_deploy_production deploys (bills around the clock).",
    DATASET_URL_VARIABLE: "The zip scheduled and Asset-triggered runs train on (manual runs use their form's).",
    DATASET_SHA256_VARIABLE: "That zip's SHA-256: the download refuses other bytes.",
    "sagemaker_mlops_holdout_uri": "The admin-pinned holdout zip promotion is decided on (unset: nothing promoted).",
    "sagemaker_mlops_holdout_sha256": "That holdout's SHA-256.",
}


def local_variables(local: LocalStack) -> dict[str, str]:
    """Every Variable a run on the local emulator needs, by name: the account ones of ``LocalStack``, pipeline 2's
    bucket, the dataset server as the book URLs' mirror, the production switch shown off, and the dataset pinned
    for automatic runs (pipeline 2 from its cron or pipeline 1's Asset: the local batch2.zip and its digest)."""
    return {
        **local.variables(),
        "sagemaker_mlops_incremental_bucket": INCREMENTAL_BUCKET,
        DATASET_MIRROR_VARIABLE: local.dataset_url,
        "sagemaker_mlops_production_enabled": "false",
        DATASET_URL_VARIABLE: f"{local.dataset_url}/batch2.zip",
        DATASET_SHA256_VARIABLE: local.dataset_sha256("batch2.zip"),
    }


def without_overrides(env: dict[str, str], names: list[str]) -> tuple[dict[str, str], list[str]]:
    """``env`` without the ``AIRFLOW_VAR_*``/``AIRFLOW_CONN_*`` variables of these Variables and the connection
    (Airflow reads them before its DB, so they would hide every UI edit), and the names it removed."""
    hidden = {f"AIRFLOW_VAR_{name.upper()}" for name in names} | {f"AIRFLOW_CONN_{CONN_ID.upper()}"}
    return {k: v for k, v in env.items() if k not in hidden}, sorted(hidden & set(env))


def seed_metadata(env: dict[str, str], wanted: dict[str, Any], seeded_file: Path) -> dict[str, list[str]]:
    """Write the connection and Variables into Airflow's DB (a subprocess: Airflow reads its settings from the
    environment at import). Each is created when missing, or brought up to date when it still holds what this
    target wrote last time (the emulator's and dataset server's ports change each start); a value a person
    changed is kept. Returns what was ``created``, ``updated`` and ``kept``."""
    previous = json.loads(seeded_file.read_text()) if seeded_file.is_file() else {}
    request = json.dumps({"wanted": wanted, "previous": previous, "descriptions": DESCRIPTIONS, "conn_id": CONN_ID})
    done = subprocess.run(
        [sys.executable, __file__, "--seed"], env=env, input=request, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding the Variables and connection failed:\n{done.stderr[-3000:]}")
    seeded_file.write_text(json.dumps(wanted, indent=2) + "\n")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _seed_in_this_process(request: dict[str, Any]) -> dict[str, list[str]]:
    """The ``--seed`` subprocess: Airflow's ORM on the DB of AIRFLOW_HOME, one transaction."""
    from airflow.models.connection import Connection
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    wanted, previous = request["wanted"], request["previous"]
    outcome: dict[str, list[str]] = {"created": [], "updated": [], "kept": []}
    with create_session() as session:
        for key, value in wanted["variables"].items():
            row = session.scalar(select(Variable).where(Variable.key == key))
            if row is None:
                session.add(Variable(key=key, val=value, description=request["descriptions"].get(key)))
                outcome["created"].append(key)
            elif row.val != value and row.val == previous.get("variables", {}).get(key):
                row.val = value
                outcome["updated"].append(key)
            else:
                outcome["kept"].append(key)
        conn_id, conn = request["conn_id"], wanted["connection"]

        def fields(c: Connection) -> dict[str, Any]:
            return {"conn_type": c.conn_type, "login": c.login, "password": c.password, "extra": c.extra_dejson}

        row = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        if row is None:
            session.add(
                Connection(
                    conn_id=conn_id,
                    conn_type=conn["conn_type"],
                    login=conn["login"],
                    password=conn["password"],
                    extra=json.dumps(conn["extra"]),
                    description="The local AWS emulator. For a real account: an access key as login/password "
                    "(or clear them for the machine's credentials), region_name, no endpoint_url.",
                )
            )
            outcome["created"].append(conn_id)
        elif fields(row) != conn and fields(row) == previous.get("connection"):
            row.login, row.password, row.extra = conn["login"], conn["password"], json.dumps(conn["extra"])
            outcome["updated"].append(conn_id)
        else:
            outcome["kept"].append(conn_id)
    return outcome


class LocalAirflow(AirflowServices):
    """The services of ``make airflow``: the connection and Variables are seeded after the DB migration and before
    any service starts, so no scheduled run can start without them."""

    def __init__(self, *args: Any, wanted: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wanted = wanted
        self.seeded: dict[str, list[str]] = {}

    def start_before_services(self) -> None:
        self.seeded = seed_metadata(self.env, self.wanted, self.home / SEEDED_FILE)

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """The scheduler only once the api-server answers: the DAGs' cron runs (pipeline 2, the reaper) are queued
        at the scheduler's first loop, and a task started before the Task Execution API listens dies with
        "connection refused" (a retry, shown as a failed attempt)."""
        if name == "scheduler":
            self.wait_answering()
        return super().spawn(name, args, env)

    def wait_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            self._check_running()
            try:
                self.health()
                return
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the api-server did not answer within {self.start_timeout}s") from None
                time.sleep(0.5)


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
        # The admin's pinned holdout (the emulator starts empty: put again each start; its digest is the same).
        variables = {**local_variables(local), **pin_holdout(local, work)}
        env, hidden = without_overrides(
            local.airflow_env(work / "airflow", poll_seconds=2, overrides=False), list(variables)
        )
        if hidden:
            print(f"make airflow: ignoring {', '.join(hidden)} from the environment: the UI sets them", flush=True)
        # The connection's login/password reach the emulator; cleared in the UI, boto3 uses this machine's own
        # credentials (environment, profile), not the emulator's dummy keys.
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            if name in os.environ:
                env[name] = os.environ[name]
            else:
                env.pop(name, None)
        wanted = {"variables": variables, "connection": local.connection()}
        airflow = LocalAirflow(
            work / "airflow", env, dag_ids=DAG_IDS, port=args.port or None, login_user=USER, wanted=wanted
        )
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
  server ({local.dataset_url}) through the Variable {DATASET_MIRROR_VARIABLE}. A successful run publishes
  the model Asset, which starts mnist_incremental_spot.

  Settings live in Airflow's DB, not the environment: change them in the UI (Admin > Variables, Admin >
  Connections) and they stay across restarts. {CONN_ID} points at the emulator ({local.emulator_url});
  for a real account edit it there: an access key as login/password (or clear them for this machine's
  credentials), region_name, and delete endpoint_url; then set the Variables (buckets, role_arn) to the
  account's and clear {DATASET_MIRROR_VARIABLE}. Production stays off until
  sagemaker_mlops_production_enabled is true. This start: {_seed_summary(airflow.seeded)}
  (a value changed in the UI is kept).

  Logs: {airflow.logs} (services), {airflow.home / "logs"} (tasks), {work / "logs"} (emulator, datasets).
  Lineage: {lineage_file(env) or "the OpenLineage transport your environment sets"} (docs/lineage.md).
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


def _seed_summary(seeded: dict[str, list[str]]) -> str:
    """E.g. "created 6 Variables and aws_default" / "kept 7 as found in the DB; updated aws_default"."""
    parts = []
    for what in ("created", "updated", "kept"):
        names = seeded.get(what) or []
        variables = [name for name in names if name != CONN_ID]
        items = ([f"{len(variables)} Variables"] if variables else []) + ([CONN_ID] if CONN_ID in names else [])
        if items:
            parts.append(f"{what} {' and '.join(items)}")
    return "; ".join(parts) or "nothing to set"


if __name__ == "__main__":
    if sys.argv[1:] == ["--seed"]:  # the subprocess of seed_metadata
        print(json.dumps(_seed_in_this_process(json.loads(sys.stdin.read()))))
        sys.exit(0)
    sys.exit(main())
