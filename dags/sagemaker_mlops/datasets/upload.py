"""Put the validated dataset tree into S3 quickly and idempotently, and make sure the bucket is safe to use.

Why concurrent: the chapter-6 dataset is ~700 small files, and one PutObject costs a round trip (tens of ms
from MWAA, more across regions); one at a time that is minutes, with 64 in flight it is seconds (64, not 32:
at 100-200 ms per request 32 threads were the limit in make bench, README).
Why idempotent: Airflow retries tasks and people re-trigger runs. The prefix is listed once and a file whose
size and MD5 match the object's ETag is skipped, so a re-run sends 0 bytes and never duplicates anything.
Why ``ensure_bucket``: a missing bucket is a form mistake to report before anything is created; a bucket this
DAG creates gets Block Public Access and default encryption at once, never a public window.

All AWS access goes through a client the caller passes in, made by :func:`s3_client` from the Airflow amazon
provider's ``S3Hook`` (the connection's credentials, region, ``endpoint_url`` and ``config_kwargs`` apply). Nothing
is ever deleted: the Airflow role has no s3:DeleteObject. With ``exact=True`` (the DAGs' content-addressed dataset
prefixes, :func:`sagemaker_mlops.core.naming.dataset_prefix`) an object under the prefix that is not one of the
zip's files makes the upload refuse, naming it: training would read it in its channel. Airflow and botocore are imported
inside the functions, so importing this module stays cheap for the DAG processor.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemaker_mlops.core.validation import validate_bucket_name, validate_region, validate_s3_prefix
from sagemaker_mlops.datasets.dataset import CHANNELS, DatasetError

__all__ = ["MAX_WORKERS", "UploadReport", "ensure_bucket", "s3_client", "upload_tree"]

log = logging.getLogger(__name__)

OPTIONAL_CHANNELS = frozenset({"test"})
MAX_WORKERS = 64  # uploads in flight (see above)
SMALL_BODY_BYTES = 1024 * 1024  # sent as bytes (at most max_workers x 1 MiB in memory); larger files stream
_CONTENT_TYPES = {".lst": "text/plain", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
_SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


@dataclass(frozen=True)
class UploadReport:
    """What :func:`upload_tree` did: files sent, files already in S3 (skipped), bytes sent and wall time."""

    uploaded: int
    skipped: int
    bytes_sent: int
    seconds: float
    # The channel folders that now hold the dataset (s3://bucket/prefix/<channel>): what the training job reads,
    # and what the upload task reports as its lineage outputs.
    channel_uris: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (XCom, logs)."""
        return {
            "uploaded": self.uploaded,
            "skipped": self.skipped,
            "bytes_sent": self.bytes_sent,
            "seconds": round(self.seconds, 3),
            "channel_uris": list(self.channel_uris),
        }


def s3_client(aws_conn_id: str, *, max_pool_connections: int = MAX_WORKERS, region_name: str | None = None) -> Any:
    """A boto3 S3 client from :class:`S3Hook` with an HTTP pool of at least ``max_pool_connections``.

    botocore's default pool is 10 connections, so 64 upload threads would queue on it. The extra setting is
    merged into the connection's own botocore config (``config_kwargs`` in its extra: retries, timeouts...), and
    ``get_client_type`` keeps the connection's ``endpoint_url`` and region.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.config import Config

    hook = S3Hook(aws_conn_id=aws_conn_id, region_name=region_name)
    pool = max(max_pool_connections, hook.config.max_pool_connections or 10)
    config = hook.config.merge(Config(max_pool_connections=pool))
    return hook.get_client_type(region_name=hook.region_name, config=config)


def _error_code(error: BaseException) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _bucket_error(error: BaseException, bucket: str, action: str) -> DatasetError | None:
    """A DatasetError naming ``bucket`` for the S3 errors a user can fix, else None."""
    code = _error_code(error)
    if code in ("NoSuchBucket", "404"):
        return DatasetError(
            "bucket", f"s3://{bucket} does not exist", "create it first (ensure_bucket) or fix the name"
        )
    if code in ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return DatasetError(
            "bucket",
            f"{action} on s3://{bucket} was refused ({code})",
            "grant the Airflow execution role s3:ListBucket and s3:PutObject on the bucket and prefix, "
            "or use a bucket your account owns",
        )
    return None


def _md5_hex(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _channel_files(root: Path, channel: str) -> list[str]:
    """Regular files under ``root/channel`` as sorted POSIX paths relative to it (symlinks refused)."""
    base = root / channel
    found: list[str] = []
    for folder, dirs, names in os.walk(base):
        here = Path(folder)
        for name in [*dirs, *names]:
            if (here / name).is_symlink():
                rel = (here / name).relative_to(root).as_posix()
                raise DatasetError(rel, "is a symbolic link", "upload only regular files (extract with safe_extract)")
        found.extend((here / name).relative_to(base).as_posix() for name in names)
    return sorted(found)


def _existing_objects(client: Any, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    """``{key: (size, etag without quotes)}`` under ``prefix`` from one paginated ListObjectsV2."""
    existing: dict[str, tuple[int, str]] = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            existing[item["Key"]] = (int(item["Size"]), str(item.get("ETag", "")).strip('"'))
    return existing


def upload_tree(
    client: Any,
    root: Path,
    bucket: str,
    prefix: str,
    *,
    channels: Iterable[str] = CHANNELS,
    max_workers: int = MAX_WORKERS,
    files: Mapping[str, Sequence[str]] | None = None,
    exact: bool = False,
) -> UploadReport:
    """Upload every file of ``channels`` under ``root`` to ``s3://bucket/prefix/<channel>/<relpath>``.

    ``files`` (e.g. ``DatasetSummary.files``) limits the upload to the files that were validated; by default
    each channel folder is walked (``test`` may be absent, other channels must exist). Existing objects with the
    same size and MD5 ETag are skipped (objects uploaded in parts or encrypted with SSE-KMS have other ETags and
    are sent again, which is safe). Uploads run on ``max_workers`` threads sharing ``client``, whose HTTP pool
    should be as large (:func:`s3_client`).

    ``exact``: the prefix must hold only this tree's files. Any other key under it (another zip's list, a stray
    ``train/`` image) raises a :class:`DatasetError` naming the keys before anything is sent. Why refuse rather
    than delete: the package never deletes data (its role has no s3:DeleteObject), and a content-addressed prefix
    only gains foreign keys when someone wrote there by hand, which a person should look at.
    """
    started = time.monotonic()
    root = Path(root)
    validate_bucket_name(bucket, "bucket")
    if prefix:  # "" uploads to the bucket root
        validate_s3_prefix(prefix, "prefix")
    if max_workers < 1:
        raise ValueError(f"max_workers must be >= 1, got {max_workers}")
    base = f"{prefix}/" if prefix else ""

    plan: list[tuple[Path, str]] = []  # (local file, key)
    present: list[str] = []
    for channel in channels:
        if files is not None:
            relpaths = list(files.get(channel, ()))
            for rel in relpaths:
                parts = rel.split("/")
                if rel.startswith("/") or "\\" in rel or any(part in ("", ".", "..") for part in parts):
                    raise DatasetError(
                        f"{channel}/{rel}", "is not a clean relative path", "list only files inside the channel"
                    )
        elif (root / channel).is_dir():
            relpaths = _channel_files(root, channel)
        elif channel in OPTIONAL_CHANNELS:
            continue
        else:
            raise DatasetError(f"{channel}/", f"is missing under {root}", "validate and extract the dataset first")
        plan.extend((root / channel / rel, f"{base}{channel}/{rel}") for rel in relpaths)
        present.append(channel)

    try:
        existing = _existing_objects(client, bucket, base)
    except Exception as error:
        mapped = _bucket_error(error, bucket, "listing the objects")
        if mapped is None:
            raise
        raise mapped from error
    if exact:
        planned = {key for _, key in plan}
        foreign = sorted(key for key in existing if key not in planned)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise DatasetError(
                f"s3://{bucket}/{base}",
                f"holds {len(foreign)} object(s) that are not in this zip ({shown}); training would read them in "
                "its channels",
                f"delete them (aws s3 rm s3://{bucket}/{foreign[0]}): this prefix is addressed by the zip's SHA-256 "
                "and may hold only that zip's files",
            )

    lock = threading.Lock()
    totals = {"uploaded": 0, "skipped": 0, "bytes": 0}

    def send(path: Path, key: str) -> None:
        size = path.stat().st_size
        known = existing.get(key)
        if known is not None and known[0] == size and known[1] == _md5_hex(path):
            with lock:
                totals["skipped"] += 1
            return
        content_type = _CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
        extra = {"ContentType": content_type} if content_type else {}
        with path.open("rb") as stream:
            # Small files go as bytes: botocore adds "Expect: 100-continue" (one more round trip) to file bodies.
            body: Any = stream.read() if size <= SMALL_BODY_BYTES else stream
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
            except Exception as error:
                mapped = _bucket_error(error, bucket, f"PutObject {key}")
                if mapped is None:
                    raise
                raise mapped from error
        with lock:
            totals["uploaded"] += 1
            totals["bytes"] += size

    if plan:
        with ThreadPoolExecutor(max_workers=min(max_workers, len(plan)), thread_name_prefix="s3-upload") as pool:
            futures = [pool.submit(send, path, key) for path, key in plan]
            _, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:  # first failure: do not start the rest
                future.cancel()
            for future in futures:
                if future.done() and not future.cancelled() and (failure := future.exception()) is not None:
                    raise failure
    report = UploadReport(
        uploaded=totals["uploaded"],
        skipped=totals["skipped"],
        bytes_sent=totals["bytes"],
        seconds=time.monotonic() - started,
        channel_uris=tuple(f"s3://{bucket}/{base}{channel}" for channel in present),
    )
    log.info(
        "s3://%s/%s: uploaded %d files (%d bytes), skipped %d unchanged, in %.1f s",
        bucket,
        base,
        report.uploaded,
        report.bytes_sent,
        report.skipped,
        report.seconds,
    )
    return report


def _bucket_region(response: Mapping[str, Any]) -> str | None:
    """The bucket's region from a HeadBucket answer (field or header), when S3 says."""
    region = response.get("BucketRegion")
    if not region:
        region = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
    return region or None


def ensure_bucket(client: Any, bucket: str, region: str, *, create: bool) -> bool:
    """Make sure ``bucket`` exists in ``region``; returns True when this call created it.

    A missing bucket with ``create=False`` is a :class:`DatasetError` naming ``bucket`` (raised before any
    CreateBucket). With ``create=True`` the bucket is created in ``region`` (LocationConstraint outside
    us-east-1), then gets Block Public Access (all four settings) and default SSE-S3 (AES256) encryption. A bucket
    that already exists is left as it is; a bucket in another region is refused, since SageMaker reads its
    training data only from the job's region.
    """
    from botocore.exceptions import ClientError

    validate_bucket_name(bucket, "bucket")
    validate_region(region, "region")
    try:
        response = client.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = _error_code(error)
        if code in ("403", "AccessDenied"):
            raise DatasetError(
                "bucket",
                f"s3://{bucket} exists but this connection may not use it (403); bucket names are global, it may "
                "belong to another account",
                "use a bucket your account owns, or grant the Airflow execution role s3:ListBucket on it",
            ) from None
        if code in ("301", "PermanentRedirect"):
            actual = _bucket_region(error.response) or "another region"
            raise _wrong_region(bucket, actual, region) from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    else:
        actual = _bucket_region(response)
        if actual and actual != region:
            raise _wrong_region(bucket, actual, region)
        log.info("Bucket s3://%s exists; leaving its settings as they are", bucket)
        return False

    if not create:
        raise DatasetError(
            "bucket",
            f"s3://{bucket} does not exist",
            f"create it in {region} with Block Public Access and default encryption, or trigger the run with "
            "create_bucket enabled so the DAG creates it",
        )
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        client.create_bucket(Bucket=bucket, **location)
    except ClientError as error:
        code = _error_code(error)
        if code == "BucketAlreadyOwnedByYou":  # created concurrently by another run: not ours to configure
            log.info("Bucket s3://%s was created meanwhile by another run", bucket)
            return False
        if code == "BucketAlreadyExists":
            raise DatasetError(
                "bucket", f"s3://{bucket} is taken by another AWS account", "choose a different, unique bucket name"
            ) from None
        raise
    client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=dict(_BLOCK_ALL))
    client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=_SSE_S3)
    log.info("Created s3://%s in %s with Block Public Access and SSE-S3 default encryption", bucket, region)
    return True


def _wrong_region(bucket: str, actual: str, region: str) -> DatasetError:
    return DatasetError(
        "bucket",
        f"s3://{bucket} is in {actual}, but the pipeline runs in {region}",
        f"use a bucket in {region} (SageMaker reads training data from the job's region) or change region",
    )
