"""The dataset's tasks: download (egress-checked) and validate on the worker, then upload to S3."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Variable, task

from sagemaker_mlops.core import lineage, naming
from sagemaker_mlops.core.airflow_tasks import (
    bad_input_fails_fast,
)
from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.core.validation import ParamError, redact_url
from sagemaker_mlops.datasets import cache, dataset, upload

log = logging.getLogger(__name__)


# Where a worker keeps downloaded datasets (re-used by a later task on the same worker, re-fetched elsewhere).
DATA_DIR = Path(os.environ.get("SAGEMAKER_MLOPS_DATA_DIR", Path(tempfile.gettempdir()) / "sagemaker_mlops"))


# Admin bounds (Variables; the trigger form cannot change them). Safe defaults for the book's 20 MB zips.
DEADLINE_VARIABLE = dataset.DEADLINE_VARIABLE
CACHE_MAX_GB_VARIABLE = "sagemaker_mlops_dataset_cache_max_gb"
CACHE_MAX_AGE_VARIABLE = "sagemaker_mlops_dataset_cache_max_age_hours"
# The download deadline (Variable) is capped so the download, the extraction and the checks fit in the task's
# execution_timeout (an upload on another worker downloads again, then uploads).
DATASET_TASK_TIMEOUT = timedelta(hours=2)
MAX_DEADLINE_SECONDS = 3600.0


def _positive(name: str, text: str | None, default: float) -> float:
    """A positive number from Variable ``name`` (its ``text``), or ``default`` when unset; a bad value names it."""
    if text in (None, ""):
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ParamError(
            name, f"must be a positive number, got {text!r}", f"set the Variable {name} to e.g. {default:g}"
        )
    return value


def download_deadline_seconds() -> float:
    """The whole download's deadline (Variable, default :data:`dataset.DEFAULT_DEADLINE_SECONDS`, at most
    :data:`MAX_DEADLINE_SECONDS`, so the task's execution_timeout never cuts a download short)."""
    value = _positive(
        DEADLINE_VARIABLE,
        Variable.get(dataset.DEADLINE_VARIABLE, default=None),
        dataset.DEFAULT_DEADLINE_SECONDS,
    )
    if value > MAX_DEADLINE_SECONDS:
        raise ParamError(
            DEADLINE_VARIABLE,
            f"{value:g} s is above the most the dataset tasks allow ({MAX_DEADLINE_SECONDS:g} s)",
            f"set it to at most {MAX_DEADLINE_SECONDS:g}, or host the dataset closer to the workers (S3 in the region)",
        )
    return value


def _evict() -> None:
    """Bound this worker's dataset cache (size and age, Variables), keeping what running tasks hold."""
    cache.evict(
        DATA_DIR,
        max_bytes=int(
            _positive(CACHE_MAX_GB_VARIABLE, Variable.get(CACHE_MAX_GB_VARIABLE, default=None), cache.DEFAULT_MAX_GB)
            * dataset.GiB
        ),
        max_age_seconds=_positive(
            CACHE_MAX_AGE_VARIABLE, Variable.get(CACHE_MAX_AGE_VARIABLE, default=None), cache.DEFAULT_MAX_AGE_HOURS
        )
        * 3600,
    )


def _full_dataset_url(cfg: RunConfig, context: dict[str, Any]) -> str:
    """The URL to download: the run's form value when the config's (redacted: no query string) URL is its redacted
    form, else the config's own (a mirror the resolver substituted, never pre-signed).

    Why: the config travels through XCom and is logged, so it keeps only :func:`redact_url`'s form; the full
    URL (a pre-signed URL's signature) is read here from the run's params and never logged or returned."""
    params = context.get("params") or {}
    url = params.get("dataset_url")
    if isinstance(url, str) and redact_url(url) == cfg.dataset_url:
        return url
    return cfg.dataset_url


@contextlib.contextmanager
def _zip_held(cfg: RunConfig, url: str, sha256: str | None) -> Iterator[Path]:
    """This worker's verified copy of the zip, held (eviction skips it) for the block."""
    name = "downloads/" + dataset.cache_name(url, sha256)
    with cache.hold(DATA_DIR, name):
        yield dataset.ensure_dataset(
            url,
            sha256,
            DATA_DIR / "downloads",
            deadline_seconds=download_deadline_seconds(),
            allowed_hosts=_allowed_dataset_hosts(),
        )


@task(execution_timeout=DATASET_TASK_TIMEOUT)
def download_dataset(config: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Stream the zip to disk, check it, extract it safely and validate the book's layout; count the samples, and
    check them against the algorithm's limits (a mini_batch_size above the training images fails on the service,
    after the instances were paid for)."""
    from sagemaker_mlops.training import algorithm_limits

    cfg = RunConfig.from_dict(config)
    with bad_input_fails_fast():
        url = _full_dataset_url(cfg, context)
        with _zip_held(cfg, url, cfg.dataset_sha256) as zip_path:
            summary = _extract_and_validate(cfg, zip_path)
        _evict()
        tuned = algorithm_limits.tuned_names(context.get("params") or {})
        algorithm_limits.check_dataset(cfg.hyperparameters, summary["num_training_samples"], tuned)
    log.info("Dataset %s: %s", redact_url(url), json.dumps(summary, sort_keys=True))
    return summary


def _allowed_dataset_hosts() -> frozenset[str]:
    """Hosts a dataset may come from although they are not public (Variable; empty on a real account)."""

    from sagemaker_mlops.datasets import egress

    return egress.parse_allowed_hosts(Variable.get(egress.ALLOWED_HOSTS_VARIABLE, default=None))


def _extract_and_validate(cfg: RunConfig, zip_path: Path) -> dict[str, Any]:
    digest = dataset.sha256_file(zip_path)
    with cache.hold(DATA_DIR, f"extracted/{digest}") as root:  # keyed by content: a changed zip never reuses files
        if not root.exists():
            staging = Path(tempfile.mkdtemp(dir=DATA_DIR, prefix="extract-"))
            dataset.safe_extract(zip_path, staging)
            root.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(root)
            except OSError:  # another task on this worker extracted the same zip meanwhile: use theirs
                shutil.rmtree(staging, ignore_errors=True)
                if not root.is_dir():
                    raise
        summary = dataset.validate_layout(
            root, num_classes=cfg.hyperparameters["num_classes"], image_shape=cfg.hyperparameters["image_shape"]
        )
    as_dict = summary.to_dict()
    as_dict.pop("files")  # hundreds of paths: the upload walks the validated folder instead of XCom
    return {**as_dict, "zip_sha256": digest, "local_root": str(root)}


@task(execution_timeout=DATASET_TASK_TIMEOUT)
def upload_dataset(config: dict[str, Any], summary: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Upload train/, validation/, train_lst/, validation_lst/, test/ concurrently to the zip's content-addressed
    prefix ``<s3_prefix>/datasets/<sha256>/``; unchanged objects are skipped (a re-run sends 0 bytes)."""
    cfg = RunConfig.from_dict(config)
    # This worker's copy, keyed by content: summary["local_root"] is a path on the disk of the worker that ran the
    # download (under CeleryExecutor, as on MWAA, usually another machine; on one machine it would be read silently).
    with contextlib.ExitStack() as held:
        root = held.enter_context(cache.hold(DATA_DIR, f"extracted/{summary['zip_sha256']}"))
        with bad_input_fails_fast():
            if not root.exists():  # another worker downloaded it (or it was evicted): fetch (verified) and validate
                url = _full_dataset_url(cfg, context)
                zip_path = held.enter_context(_zip_held(cfg, url, summary["zip_sha256"]))
                root = Path(_extract_and_validate(cfg, zip_path)["local_root"])
            client = upload.s3_client(cfg.aws_conn_id, max_pool_connections=upload.MAX_WORKERS, region_name=cfg.region)
            created = upload.ensure_bucket(client, cfg.bucket, cfg.region, create=cfg.create_bucket)
        # Content-addressed: the zip's own prefix holds exactly its files (no other run's data in its channels).
        data_prefix = naming.dataset_prefix(cfg.prefix, summary["zip_sha256"])
        report = upload.upload_tree(client, root, cfg.bucket, data_prefix, exact=True)
    _evict()
    result = {"bucket_created": created, "data_prefix": data_prefix, **report.to_dict()}
    log.info("Upload to s3://%s/%s: %s", cfg.bucket, data_prefix, result)
    # OpenLineage: the (redacted) source URL in, the channel folders the upload filled out (the training job's input)
    lineage.report(context, inputs=[cfg.dataset_url], outputs=result["channel_uris"])
    return result
