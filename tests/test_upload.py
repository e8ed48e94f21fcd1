"""The upload step puts the dataset at the keys SageMaker's channels read, sends nothing twice, and only creates a
bucket when asked, locked down (Block Public Access, SSE-S3). Runs against the in-process AWS emulator through
the Airflow connection, like the DAG task."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from local_datasets import build_dataset
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.datasets.dataset import DatasetError, DatasetSummary, safe_extract, validate_layout
from sagemaker_mlops.datasets.upload import UploadReport, ensure_bucket, s3_client, upload_tree

from constants import DATA_BUCKET, INCREMENTAL_BUCKET

# The suite's deployment's buckets: the Airflow role may list, create and write these two only (tests/iam_replay.py).
BUCKET = DATA_BUCKET
PREFIX = "ch06"


@pytest.fixture()
def aws_conn(emulator: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Any:
    """The Airflow connection ``aws_default`` pointed at the emulator (what the S3Hook reads)."""
    caplog.set_level(logging.WARNING, logger="werkzeug")  # no access-log line per PutObject
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": emulator.url},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    return emulator


@pytest.fixture()
def client(aws_conn: Any) -> Any:
    """The S3 client the upload task makes from the connection (upload.s3_client), as the DAG passes it."""
    return s3_client("aws_default")


@pytest.fixture(scope="module")
def batch1(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DatasetSummary]:
    work = tmp_path_factory.mktemp("upload")
    # A small tree in the book's layout (92 files): what is tested is where each file goes and what is sent again;
    # throughput on the full ~700 files is include/dev/bench_upload.py's.
    info = build_dataset(work / "small.zip", "batch1", train_per_class=6, validation_per_class=2, test_count=10)
    root = work / "extracted"
    safe_extract(info.path, root)
    return root, validate_layout(root, num_classes=10)


def expected_keys(root: Path, prefix: str) -> dict[str, Path]:
    """key -> local file for every file of the five channels."""
    return {f"{prefix}/{path.relative_to(root).as_posix()}": path for path in root.rglob("*") if path.is_file()}


def list_objects(s3: Any, bucket: str, prefix: str = "") -> dict[str, dict]:
    objects: dict[str, dict] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects.update({item["Key"]: item for item in page.get("Contents", [])})
    return objects


def test_upload_tree_puts_every_file_at_its_channel_key(aws_conn: Any, client: Any, aws: Any, batch1: tuple) -> None:
    root, summary = batch1
    s3 = aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    aws_conn.clear_requests()

    report = upload_tree(client, root, BUCKET, PREFIX)
    actions = Counter(aws_conn.actions("s3"))

    want = expected_keys(root, PREFIX)
    assert len(want) == 92  # 60 + 20 + 10 images + 2 .lst files
    assert isinstance(report, UploadReport)
    assert (report.uploaded, report.skipped) == (92, 0)
    assert report.bytes_sent == sum(path.stat().st_size for path in want.values())
    objects = list_objects(s3, BUCKET)
    assert set(objects) == set(want)
    per_channel = Counter(key.split("/")[1] for key in objects)
    assert per_channel == {"train": 60, "validation": 20, "test": 10, "train_lst": 1, "validation_lst": 1}
    assert f"{PREFIX}/train_lst/train.lst" in objects and f"{PREFIX}/validation_lst/validation.lst" in objects
    for key, path in want.items():  # same bytes: the ETag of a single PutObject is the MD5
        assert objects[key]["Size"] == path.stat().st_size
        assert objects[key]["ETag"].strip('"') == hashlib.md5(path.read_bytes()).hexdigest()
    body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/train_lst/train.lst")["Body"].read()
    assert body == (root / "train_lst" / "train.lst").read_bytes()
    assert actions["PutObject"] == 92 and actions["ListObjectsV2"] == 1  # the prefix is listed once
    assert summary.num_training_samples == 60


def test_a_second_run_sends_nothing(aws_conn: Any, client: Any, aws: Any, batch1: tuple) -> None:
    root, _ = batch1
    aws("s3").create_bucket(Bucket=BUCKET)
    upload_tree(client, root, BUCKET, PREFIX)
    aws_conn.clear_requests()

    again = upload_tree(client, root, BUCKET, PREFIX)

    assert (again.uploaded, again.skipped, again.bytes_sent) == (0, 92, 0)
    assert "PutObject" not in aws_conn.actions("s3")


def test_only_new_or_changed_files_are_sent_again(
    aws_conn: Any, client: Any, aws: Any, batch1: tuple, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    shutil.copytree(batch1[0], root)
    aws("s3").create_bucket(Bucket=BUCKET)
    upload_tree(client, root, BUCKET, PREFIX, max_workers=8)
    tests = sorted((root / "test").iterdir())
    (root / "test" / "EXTRA.png").write_bytes(tests[0].read_bytes())  # new file
    tests[1].write_bytes(tests[1].read_bytes() + b"\0")  # new size
    lst = root / "validation_lst" / "validation.lst"
    data = lst.read_bytes()
    lst.write_bytes(b"9" + data[1:])  # same size, other bytes: only the MD5 tells
    assert data[:1] != b"9"

    report = upload_tree(client, root, BUCKET, PREFIX)

    assert (report.uploaded, report.skipped) == (3, 90)
    s3 = aws("s3")
    for path in (root / "test" / "EXTRA.png", tests[1], lst):
        key = f"{PREFIX}/{path.relative_to(root).as_posix()}"
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == path.read_bytes()


def test_upload_can_be_limited_to_the_validated_files(aws_conn: Any, client: Any, aws: Any, batch1: tuple) -> None:
    root, summary = batch1
    s3 = aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    files = {"train_lst": summary.files["train_lst"], "train": summary.files["train"][:5]}
    report = upload_tree(client, root, BUCKET, "subset", channels=("train", "train_lst"), files=files)
    assert report.uploaded == 6
    assert sorted(list_objects(s3, BUCKET, "subset/")) == sorted(
        [f"subset/train/{rel}" for rel in summary.files["train"][:5]] + ["subset/train_lst/train.lst"]
    )


def test_upload_to_a_missing_bucket_names_the_bucket(aws_conn: Any, client: Any, batch1: tuple) -> None:
    aws_conn.clear_requests()
    with pytest.raises(DatasetError) as caught:
        upload_tree(client, batch1[0], BUCKET, PREFIX)
    assert caught.value.field == "bucket" and "does not exist" in str(caught.value)
    assert "PutObject" not in aws_conn.actions("s3")


def test_upload_refuses_a_bad_prefix_before_any_call(aws_conn: Any, client: Any, batch1: tuple) -> None:
    aws_conn.clear_requests()
    for prefix in ("/ch06", "ch06/", "ch06//x", "s3://bucket/ch06"):
        with pytest.raises(ParamError) as caught:
            upload_tree(client, batch1[0], BUCKET, prefix)
        assert caught.value.field == "prefix"
    with pytest.raises(ParamError) as caught:
        upload_tree(client, batch1[0], "Bad_Bucket", PREFIX)
    assert caught.value.field == "bucket"
    assert aws_conn.actions("s3") == []


def test_client_pool_fits_the_workers_and_keeps_the_connection_endpoint(aws_conn: Any) -> None:
    client = s3_client("aws_default", max_pool_connections=48)
    assert client.meta.config.max_pool_connections == 48
    assert client.meta.endpoint_url == aws_conn.url
    assert client.meta.region_name == "us-east-1"


def test_ensure_bucket_creates_a_locked_down_bucket(aws_conn: Any, client: Any, aws: Any) -> None:
    s3 = aws("s3")
    assert ensure_bucket(client, BUCKET, "us-east-1", create=True) is True

    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # An existing bucket is left alone.
    assert ensure_bucket(client, BUCKET, "us-east-1", create=True) is False


def test_ensure_bucket_outside_us_east_1_sets_the_location(aws_conn: Any, client: Any, aws: Any) -> None:
    eu_client = s3_client("aws_default", region_name="eu-west-1")
    assert ensure_bucket(eu_client, INCREMENTAL_BUCKET, "eu-west-1", create=True) is True
    assert aws("s3").get_bucket_location(Bucket=INCREMENTAL_BUCKET)["LocationConstraint"] == "eu-west-1"
    with pytest.raises(DatasetError) as caught:  # SageMaker in us-east-1 could not read it
        ensure_bucket(client, INCREMENTAL_BUCKET, "us-east-1", create=False)
    assert caught.value.field == "bucket" and "eu-west-1" in str(caught.value)


def test_missing_bucket_without_create_fails_before_any_create(aws_conn: Any, client: Any, aws: Any) -> None:
    aws_conn.clear_requests()
    with pytest.raises(DatasetError) as caught:
        ensure_bucket(client, BUCKET, "us-east-1", create=False)
    error = caught.value
    assert error.field == "bucket" and "does not exist" in str(error) and "Fix:" in str(error)
    actions = aws_conn.actions("s3")
    assert "CreateBucket" not in actions and actions == ["HeadBucket"]
    assert BUCKET not in [b["Name"] for b in aws("s3").list_buckets()["Buckets"]]
