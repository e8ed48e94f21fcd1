"""Byte-level formats, all deterministic and pickle-free: ``.npz`` archives, ``.tar.gz`` archives and JSON.

``numpy.savez`` stamps each zip member with the current time, so identical weights saved a second apart give
different bytes; :func:`npz_bytes` writes the same ``.npy`` members with a fixed timestamp instead. Readers use
``np.load(..., allow_pickle=False)`` and refuse object arrays, and the tar reader only reads regular files into
memory (no extraction, no links, bounded sizes).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["MAX_MEMBER_BYTES", "json_bytes", "load_npz", "npz_bytes", "read_tar_gz", "tar_gz_bytes"]

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MAX_MEMBER_BYTES = 1 << 30  # 1 GiB per archive member
MAX_MEMBERS = 10_000


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive (readable by ``np.load``) whose bytes depend only on the arrays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            array = np.asarray(arrays[name])
            if array.dtype.hasobject:
                raise TypeError(f"refusing to store object array {name!r}")
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)  # keeps 0-d arrays 0-d
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    """Read an ``.npz`` archive without ever unpickling; raises ValueError on anything malformed."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except Exception as exc:
        raise ValueError(f"not a valid pickle-free .npz archive ({type(exc).__name__}: {exc})") from None


def tar_gz_bytes(files: Mapping[str, bytes]) -> bytes:
    """A gzip-compressed tar of ``files`` (sorted, mtime 0, root-owned, mode 0644): same input, same bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(files):
            payload = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(payload))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


def read_tar_gz(data: bytes) -> dict[str, bytes]:
    """Regular files of a ``.tar.gz`` (or plain ``.tar``) archive, by normalised name; ValueError if unreadable."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for count, member in enumerate(tar):
                if count >= MAX_MEMBERS:
                    raise ValueError(f"more than {MAX_MEMBERS} members")
                if not member.isfile():
                    continue
                if member.size > MAX_MEMBER_BYTES:
                    raise ValueError(f"member {member.name!r} is larger than {MAX_MEMBER_BYTES} bytes")
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                name = member.name
                while name.startswith("./"):
                    name = name[2:]
                files[name.lstrip("/")] = handle.read()
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"not a readable tar.gz archive ({type(exc).__name__}: {exc})") from None
    return files
