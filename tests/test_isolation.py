"""Issue 20 items 4 and 5 without a DAG run: content-addressed data prefixes, the buckets and prefixes a run may
use, the checkpoint URI's place, and teardowns that touch only what their run owns (checked on the emulator)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from local_datasets import build_dataset
from sagemaker_mlops.core import naming
from sagemaker_mlops.datasets.dataset import DatasetError, safe_extract
from sagemaker_mlops.datasets.upload import ensure_bucket, s3_client, upload_tree

SHA = "ab" * 32


@pytest.fixture()
def s3(emulator: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.WARNING, logger="werkzeug")
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": emulator.url},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    client = s3_client("aws_default")
    ensure_bucket(client, DATA_BUCKET, "us-east-1", create=True)
    return client


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("iso")
    info = build_dataset(work / "small.zip", "batch1", train_per_class=2, validation_per_class=1, test_count=2)
    safe_extract(info.path, work / "x")
    return work / "x"


def test_dataset_prefix_is_addressed_by_content() -> None:
    assert naming.dataset_prefix("ch06", SHA) == f"ch06/datasets/{SHA}"
    assert naming.dataset_prefix("team/ch06", "cd" * 32) != naming.dataset_prefix("team/ch06", SHA)
    with pytest.raises(ValueError, match="sha256"):
        naming.dataset_prefix("ch06", "../other")


def test_an_exact_prefix_refuses_keys_not_in_the_zip_and_a_rerun_sends_nothing(s3: Any, tree: Path) -> None:
    prefix = naming.dataset_prefix("ch06", SHA)
    first = upload_tree(s3, tree, DATA_BUCKET, prefix, exact=True)
    assert first.uploaded > 0 and first.bytes_sent > 0
    again = upload_tree(s3, tree, DATA_BUCKET, prefix, exact=True)
    assert (again.uploaded, again.bytes_sent) == (0, 0)  # a re-run of the same zip reuses its prefix

    s3.put_object(Bucket=DATA_BUCKET, Key=f"{prefix}/validation_lst/zzz.lst", Body=b"1\t3\tthree/x.png\n")
    with pytest.raises(DatasetError) as refused:
        upload_tree(s3, tree, DATA_BUCKET, prefix, exact=True)
    message = str(refused.value)
    assert f"{prefix}/validation_lst/zzz.lst" in message and "aws s3 rm" in message
    # Refused before anything was sent or removed: the stray object is still there for a person to look at.
    assert s3.head_object(Bucket=DATA_BUCKET, Key=f"{prefix}/validation_lst/zzz.lst")["ContentLength"] > 0


# -- buckets, prefixes and checkpoints come from the admin's Variables; the form only chooses within them ----------
from sagemaker_mlops.core.validation import ParamError  # noqa: E402
from sagemaker_mlops.run import run_config  # noqa: E402
from sagemaker_mlops.training import incremental  # noqa: E402

from constants import DATA_BUCKET, ROLE_ARN  # noqa: E402

VARIABLES = {"sagemaker_mlops_bucket": "mlops-test-bucket", "sagemaker_mlops_role_arn": ROLE_ARN}


def _form(**changes: Any) -> dict[str, Any]:
    params = run_config.common_params(dataset_url="https://example.com/batch1.zip", prefix="ch06")
    return {**{name: param.value for name, param in params.items()}, **changes}


def _resolve(params: dict[str, Any], variables: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return run_config.resolve(
        params,
        dag_id="mnist_train_deploy",
        run_id="manual__2026-03-01T12:00:00+00:00",
        aws_conn_id="aws_default",
        variable={**VARIABLES, **(variables or {})}.get,
        connection_region=lambda: "us-east-1",
        dag_prefix="ch06",
        **kwargs,
    )


def _refusal(params: dict[str, Any], variables: dict[str, str] | None = None, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ParamError) as caught:
        _resolve(params, variables, **kwargs)
    return {error.field: str(error) for error in caught.value.errors}


def test_a_form_bucket_must_be_the_admins_or_listed() -> None:
    assert _resolve(_form()).bucket == "mlops-test-bucket"
    assert _resolve(_form(bucket="mlops-test-bucket")).bucket == "mlops-test-bucket"
    found = _refusal(_form(bucket="other-teams-bucket"))
    assert list(found) == ["bucket"]
    assert "sagemaker_mlops_allowed_buckets" in found["bucket"] and "sagemaker_mlops_bucket" in found["bucket"]
    assert "Fix:" in found["bucket"]
    listed = {"sagemaker_mlops_allowed_buckets": "a-bucket, other-teams-bucket"}
    assert _resolve(_form(bucket="other-teams-bucket"), listed).bucket == "other-teams-bucket"
    # Pipeline 2: its own Variable is the admin's bucket; pipeline 1's is not implied.
    incremental_vars = {"sagemaker_mlops_incremental_bucket": "mlops-test-incremental"}
    found = _refusal(
        _form(bucket="mlops-test-bucket"), incremental_vars, bucket_variable="sagemaker_mlops_incremental_bucket"
    )
    assert "sagemaker_mlops_incremental_bucket" in found["bucket"]


@pytest.mark.parametrize(
    ("prefix", "words"),
    [
        ("ch06-tuning", "outside the prefixes"),  # the tuning DAG's prefix
        ("other-team", "outside the prefixes"),
        ("ch06/datasets/" + "ab" * 32, "reaches into datasets/"),
        ("ch06/checkpoints", "reaches into checkpoints/"),
    ],
)
def test_a_form_prefix_stays_under_the_dags_own_or_the_listed_ones(prefix: str, words: str) -> None:
    found = _refusal(_form(s3_prefix=prefix))
    assert list(found) == ["s3_prefix"] and words in found["s3_prefix"] and "Fix:" in found["s3_prefix"]


def test_prefixes_below_the_dags_own_or_listed_by_the_admin_are_allowed() -> None:
    assert _resolve(_form(s3_prefix="ch06/experiment-1")).prefix == "ch06/experiment-1"
    found = _refusal(_form(s3_prefix="shared/ml"))
    assert "sagemaker_mlops_allowed_prefixes" in found["s3_prefix"]
    listed = {"sagemaker_mlops_allowed_prefixes": "shared/ml"}
    assert _resolve(_form(s3_prefix="shared/ml/run"), listed).prefix == "shared/ml/run"
    assert "outside" in _refusal(_form(), listed)["s3_prefix"]  # the list replaces the default root


def test_resume_checkpoint_uri_lies_under_this_dags_checkpoint_prefix() -> None:
    own = "s3://mlops-test-bucket/ch06/checkpoints/mlops-train-manual-20260301t120000-0123456789"
    assert _resolve(_form(resume_checkpoint_uri=own)).bucket == "mlops-test-bucket"
    for uri in (
        "s3://mlops-test-bucket/mlops-train-x/checkpoints",  # another run's, outside the prefix
        "s3://base-bucket/ch06/output/job/output",  # the base model's folder
        "s3://mlops-test-bucket/ch06/checkpoints/",  # the whole checkpoint prefix
    ):
        found = _refusal(_form(resume_checkpoint_uri=uri))
        assert list(found) == ["resume_checkpoint_uri"] and "checkpoints/" in found["resume_checkpoint_uri"], uri
    base = "s3://mlops-test-bucket/ch06/checkpoints/base/model.tar.gz"  # a base model under the prefix itself
    errors = incremental.checkpoint_errors(
        "mlops-test-bucket", "ch06", "s3://mlops-test-bucket/ch06/checkpoints/base", base
    )
    assert [e.field for e in errors] == ["resume_checkpoint_uri"] and "base model" in str(errors[0])
    assert incremental.checkpoint_uri("b", "ch06", "job", None) == "s3://b/ch06/checkpoints/job"


# -- teardowns touch only what their run owns ---------------------------------------------------------------------
from datetime import UTC, datetime, timedelta  # noqa: E402

from sagemaker_mlops.core.tags import NotOwned, resource_tags  # noqa: E402
from sagemaker_mlops.serving import teardown  # noqa: E402
from sagemaker_mlops.training import job as training_job  # noqa: E402
from sagemaker_mlops.tuning import job as tuning_job  # noqa: E402

from emulator_helpers import IC_IMAGE, training_request, tuning_request, upload_zip  # noqa: E402

ME = ("mnist_train_deploy", "manual__2026-03-01T12:00:00+00:00")
OTHER = ("mnist_train_deploy", "manual__someone-else")


def _tags(owner: tuple[str, str]) -> list[dict[str, str]]:
    tags = resource_tags(*owner, datetime.now(UTC) + timedelta(hours=1))
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _deploy(sm: Any, s3: Any, name: str, owner: tuple[str, str]) -> None:
    s3.create_bucket(Bucket="own-bucket")
    s3.put_object(Bucket="own-bucket", Key="model.tar.gz", Body=b"artifact")
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": "s3://own-bucket/model.tar.gz"},
        Tags=_tags(owner),
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.xlarge",
    }
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], Tags=_tags(owner))
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=_tags(owner))


def test_a_teardown_leaves_another_runs_resources_with_a_colliding_name(aws: Any) -> None:
    sm, name = aws("sagemaker"), "mlops-ep-collide"
    _deploy(sm, aws("s3"), name, OTHER)
    for delete in (teardown.delete_endpoint, teardown.delete_endpoint_config, teardown.delete_model):
        with pytest.raises(NotOwned) as refused:
            delete(sm, name, owner=ME)
        message = str(refused.value)
        assert name in message and "left untouched" in message and "manual__someone-else" in message
    assert sm.describe_endpoint(EndpointName=name)["EndpointName"] == name  # still there (a fake artifact: Failed)
    assert sm.describe_endpoint_config(EndpointConfigName=name)["EndpointConfigName"] == name
    assert sm.describe_model(ModelName=name)["ModelName"] == name
    # Its own run's teardown deletes them (and so does a caller that asks for no check, like the reaper).
    assert teardown.delete_endpoint(sm, name, owner=OTHER, poll_seconds=0.05) is True
    assert teardown.delete_endpoint_config(sm, name, owner=OTHER) is True
    assert teardown.delete_model(sm, name, owner=OTHER) is True
    assert teardown.delete_model(sm, name, owner=ME) is False  # gone: nothing to check, nothing to do


def test_a_stop_leaves_another_runs_training_and_tuning_jobs_running(aws: Any, emulator: Any, batch1: Path) -> None:
    emulator.settings(epoch_seconds=30.0)  # still InProgress while the teardown looks at them
    sm = aws("sagemaker")
    samples = upload_zip(aws("s3"), batch1, "own-bucket", "ch06")
    sm.create_training_job(
        **{**training_request("mlops-train-collide", "own-bucket", "ch06", samples), "Tags": _tags(OTHER)}
    )
    with pytest.raises(NotOwned, match="training job mlops-train-collide"):
        training_job.stop_if_running(sm, "mlops-train-collide", owner=ME)
    assert sm.describe_training_job(TrainingJobName="mlops-train-collide")["TrainingJobStatus"] == "InProgress"

    sm.create_hyper_parameter_tuning_job(
        **{**tuning_request("mlops-hpo-collide", "own-bucket", "ch06", samples, jobs=1), "Tags": _tags(OTHER)}
    )
    with pytest.raises(NotOwned, match="tuning job mlops-hpo-collide"):
        tuning_job.stop_if_running(sm, "mlops-hpo-collide", owner=ME)
    status = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="mlops-hpo-collide")
    assert status["HyperParameterTuningJobStatus"] == "InProgress"
    assert training_job.stop_if_running(sm, "mlops-train-collide", owner=OTHER) is True
    assert tuning_job.stop_if_running(sm, "mlops-hpo-collide", owner=OTHER) is True
