"""OpenLineage: pipeline 1 run as ``make run`` runs it (``airflow dags test``, the local file transport) writes
events naming the dataset's S3 channels, the training job, the model artifact and the registered package, each on
the task that touched it; plus the pure naming and the local settings that keep a team's own transport."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.core import lineage

from constants import ACCOUNT, DATA_BUCKET, REGION, REPO
from local_stack import LINEAGE_NAMESPACE, lineage_env, lineage_file

DAG_ID = "mnist_train_deploy"


# --- naming and settings (no DAG run)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bkt/ch06/train", ("s3://bkt", "ch06/train")),
        ("s3://bkt/ch06/output/job/output/model.tar.gz", ("s3://bkt", "ch06/output/job/output/model.tar.gz")),
        ("s3://bkt/ch06/train/", ("s3://bkt", "ch06/train")),  # a folder is one dataset, with or without the slash
        (
            "arn:aws:sagemaker:eu-west-1:111122223333:model-package/mnist-image-classifier/3",
            ("arn:aws:sagemaker:eu-west-1:111122223333", "model-package/mnist-image-classifier/3"),
        ),
        ("https://example.com/data/batch1.zip", ("https://example.com", "/data/batch1.zip")),
    ],
)
def test_dataset_names_follow_openlineage_naming(uri: str, expected: tuple[str, str]) -> None:
    assert lineage.dataset_name(uri) == expected


@pytest.mark.parametrize("uri", ["ch06/train", "arn:aws:sagemaker", "", "model.tar.gz"])
def test_a_task_cannot_report_a_name_that_is_not_a_uri(uri: str) -> None:
    with pytest.raises(ValueError, match=r"ARN|URL"):
        lineage.report({}, outputs=[uri])


def test_report_gives_the_running_task_the_providers_lineage_method() -> None:
    class Task:
        pass

    task = Task()
    lineage.report(
        {"task": task},
        inputs=["s3://bkt/p/output/j/output/model.tar.gz"],
        outputs=["arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"],
        external_job="j",
    )
    facets = task.get_openlineage_facets_on_complete(None)  # what the provider's DefaultExtractor calls
    assert [(d.namespace, d.name) for d in facets.inputs] == [("s3://bkt", "p/output/j/output/model.tar.gz")]
    assert [(d.namespace, d.name) for d in facets.outputs] == [
        ("arn:aws:sagemaker:us-east-1:123456789012", "model-package/g/1")
    ]
    assert facets.run_facets["externalQuery"].externalQueryId == "j"


def test_local_runs_write_lineage_to_a_file_unless_the_environment_sets_a_transport(tmp_path: Path) -> None:
    env = lineage_env(tmp_path / "lineage", environ={})
    assert lineage_file(env) == tmp_path / "lineage" / "openlineage.jsonl" and (tmp_path / "lineage").is_dir()
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == LINEAGE_NAMESPACE
    assert json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])["append"] is True
    for own in (
        {"OPENLINEAGE_URL": "http://marquez:5000"},
        {"AIRFLOW__OPENLINEAGE__TRANSPORT": '{"type": "console"}'},
        {"AIRFLOW__OPENLINEAGE__DISABLED": "true"},
        {"OPENLINEAGE__TRANSPORT__TYPE": "http"},
    ):
        assert lineage_env(tmp_path / "other", environ=own) == {}, own
    assert not (tmp_path / "other").exists()


# --- a whole run


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _complete(events: list[dict[str, Any]], task_id: str) -> dict[str, Any]:
    done = [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == f"{DAG_ID}.{task_id}"]
    assert len(done) == 1, (task_id, [e["job"]["name"] for e in events])
    return done[0]


def _names(datasets: list[dict[str, Any]]) -> set[str]:
    return {f"{d['namespace']}/{d['name']}" for d in datasets}


def _uri(uri: str) -> str:
    namespace, name = lineage.dataset_name(uri)
    return f"{namespace}/{name}"


def _latest_xcoms(task_ids: tuple[str, ...]) -> dict[str, Any]:
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == DAG_ID).order_by(DagRun.id.desc())).first()
        values = {}
        for task_id in task_ids:
            row = session.scalars(
                XComModel.get_many(run_id=run.run_id, dag_ids=DAG_ID, task_ids=task_id, key="return_value")
            ).first()
            values[task_id] = XComModel.deserialize_value(row)
        return values


@pytest.mark.e2e
def test_a_pipeline1_run_reports_dataset_job_artifact_and_package_lineage(
    airflow_db, airflow_aws, aws, datasets, tmp_path
):
    own = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "AIRFLOW__OPENLINEAGE"))}
    env = {**own, **lineage_env(tmp_path / "lineage", environ={})}  # this test's file, whatever the shell sets
    env["PYTHONPATH"] = os.pathsep.join(str(REPO / p) for p in ("dags", "plugins", "include"))
    airflow = Path(sys.executable).parent / "airflow"
    log = tmp_path / "dags-test.log"  # kept with the events, to read after a failure or a timeout
    with log.open("w") as out:
        done = subprocess.run(
            [str(airflow), "dags", "test", DAG_ID, "-c", json.dumps(datasets.conf())],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=540,
        )
    assert done.returncode == 0, log.read_text()[-6000:]
    events = _events(lineage_file(env))
    x = _latest_xcoms(("upload_dataset", "training_result", "register_model"))

    # The upload (a plain-hook task) wrote the channel folders; the training job read exactly those.
    channels = {_uri(uri) for uri in x["upload_dataset"]["channel_uris"]}
    assert {c.rsplit("/", 1)[1] for c in channels} == {"train", "validation", "train_lst", "validation_lst", "test"}
    assert all(c.startswith(f"s3://{DATA_BUCKET}/") for c in channels)
    upload = _complete(events, "upload_dataset")
    assert _names(upload["outputs"]) == channels
    assert _names(upload["inputs"]) == {_uri(datasets.conf()["dataset_url"])}

    # The provider's training operator: the channels in, the model artifact out.
    artifact = x["training_result"]["model_artifact"]
    assert artifact.endswith("/model.tar.gz")
    train = _complete(events, "train")
    assert _names(train["inputs"]) == {c for c in channels if not c.endswith("/test")}  # test/ is no channel
    assert _names(train["outputs"]) == {_uri(artifact)}

    # training_result (a plain-hook task, also on the re-attach path): the job it followed, by name and by ARN.
    job_name = x["training_result"]["training_job_name"]
    job_arn = x["training_result"]["training_job_arn"]
    assert job_arn.startswith(f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/")
    result = _complete(events, "training_result")
    assert result["run"]["facets"]["externalQuery"]["externalQueryId"] == job_name
    assert _names(result["inputs"]) <= channels and _names(result["outputs"]) == {_uri(artifact), _uri(job_arn)}

    # register_model (plain hooks): the artifact and its job in, the registered package version out.
    package = x["register_model"]["model_package_arn"]
    register = _complete(events, "register_model")
    assert _names(register["inputs"]) == {_uri(artifact), _uri(job_arn)}
    assert _names(register["outputs"]) == {_uri(package)}
    assert register["outputs"][0] == {
        **register["outputs"][0],
        "namespace": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}",
        "name": "model-package/mnist-image-classifier/1",
    }

    # One process ran every task: a task reports what its own hooks touched, never the tasks' before it (S3Hook
    # wrote report.json in training_result, utilisation.json/.html in utilisation_report, ... before these ran).
    for quiet in ("training_request", "start_or_attach", "deploy_requests", "create_model", "decide_approval"):
        for event in (e for e in events if e["job"]["name"] == f"{DAG_ID}.{quiet}"):
            assert event["inputs"] == [] and event["outputs"] == [], (quiet, event["eventType"], event["outputs"])
    folder = artifact.rsplit("/", 1)[0]
    assert _names(_complete(events, "smoke_test")["outputs"]) == {_uri(f"{folder}/smoke_test.json")}
    assert all(e["job"]["namespace"] == LINEAGE_NAMESPACE for e in events)
