"""A re-run with the same run id but other inputs must not adopt the old job (issue 11, item 5): the job carries a
fingerprint of its request as a tag, and start_or_attach re-attaches only when it matches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.core import fingerprint
from sagemaker_mlops.core.validation import ParamError

from constants import DATA_BUCKET
from emulator_helpers import dataset_zip, training_request, upload_zip

JOB = "mlops-train-fingerprint"
ZIP_SHA = "a" * 64


@pytest.fixture(scope="module")
def book_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The book's batch1 zip, built once for the module."""
    return dataset_zip(tmp_path_factory.mktemp("zip"))


def _request(**overrides: Any) -> dict[str, Any]:
    return training_request(JOB, DATA_BUCKET, "ch06", 20, **overrides)


def test_the_fingerprint_ignores_volatile_fields_only() -> None:
    base = fingerprint.request_sha256(_request(), ZIP_SHA)
    assert fingerprint.request_sha256(_request(TrainingJobName="mlops-train-other-a2"), ZIP_SHA) == base
    assert fingerprint.request_sha256(_request(Tags=[{"Key": "mlops:expires-at", "Value": "x"}]), ZIP_SHA) == base
    assert fingerprint.request_sha256(_request(), "b" * 64) != base
    changed = _request()
    changed["HyperParameters"]["epochs"] = "9"
    assert fingerprint.request_sha256(changed, ZIP_SHA) != base


def test_tagged_adds_both_tags_once() -> None:
    once = fingerprint.tagged(_request(Tags=[{"Key": "mlops:dag-id", "Value": "d"}]), ZIP_SHA)
    twice = fingerprint.tagged(once, ZIP_SHA)
    keys = [t["Key"] for t in twice["Tags"]]
    assert keys == ["mlops:dag-id", fingerprint.REQUEST_TAG, fingerprint.DATASET_TAG]
    assert twice == once


@pytest.fixture()
def old_job(aws: Any, book_zip: Path, airflow_aws: Any) -> dict[str, Any]:
    airflow_aws.settings(starting_seconds=300)
    samples = upload_zip(aws("s3"), book_zip, DATA_BUCKET, "ch06")
    request = fingerprint.tagged(training_request(JOB, DATA_BUCKET, "ch06", samples), ZIP_SHA)
    aws("sagemaker").create_training_job(**request)
    return request


def test_the_same_request_re_attaches(aws: Any, old_job: dict[str, Any]) -> None:
    sm = aws("sagemaker")
    fingerprint.check_same_request(sm, sm.describe_training_job(TrainingJobName=JOB), old_job)


@pytest.mark.parametrize(
    ("change", "named", "sha"),
    [
        (lambda r: r["HyperParameters"].update(epochs="9"), "HyperParameters.epochs", ZIP_SHA),
        (lambda r: r["ResourceConfig"].update(InstanceType="ml.g4dn.xlarge"), "ResourceConfig.InstanceType", ZIP_SHA),
        (lambda r: None, "the dataset", "b" * 64),
    ],
)
def test_another_request_under_the_same_run_id_is_refused_naming_the_change(
    aws: Any, old_job: dict[str, Any], change: Any, named: str, sha: str
) -> None:
    sm = aws("sagemaker")
    request = {k: (dict(v) if isinstance(v, dict) else v) for k, v in old_job.items() if k != "Tags"}
    change(request)
    with pytest.raises(ParamError, match="new run") as refused:
        fingerprint.check_same_request(
            sm, sm.describe_training_job(TrainingJobName=JOB), fingerprint.tagged(request, sha)
        )
    assert named in str(refused.value) and JOB in str(refused.value)


def test_a_model_already_announced_is_not_published_again() -> None:
    from sagemaker_mlops.training.incremental import already_published

    extras = [{"training_job_name": "mlops-train-a"}, {}, {"training_job_name": "mlops-train-b"}]
    assert already_published(extras, "mlops-train-b")
    assert not already_published(extras, "mlops-train-c")
