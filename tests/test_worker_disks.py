"""Tasks share no disk: ``upload_dataset`` on another worker than ``download_dataset`` uses its own copy.

Under CeleryExecutor (MWAA) consecutive tasks usually run on different workers; the download's XCom names a folder
on the downloading worker's disk. Two data folders on one machine stand for two workers: the upload must fetch and
validate the dataset into its own folder (by the zip's SHA-256), not read the other worker's path — which on one
machine would silently work and on MWAA would not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.datasets import tasks
from sagemaker_mlops.run import run_config

from constants import DATA_BUCKET, ROLE_ARN


@pytest.fixture()
def served(tmp_path: Path) -> Any:
    from local_datasets.builder import build_dataset
    from local_datasets.server import DatasetServer

    folder = tmp_path / "served"
    folder.mkdir()
    build_dataset(
        folder / "batch1.zip", "batch1", train_per_class=2, validation_per_class=1, test_count=3
    )  # small: fast
    with DatasetServer(folder) as server:
        yield server.url


def test_upload_on_another_worker_uses_its_own_copy_not_the_download_workers_path(
    airflow_aws: Any, aws: Any, served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = {
        name: p.value for name, p in run_config.common_params(dataset_url=f"{served}/batch1.zip", prefix="ch06").items()
    }
    params["mini_batch_size"] = 10  # the small dataset has 20 training images (a batch of 100 is refused)
    cfg = run_config.resolve(
        params,
        dag_id="mnist_train_deploy",
        run_id="manual__disks",
        aws_conn_id="aws_default",
        variable={"sagemaker_mlops_bucket": DATA_BUCKET, "sagemaker_mlops_role_arn": ROLE_ARN}.get,
        connection_region=lambda: "us-east-1",
    )
    worker_a, worker_b = tmp_path / "worker-a", tmp_path / "worker-b"
    for folder in (worker_a, worker_b):
        folder.mkdir()

    monkeypatch.setattr(tasks, "DATA_DIR", worker_a)
    summary = tasks.download_dataset.function(cfg.to_dict())
    assert Path(summary["local_root"]).is_relative_to(worker_a)

    monkeypatch.setattr(tasks, "DATA_DIR", worker_b)
    result = tasks.upload_dataset.function(cfg.to_dict(), summary)
    assert (worker_b / "extracted" / summary["zip_sha256"] / "train").is_dir(), "fetched into worker B's folder"
    assert result["uploaded"] > 0
    data = result["data_prefix"] + "/"  # the zip's content-addressed prefix, ch06/datasets/<sha256>/
    keys = {o["Key"] for o in aws("s3").list_objects_v2(Bucket=DATA_BUCKET, Prefix=data)["Contents"]}
    assert {k.removeprefix(data).split("/")[0] for k in keys} == {
        "train",
        "validation",
        "train_lst",
        "validation_lst",
        "test",
    }
