"""The dataset's tasks: download (egress-checked) and validate on the worker, then upload to S3."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from airflow.sdk import Variable, task

from sagemaker_mlops.core import naming
from sagemaker_mlops.core.airflow_tasks import (
    bad_input_fails_fast,
)
from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.datasets import dataset, upload

log = logging.getLogger(__name__)


# Where a worker keeps downloaded datasets (re-used by a later task on the same worker, re-fetched elsewhere).
DATA_DIR = Path(os.environ.get("SAGEMAKER_MLOPS_DATA_DIR", Path(tempfile.gettempdir()) / "sagemaker_mlops"))


@task
def download_dataset(config: dict[str, Any]) -> dict[str, Any]:
    """Stream the zip to disk, check it, extract it safely and validate the book's layout; count the samples."""
    cfg = RunConfig.from_dict(config)
    with bad_input_fails_fast():
        zip_path = dataset.ensure_dataset(
            cfg.dataset_url, cfg.dataset_sha256, DATA_DIR / "downloads", allowed_hosts=_allowed_dataset_hosts()
        )
        summary = _extract_and_validate(cfg, zip_path)
    log.info("Dataset %s: %s", cfg.dataset_url, json.dumps(summary, sort_keys=True))
    return summary


def _allowed_dataset_hosts() -> frozenset[str]:
    """Hosts a dataset may come from although they are not public (Variable; empty on a real account)."""

    from sagemaker_mlops.datasets import egress

    return egress.parse_allowed_hosts(Variable.get(egress.ALLOWED_HOSTS_VARIABLE, default=None))


def _extract_and_validate(cfg: RunConfig, zip_path: Path) -> dict[str, Any]:
    digest = dataset.sha256_file(zip_path)
    root = DATA_DIR / "extracted" / digest  # keyed by content: a re-downloaded, changed zip never reuses old files
    if not root.exists():
        staging = Path(tempfile.mkdtemp(dir=DATA_DIR, prefix="extract-"))
        dataset.safe_extract(zip_path, staging)
        root.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(root)
    summary = dataset.validate_layout(
        root, num_classes=cfg.hyperparameters["num_classes"], image_shape=cfg.hyperparameters["image_shape"]
    )
    as_dict = summary.to_dict()
    as_dict.pop("files")  # hundreds of paths: the upload walks the validated folder instead of XCom
    return {**as_dict, "zip_sha256": digest, "local_root": str(root)}


@task
def upload_dataset(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """Upload train/, validation/, train_lst/, validation_lst/, test/ concurrently to the zip's content-addressed
    prefix ``<s3_prefix>/datasets/<sha256>/``; unchanged objects are skipped (a re-run sends 0 bytes)."""
    cfg = RunConfig.from_dict(config)
    # This worker's copy, keyed by content: summary["local_root"] is a path on the disk of the worker that ran the
    # download (under CeleryExecutor, as on MWAA, usually another machine; on one machine it would be read silently).
    root = DATA_DIR / "extracted" / summary["zip_sha256"]
    with bad_input_fails_fast():
        if not root.exists():  # another worker downloaded it: fetch (verified by SHA-256) and validate again here
            zip_path = dataset.ensure_dataset(
                cfg.dataset_url, summary["zip_sha256"], DATA_DIR / "downloads", allowed_hosts=_allowed_dataset_hosts()
            )
            root = Path(_extract_and_validate(cfg, zip_path)["local_root"])
        client = upload.s3_client(cfg.aws_conn_id, max_pool_connections=upload.MAX_WORKERS, region_name=cfg.region)
        created = upload.ensure_bucket(client, cfg.bucket, cfg.region, create=cfg.create_bucket)
        # Content-addressed: the zip's own prefix holds exactly its files (no other run's data in its channels).
        data_prefix = naming.dataset_prefix(cfg.prefix, summary["zip_sha256"])
        report = upload.upload_tree(client, root, cfg.bucket, data_prefix, exact=True)
    result = {"bucket_created": created, "data_prefix": data_prefix, **report.to_dict()}
    log.info("Upload to s3://%s/%s: %s", cfg.bucket, data_prefix, result)
    return result
