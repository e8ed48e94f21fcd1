"""Reading SageMaker's data capture: JSON Lines under ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/``.

Why a watermark (per variant, stored in S3) and not the run's data interval: the keys sort by capture time, so
``ListObjectsV2(StartAfter=<watermark>)`` resumes where the last run stopped — also after a run that hit the
per-run cap, a skipped run (too few records: they are read again next time, with more), a paused DAG or a manual
run, none of which a data interval covers. The first run starts ``lookback_hours`` back.

Why a settle margin and the keys read within it: SageMaker uploads a capture file when its buffer closes but names
it by when it opened, and each instance has its own buffer. With two or more instances (a canary, blue/green's two
fleets) a file can land after a later-named one was read; a watermark at the last key read would skip it forever.
So the watermark stays :data:`SETTLE` (whole hour folders) behind the newest key read, and the keys read after it
are kept (at most :data:`MAX_READ_KEYS` per variant) and skipped when listed again.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sagemaker_mlops.monitoring.drift import Record

SETTLE = timedelta(hours=1)  # a capture file may land this long after a later-named one (an hour folder back)
MAX_READ_KEYS = 5000  # keys kept per variant within the margin: bounds the watermark file (~0.5 MB)


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or ("/" not in uri[5:] and not uri[5:]):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key.strip("/")


def variant_prefix(destination: str, endpoint: str, variant: str) -> tuple[str, str]:
    """(bucket, key prefix ending in '/') of one variant's capture."""
    bucket, key = split_s3_uri(destination)
    return bucket, "/".join(p for p in (key, endpoint, variant) if p) + "/"


def start_key(prefix: str, since: datetime) -> str:
    """A StartAfter key just before the first hour folder at or after ``since``."""
    return f"{prefix}{since:%Y/%m/%d/%H}/".rstrip("/")


def parse_line(line: str) -> Record | None:
    """One capture line as a :class:`Record`; None for a line that is not a capture record (counted, skipped)."""
    try:
        event = json.loads(line)
        data = event["captureData"]
    except (ValueError, KeyError, TypeError):
        return None
    body = probabilities = None
    given = data.get("endpointInput")
    if isinstance(given, dict) and "data" in given:
        try:
            raw = given["data"]
            body = base64.b64decode(raw, validate=True) if given.get("encoding") == "BASE64" else str(raw).encode()
        except (binascii.Error, ValueError):
            body = b""  # undecodable capture: an unreadable input
    answer = data.get("endpointOutput")
    if isinstance(answer, dict) and "data" in answer:
        try:
            raw = answer["data"]
            text = base64.b64decode(raw).decode() if answer.get("encoding") == "BASE64" else raw
            parsed = json.loads(text)
            if isinstance(parsed, dict):  # {"predictions": [...]} style answers
                parsed = parsed.get("predictions") or parsed.get("probabilities")
            if isinstance(parsed, list) and parsed and isinstance(parsed[0], list):
                parsed = parsed[0]
            if isinstance(parsed, list) and all(isinstance(v, (int, float)) for v in parsed):
                probabilities = [float(v) for v in parsed]
        except (ValueError, TypeError, binascii.Error):
            probabilities = None
    return Record(body, probabilities)


@dataclass
class Batch:
    """What one run read: records, malformed lines, the new watermark per variant, whether the cap stopped it."""

    records: list[Record] = field(default_factory=list)
    malformed: int = 0
    objects: int = 0
    watermarks: dict[str, str] = field(default_factory=dict)
    read_keys: dict[str, list[str]] = field(default_factory=dict)
    capped: bool = False
    first_time: str | None = None
    last_time: str | None = None


def _keys(s3_client: Any, bucket: str, prefix: str, start_after: str) -> Iterator[str]:
    """Every .jsonl key under the prefix after ``start_after``, in key order, all pages (ListObjectsV2)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "StartAfter": start_after, "MaxKeys": 1000}
    while True:
        page = s3_client.list_objects_v2(**kwargs)
        for item in page.get("Contents", []):
            if item["Key"].endswith(".jsonl"):
                yield item["Key"]
        if not page.get("IsTruncated"):
            return
        kwargs = {"Bucket": bucket, "Prefix": prefix, "ContinuationToken": page["NextContinuationToken"]}


def settled(prefix: str, key: str) -> str:
    """The StartAfter key :data:`SETTLE` before ``key``'s hour folder (``key`` itself if it is not in the
    ``yyyy/mm/dd/hh/`` layout): files opened from there on may still arrive."""
    try:
        hour = datetime.strptime("/".join(key[len(prefix) :].split("/")[:4]), "%Y/%m/%d/%H")
    except ValueError:
        return key
    return start_key(prefix, hour - SETTLE)


def advance(prefix: str, after: str, read: set[str]) -> tuple[str, list[str]]:
    """The new (watermark, keys read after it): the watermark moves to :func:`settled` of the newest key read (never
    back), the keys at or before it are dropped, and past :data:`MAX_READ_KEYS` the oldest go (the watermark moves
    to the newest one dropped)."""
    if read:
        after = max(after, settled(prefix, max(read)))
    kept = sorted(k for k in read if k > after)
    if len(kept) > MAX_READ_KEYS:
        after, kept = kept[-MAX_READ_KEYS - 1], kept[-MAX_READ_KEYS:]
    return after, kept


def read_capture(
    s3_client: Any,
    destination: str,
    endpoint: str,
    variants: list[str],
    watermarks: dict[str, str],
    max_records: int,
    since: datetime,
    read_keys: dict[str, list[str]] | None = None,
) -> Batch:
    """Records after each variant's watermark (or from ``since``) not read before (``read_keys``), at most
    ``max_records`` in all (whole objects: a capped run stops after the object that reached the cap).

    ``watermarks[variant]``: every key at or before it was read; ``read_keys[variant]``: the keys after it that were
    (both as the previous run's :class:`Batch` left them; an older watermark file, the last key read, reads the
    same)."""
    batch = Batch(watermarks=dict(watermarks), read_keys={v: list(k) for v, k in (read_keys or {}).items()})
    for variant in variants:
        bucket, prefix = variant_prefix(destination, endpoint, variant)
        start_after = watermarks.get(variant) or start_key(prefix, since)
        read = set((read_keys or {}).get(variant, []))
        for key in _keys(s3_client, bucket, prefix, start_after):
            if key in read:
                continue
            if len(batch.records) >= max_records:
                batch.capped = True
                break
            body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
            batch.objects += 1
            for line in body.splitlines():
                if not line.strip():
                    continue
                record = parse_line(line)
                if record is None:
                    batch.malformed += 1
                    continue
                batch.records.append(record)
                try:
                    when = json.loads(line)["eventMetadata"]["inferenceTime"]
                    batch.first_time = min(batch.first_time or when, when)
                    batch.last_time = max(batch.last_time or when, when)
                except (KeyError, TypeError, ValueError):
                    pass
            read.add(key)
        batch.watermarks[variant], batch.read_keys[variant] = advance(prefix, start_after, read)
    return batch


def first_run_since(now: datetime, lookback_hours: int) -> datetime:
    return now - timedelta(hours=lookback_hours)
