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
    ensure_bucket(client, "iso-bucket", "us-east-1", create=True)
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
    first = upload_tree(s3, tree, "iso-bucket", prefix, exact=True)
    assert first.uploaded > 0 and first.bytes_sent > 0
    again = upload_tree(s3, tree, "iso-bucket", prefix, exact=True)
    assert (again.uploaded, again.bytes_sent) == (0, 0)  # a re-run of the same zip reuses its prefix

    s3.put_object(Bucket="iso-bucket", Key=f"{prefix}/validation_lst/zzz.lst", Body=b"1\t3\tthree/x.png\n")
    with pytest.raises(DatasetError) as refused:
        upload_tree(s3, tree, "iso-bucket", prefix, exact=True)
    message = str(refused.value)
    assert f"{prefix}/validation_lst/zzz.lst" in message and "aws s3 rm" in message
    # Refused before anything was sent or removed: the stray object is still there for a person to look at.
    assert s3.head_object(Bucket="iso-bucket", Key=f"{prefix}/validation_lst/zzz.lst")["ContentLength"] > 0
