"""Reproducible zip writing: sorted entries, a fixed timestamp and fixed Unix permissions.

Why: the DAG pins the dataset by SHA-256, and the tests prove determinism by building twice, so nothing in the
archive may depend on the clock, the umask or the order files were produced in.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FIXED_DATE_TIME", "Entry", "write_zip"]

# The date the book's images.zip was published (April 2022); any fixed value would do.
FIXED_DATE_TIME = (2022, 4, 8, 0, 0, 0)
_UNIX = 3
_FILE_MODE = stat.S_IFREG | 0o644
_SYMLINK_MODE = stat.S_IFLNK | 0o777


@dataclass(frozen=True)
class Entry:
    """One archive member; a symlink stores its target path as data (as Info-ZIP does)."""

    name: str
    data: bytes
    symlink: bool = False

    @property
    def mode(self) -> int:
        """Unix mode stored in the upper 16 bits of external_attr."""
        return _SYMLINK_MODE if self.symlink else _FILE_MODE


def write_zip(entries: list[Entry], out_zip: Path) -> Path:
    """Write ``entries`` sorted by name to ``out_zip`` atomically (a reader never sees a half-written zip)."""
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise ValueError("duplicate archive member names")
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out_zip.name}.", suffix=".tmp", dir=out_zip.parent)
    try:
        with os.fdopen(handle, "wb") as stream, zipfile.ZipFile(stream, "w") as archive:
            for entry in sorted(entries, key=lambda item: item.name):
                info = zipfile.ZipInfo(entry.name, date_time=FIXED_DATE_TIME)
                info.create_system = _UNIX
                info.external_attr = entry.mode << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, entry.data, compresslevel=6)
        os.chmod(temporary, 0o644)
        os.replace(temporary, out_zip)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out_zip
