"""In-process access to the emulated S3 and CloudWatch Logs, for the emulator's own training and endpoint threads.

SageMaker reads channels and writes artifacts inside AWS; the emulator does the same by calling moto's backends
directly rather than going through HTTP.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

from moto.logs.models import logs_backends
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


class S3Store:
    """Reads and writes objects in moto's S3 backend for one account and region."""

    def __init__(self, account_id: str, region: str) -> None:
        self._backend = s3_backends[account_id][get_partition(region)]

    def bucket_exists(self, bucket: str) -> bool:
        return bucket in self._backend.buckets

    def keys_under(self, uri: str) -> list[str]:
        """Keys matching an S3Prefix data source (a plain string prefix, like SageMaker's S3Prefix)."""
        bucket, prefix = split_s3_uri(uri)
        if not self.bucket_exists(bucket):
            return []
        keys = self._backend.buckets[bucket].keys
        return sorted(k for k in list(keys.keys()) if k.startswith(prefix) and not k.endswith("/"))

    def read_prefix(self, uri: str) -> dict[str, bytes]:
        """Objects under an S3 prefix, keyed by path relative to the prefix (what lands in /opt/ml/input/data)."""
        bucket, prefix = split_s3_uri(uri)
        out: dict[str, bytes] = {}
        for key in self.keys_under(uri):
            rel = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
            out[rel] = self.read(f"s3://{bucket}/{key}")
        return out

    def object_exists(self, uri: str) -> bool:
        try:
            bucket, key = split_s3_uri(uri)
        except ValueError:
            return False
        return self.bucket_exists(bucket) and key in self._backend.buckets[bucket].keys

    def read(self, uri: str) -> bytes:
        bucket, key = split_s3_uri(uri)
        obj = self._backend.get_object(bucket, key)
        if obj is None:
            raise KeyError(uri)
        return bytes(obj.value)

    def write(self, uri: str, data: bytes) -> None:
        bucket, key = split_s3_uri(uri)
        self._backend.put_object(bucket, key, data)


class LogWriter:
    """Writes a training job's log lines to /aws/sagemaker/TrainingJobs, one stream per instance and launch, named
    as SageMaker names them: ``<job>/algo-<n>-<epoch seconds of the launch>`` (a spot job relaunched after an
    interruption writes to new streams, ``after``: the previous launch's epoch, so the names never repeat)."""

    GROUP = "/aws/sagemaker/TrainingJobs"

    def __init__(
        self, account_id: str, region: str, job_name: str, instance_count: int, after: int | None = None
    ) -> None:
        self._backend = logs_backends[account_id][region]
        started = max(int(time.time()), (after or 0) + 1)
        self.started = started
        self.streams = [f"{job_name}/algo-{n}-{started}" for n in range(1, instance_count + 1)]
        if self.GROUP not in self._backend.groups:
            self._backend.create_log_group(self.GROUP, {})
        for stream in self.streams:
            if stream not in self._backend.groups[self.GROUP].streams:
                self._backend.create_log_stream(self.GROUP, stream)

    def write(self, message: str) -> None:
        now_ms = int(time.time() * 1000)
        for stream in self.streams:
            self._backend.put_log_events(self.GROUP, stream, [{"timestamp": now_ms, "message": message}])
