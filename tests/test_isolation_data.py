"""Issue 20 item 4, end to end: one run's data never reaches another run's channels or smoke test.

The attack, as the issue tried it: a run whose zip names its (single, valid) validation list ``zzz.lst`` used to
leave it under the DAG's shared prefix, so the next run with a normal ``validation.lst`` had both lists in its
``validation_lst`` channel (duplicate image index: its training job failed, and so did every later run)."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from constants import DATA_BUCKET
from dag_runs import ACTIONS_THAT_CREATE, run_dag, xcom

pytestmark = pytest.mark.e2e

DAG_ID = "mnist_train_deploy"


def _renamed_list_zip(source: Path, dest: Path) -> str:
    """``source`` with validation_lst/validation.lst stored as validation_lst/zzz.lst; returns its SHA-256."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as renamed:
        for info in original.infolist():
            name = info.filename.replace("validation_lst/validation.lst", "validation_lst/zzz.lst")
            renamed.writestr(name, original.read(info))
    return hashlib.sha256(dest.read_bytes()).hexdigest()


def _channel_keys(aws, job_name: str, channel: str) -> list[str]:
    """Every object key the job's ``channel`` reads (S3Prefix: everything under its URI)."""
    job = aws("sagemaker").describe_training_job(TrainingJobName=job_name)
    uri = next(c for c in job["InputDataConfig"] if c["ChannelName"] == channel)["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, prefix = uri[5:].split("/", 1)
    pages = aws("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def test_a_poisoned_run_does_not_reach_the_next_runs_channels(airflow_db, airflow_aws, aws, datasets):
    zzz_sha = _renamed_list_zip(datasets.folder / "batch1.zip", datasets.folder / "zzz-list.zip")
    first, states = run_dag(
        DAG_ID,
        {"dataset_url": f"{datasets.url}/zzz-list.zip", "dataset_sha256": zzz_sha},
        when=datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert str(first.state) == "success", states

    second, states = run_dag(DAG_ID, datasets.conf(), when=datetime(2026, 3, 2, tzinfo=UTC))
    assert str(second.state) == "success", states
    job = xcom(second, "training_result")["training_job_name"]
    lists = _channel_keys(aws, job, "validation_lst")
    assert [key.rsplit("/", 1)[-1] for key in lists] == ["validation.lst"], lists
    assert all(datasets.sha256["batch1.zip"] in key for key in lists), lists
    for channel in ("train", "validation", "train_lst"):
        assert all(zzz_sha not in key for key in _channel_keys(aws, job, channel))
    # The smoke test scored this run's labels only: its sample came from the one list it trained on.
    assert xcom(second, "smoke_test")["sample_size"] == 50

    # The first run's data stays where it is, under its own content address, untouched by the second.
    keys = aws("s3").list_objects_v2(Bucket=DATA_BUCKET, Prefix=f"ch06/datasets/{zzz_sha}/validation_lst/")
    assert [item["Key"].rsplit("/", 1)[-1] for item in keys.get("Contents", [])] == ["zzz.lst"]


def test_a_form_bucket_or_prefix_outside_the_admins_is_refused_before_anything_is_created(
    airflow_db, airflow_aws, datasets, capfd
):
    run, states = run_dag(DAG_ID, datasets.conf(bucket="other-teams-bucket", s3_prefix="ch06-tuning"))
    assert str(run.state) == "failed" and states["validate_and_preflight"] == "failed", states
    out = capfd.readouterr().out
    assert "bucket: 'other-teams-bucket' is not a bucket this DAG may use" in out
    assert "sagemaker_mlops_allowed_buckets" in out and "sagemaker_mlops_allowed_prefixes" in out
    assert "s3_prefix: 'ch06-tuning' is outside the prefixes this DAG may write (ch06" in out and "Fix:" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())


def test_a_teardown_fails_and_leaves_another_runs_model_that_has_this_runs_name(
    airflow_db, airflow_aws, aws, datasets, capfd
):
    from sagemaker_mlops.core import naming
    from sagemaker_mlops.core.tags import resource_tags

    from constants import ROLE_ARN
    from emulator_helpers import IC_IMAGE

    when = datetime(2026, 3, 4, tzinfo=UTC)
    name = naming.resource_name(naming.NAME_PREFIX, "model", DAG_ID, f"manual__{when.isoformat()}")
    s3, sm = aws("s3"), aws("sagemaker")
    s3.create_bucket(Bucket="someone-else")
    s3.put_object(Bucket="someone-else", Key="model.tar.gz", Body=b"artifact")
    other = resource_tags(DAG_ID, "manual__someone-else", when)
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": "s3://someone-else/model.tar.gz"},
        Tags=[{"Key": key, "Value": value} for key, value in other.items()],
    )
    run, states = run_dag(DAG_ID, datasets.conf(), when=when)
    assert str(run.state) == "failed" and states["delete_model"] == "failed", states
    out = capfd.readouterr().out
    assert f"model {name}" in out and "is not this run's" in out and "left untouched" in out
    assert sm.describe_model(ModelName=name)["PrimaryContainer"]["ModelDataUrl"] == "s3://someone-else/model.tar.gz"
    # This run's own endpoint and endpoint config were still torn down.
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_endpoint_configs()["EndpointConfigs"] == []
