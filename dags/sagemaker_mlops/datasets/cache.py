"""A worker's dataset cache, bounded in size and age, evicting the least recently used entries no task holds.

Why: every distinct ``dataset_url`` leaves up to a 512 MiB zip and 2 GiB extracted on the worker's disk, and anyone
who may trigger a run chooses the URL. Entries are ``downloads/<zip>`` (with its ``.sha256`` sidecar) and
``extracted/<digest>``. A task *holds* the entries it uses (a shared ``flock`` on ``.locks/<entry>.lock``, which
works across the Celery worker processes of one machine and across concurrent runs and re-runs); eviction takes the
lock exclusively without waiting, so an entry in use is never deleted, and a task that wants an entry being
evicted waits for the eviction and then finds it gone (and downloads again). Lock files are never deleted (an
unlinked lock file would let two processes lock different files for one entry). Stdlib only.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_MAX_AGE_HOURS", "DEFAULT_MAX_GB", "Entry", "entries", "evict", "hold"]

log = logging.getLogger(__name__)

DEFAULT_MAX_GB = 8.0  # three book-sized worst cases (512 MiB zip + 2 GiB extracted each)
DEFAULT_MAX_AGE_HOURS = 72.0
ORPHAN_AGE_SECONDS = 6 * 3600  # a download's .part file or an extraction's staging folder left by a killed task
_AREAS = ("downloads", "extracted")


@dataclass(frozen=True)
class Entry:
    """One cache entry: its name (``downloads/x.zip``), size in bytes and last use (mtime, touched by hold)."""

    name: str
    size_bytes: int
    last_used: float


def _lock_path(root: Path, name: str) -> Path:
    return root / ".locks" / (name.replace("/", "__") + ".lock")


@contextlib.contextmanager
def hold(root: Path, name: str) -> Iterator[Path]:
    """Hold entry ``name`` (e.g. ``extracted/<digest>``) for the block: eviction skips it. Marks it used now.

    Yields the entry's path, which may not exist yet (the caller creates it while holding it)."""
    root = Path(root)
    lock = _lock_path(root, name)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits while an eviction of this entry runs
        path = root / name
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
        yield path
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
    finally:
        os.close(fd)  # releases the lock


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def entries(root: Path) -> list[Entry]:
    """The cache's entries, least recently used first (dot-names — partial downloads, sidecars — are not entries:
    a sidecar is counted with its zip)."""
    root = Path(root)
    found = []
    for area in _AREAS:
        folder = root / area
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.startswith(".") or path.name.endswith(".sha256") or path.name.endswith(".tmp"):
                continue
            with contextlib.suppress(FileNotFoundError):
                sidecar = path.with_name(path.name + ".sha256")
                size = _tree_bytes(path) + (sidecar.stat().st_size if sidecar.is_file() else 0)
                found.append(Entry(f"{area}/{path.name}", size, path.stat().st_mtime))
    return sorted(found, key=lambda entry: (entry.last_used, entry.name))


def _remove(root: Path, name: str) -> bool:
    """Delete entry ``name`` if no task holds it (exclusive lock, not waiting); True when deleted."""
    lock = _lock_path(root, name)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # in use by a running task (this process or another)
        path = root / name
        if path.is_dir():
            trash = path.with_name(f".evicting-{path.name}-{os.getpid()}")
            os.replace(path, trash)  # never a half-deleted folder under the entry's name
            shutil.rmtree(trash, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def _remove_orphans(root: Path, now: float) -> None:
    """Partial downloads and staging folders of killed tasks (dot-names, ``extract-*``) older than a few hours."""
    for folder in (root, *(root / area for area in _AREAS)):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            orphan = path.name.startswith((".evicting-", "extract-")) or path.name.endswith(".part")
            with contextlib.suppress(FileNotFoundError):
                if orphan and now - path.stat().st_mtime > ORPHAN_AGE_SECONDS:
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)


def evict(root: Path, *, max_bytes: int, max_age_seconds: float, now: float | None = None) -> list[str]:
    """Delete entries unused for ``max_age_seconds``, then the least recently used until the cache is within
    ``max_bytes``; entries a task holds are skipped (the cache may stay above the bound while they run).
    Returns the names deleted."""
    root = Path(root)
    now = time.time() if now is None else now
    _remove_orphans(root, now)
    current = entries(root)
    total = sum(entry.size_bytes for entry in current)
    removed = []
    for entry in current:
        too_old = now - entry.last_used > max_age_seconds
        if not too_old and total <= max_bytes:
            continue
        if _remove(root, entry.name):
            removed.append(entry.name)
            total -= entry.size_bytes
    if removed:
        log.info("Dataset cache %s: evicted %s; %d bytes left (bound %d bytes)", root, removed, total, max_bytes)
    if total > max_bytes:
        log.warning(
            "Dataset cache %s holds %d bytes, above %d: the rest is in use by running tasks", root, total, max_bytes
        )
    return removed
