"""Download, unpack and check the chapter-6 dataset zip before anything is created (or billed) in AWS.

Why each step exists:

* :func:`download` streams the (bit.ly-redirected) zip to disk in 1 MiB chunks, so a worker with little memory
  can fetch it, refuses files above a size cap (a wrong URL must not fill the worker's disk) and pins the bytes
  by SHA-256 (the training data is then exactly the data that was reviewed).
* :func:`ensure_dataset` keeps a per-worker cache: on MWAA the validate and upload tasks may run on different
  workers, so each calls it and only a worker that has no verified copy downloads again.
* :func:`safe_extract` unpacks member by member after refusing path traversal, symlinks, special files and zip
  bombs: the archive comes from the internet.
* :func:`validate_layout` checks the ``train/ validation/ train_lst/ validation_lst/ [test/]`` layout, every
  ``.lst`` line and every image, so a broken dataset fails here with the file and line named instead of as an
  ``AlgorithmError`` twenty minutes into a paid training job. It also counts the ``train.lst`` entries, which
  the ``num_training_samples`` hyperparameter must equal.

Every failure is a :class:`DatasetError` (a :class:`~sagemaker_mlops.core.validation.ParamError`) whose message is
``"<field or file>: <problem>. Fix: <fix>"``. Stdlib only at import time: ``requests`` and Pillow are imported
inside the functions that need them, so the DAG processor stays fast.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from sagemaker_mlops.core.validation import ParamError, redact_url, validate_sha256, validate_url
from sagemaker_mlops.training.training_config import parse_image_shape

__all__ = [
    "CHANNELS",
    "IMAGE_CHANNELS",
    "LST_CHANNELS",
    "DatasetError",
    "DatasetSummary",
    "DownloadResult",
    "cache_name",
    "download",
    "ensure_dataset",
    "files_for_upload",
    "parse_image_shape",
    "safe_extract",
    "sha256_file",
    "validate_layout",
    "zip_entry_count",
]

log = logging.getLogger(__name__)

MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK_BYTES = 1 * MiB
DEFAULT_MAX_BYTES = 512 * MiB
DEFAULT_DEADLINE_SECONDS = 15 * 60  # the whole download; the book's 20 MB zips take seconds
DEADLINE_VARIABLE = "sagemaker_mlops_dataset_download_deadline_seconds"
CENTRAL_ENTRY_BYTES = 256  # a generous central-directory record (46 bytes + name + extra) per entry
MAX_PROBLEMS = 20
MAX_REDIRECTS = 10

IMAGE_CHANNELS = ("train", "validation")
LST_CHANNELS = ("train_lst", "validation_lst")
OPTIONAL_CHANNELS = ("test",)
CHANNELS = (*IMAGE_CHANNELS, *LST_CHANNELS, *OPTIONAL_CHANNELS)
_LST_OF = {"train": "train_lst", "validation": "validation_lst"}

_LAYOUT_FIX = (
    "the zip must hold train/, validation/, train_lst/<name>.lst and validation_lst/<name>.lst (test/ optional) "
    "at its top level, without an enclosing folder, as in the book's images.zip"
)


class DatasetError(ParamError):
    """A problem with the dataset (its URL, digest, archive member or .lst line), with the fix.

    ``field`` is the form field (``dataset_url``, ``dataset_sha256``) or the zip member / ``.lst`` line at fault;
    a combined error lists each problem on its own line in ``errors``.
    """

    def __init__(self, field: str, problem: str, fix: str, *, errors: Sequence[ParamError] = ()) -> None:
        super().__init__(field, problem, fix, errors=errors)
        if len(self.errors) > 1:
            lines = "\n".join(f"  - {error}" for error in self.errors)
            self.args = (f"{len(self.errors)} dataset problems:\n{lines}",)


@dataclass(frozen=True)
class DownloadResult:
    """A downloaded file: where it is, its SHA-256 and size (for the logs and the cache)."""

    path: Path
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`validate_layout` found; ``num_training_samples`` is the hyperparameter SageMaker needs.

    ``files`` maps each channel present to its file paths relative to the channel folder (what gets uploaded);
    ``class_counts`` maps ``train``/``validation`` to ``{label: entries}`` from their .lst files.
    """

    num_training_samples: int
    num_validation_samples: int
    test_count: int
    counts: Mapping[str, int]
    class_counts: Mapping[str, Mapping[int, int]]
    files: Mapping[str, list[str]] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (XCom): class labels become strings, as JSON object keys must be."""
        return {
            "num_training_samples": self.num_training_samples,
            "num_validation_samples": self.num_validation_samples,
            "test_count": self.test_count,
            "counts": dict(self.counts),
            "class_counts": {ch: {str(k): v for k, v in sorted(c.items())} for ch, c in self.class_counts.items()},
            "files": {channel: list(paths) for channel, paths in self.files.items()},
        }


# -- download ------------------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _too_big(url: str, size: int, max_bytes: int, *, announced: bool) -> DatasetError:
    url = redact_url(url)
    how = "announces" if announced else "sent more than"
    amount = f"{size} bytes" if announced else f"{max_bytes} bytes"
    return DatasetError(
        "dataset_url",
        f"{url} {how} {amount}, above the download cap of {max_bytes} bytes ({max_bytes / MiB:.0f} MiB)",
        "check that the URL points to the dataset zip (not a page or a bigger archive), or raise max_bytes",
    )


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 60,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    allowed_hosts: Iterable[str] = (),
) -> DownloadResult:
    """Stream ``url`` to ``dest`` (following redirects) and verify its SHA-256 when ``sha256`` is given.

    The URL and every redirect's target are checked before they are requested (:func:`egress.check_url`):
    non-public addresses are refused unless their ``host[:port]`` is in ``allowed_hosts``.

    The body goes to a temporary file next to ``dest`` in 1 MiB chunks and is renamed into place only when it
    is complete, within ``max_bytes`` and matches the digest, so ``dest`` is never a partial or unverified file.
    ``timeout`` applies to connecting and to each read; ``deadline_seconds`` to the whole download, redirects
    included (a server that drips a byte at a time passes every read timeout, never the deadline). The URL is
    logged and named in errors without its query string (a pre-signed URL's signature).
    Raises :class:`DatasetError` naming ``dataset_url``
    (HTTP error, connection failure, too big) or ``dataset_sha256`` (wrong digest).
    """
    import requests  # lazy: keep DAG parsing light

    validate_url(url, "dataset_url")
    expected = validate_sha256(sha256, "dataset_sha256")
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    if deadline_seconds <= 0:
        raise ValueError(f"deadline_seconds must be positive, got {deadline_seconds}")
    deadline = time.monotonic() + deadline_seconds
    shown = redact_url(url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                with _open_checked(url, timeout, allowed_hosts, deadline, deadline_seconds) as response:
                    if response.status_code >= 400:
                        raise DatasetError(
                            "dataset_url",
                            f"{shown} answered HTTP {response.status_code} {response.reason or ''}".rstrip()
                            + (f" (after redirect to {redact_url(response.url)})" if response.url != url else ""),
                            "check the URL in a browser; a 404 means the file moved or the link is mistyped, "
                            "a 403 that it is private (use a public or pre-signed URL)",
                        )
                    announced = response.headers.get("Content-Length")
                    if announced and announced.isdigit() and int(announced) > max_bytes:
                        raise _too_big(url, int(announced), max_bytes, announced=True)
                    for chunk in _chunks_until(response, deadline, timeout, url, deadline_seconds):
                        size += len(chunk)
                        if size > max_bytes:
                            raise _too_big(url, size, max_bytes, announced=False)
                        digest.update(chunk)
                        out.write(chunk)
            except requests.exceptions.TooManyRedirects as error:
                raise DatasetError(
                    "dataset_url", f"{shown} redirects too many times ({error})", "use the final URL of the file"
                ) from None
            except requests.exceptions.Timeout:
                raise DatasetError(
                    "dataset_url",
                    f"{shown} did not answer within {timeout:g} s",
                    "check that the host is reachable from the Airflow workers (VPC, NAT gateway) or retry later",
                ) from None
            except requests.exceptions.ConnectionError as error:
                raise DatasetError(
                    "dataset_url",
                    f"could not connect to or read from {shown} ({type(error).__name__}: {_short(error, url=url)})",
                    "check the host name and port, and that the Airflow workers can reach the internet "
                    "(MWAA in private subnets needs a NAT gateway)",
                ) from None
            except requests.exceptions.RequestException as error:
                raise DatasetError(
                    "dataset_url",
                    f"downloading {shown} failed ({type(error).__name__}: {_short(error, url=url)})",
                    "check the URL and retry",
                ) from None
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise DatasetError(
                "dataset_sha256",
                f"the file downloaded from {shown} has SHA-256 {actual}, expected {expected}",
                "if the dataset was changed on purpose, review it and paste the new digest "
                "('sha256sum <file>'); otherwise check that dataset_url points to the right file",
            )
        os.chmod(temporary, 0o644)
        os.replace(temporary, dest)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.info("Downloaded %s (%d bytes, sha256 %s) to %s", shown, size, actual, dest)
    return DownloadResult(path=dest, sha256=actual, size_bytes=size)


class _NoQueryStrings(logging.Filter):
    """Cuts query strings from urllib3's DEBUG lines (``"GET /x.zip?X-Amz-Signature=... HTTP/1.1" 200``), so a
    worker logging at DEBUG does not write a pre-signed URL's signature either."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_cut_queries(a) if isinstance(a, str) else a for a in record.args)
        return True


def _cut_queries(text: str) -> str:
    return re.sub(r"\?[^\s'\"()]+", "?...", text)


def _quiet_urllib3_queries() -> None:
    connection_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _NoQueryStrings) for f in connection_log.filters):
        connection_log.addFilter(_NoQueryStrings())


def _open_checked(url: str, timeout: float, allowed_hosts: Iterable[str], deadline: float, budget: float) -> Any:
    """GET ``url`` streamed, following up to MAX_REDIRECTS redirects by hand so that each target is checked
    (scheme, no credentials, public address or allowed host) before it is requested, and each connection again on
    the address it reached (egress.checked_session). Every request gets at most the time left before ``deadline``."""
    import requests

    from sagemaker_mlops.datasets import egress

    _quiet_urllib3_queries()
    session = egress.checked_session(allowed_hosts)
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        validate_url(current, "dataset_url")
        egress.check_url(current, allowed_hosts)
        response = session.get(
            current, stream=True, timeout=_time_left(deadline, timeout, url, budget), allow_redirects=False
        )
        if not response.is_redirect:
            return response
        response.close()
        current = urljoin(current, response.headers["Location"])
        log.info("%s redirects to %s", redact_url(url), redact_url(current))
    raise requests.exceptions.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")


def _past_deadline(url: str, budget: float) -> DatasetError:
    return DatasetError(
        "dataset_url",
        f"downloading {redact_url(url)} did not finish within the deadline of {budget:g} s (the server sends too "
        "slowly, or the file is larger than expected)",
        "check that the URL points to the dataset zip on a fast host (an S3 pre-signed URL in the region); for a "
        f"big file on a slow link raise the Variable {DEADLINE_VARIABLE}",
    )


def _time_left(deadline: float, timeout: float, url: str, budget: float) -> float:
    """The next connect/read timeout: ``timeout``, or less when the deadline is nearer; raises when it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _past_deadline(url, budget)
    return min(timeout, left)


def _chunks_until(response: Any, deadline: float, timeout: float, url: str, budget: float) -> Iterator[bytes]:
    """The body in chunks of up to CHUNK_BYTES, each read returning as soon as some bytes arrived (``read1``) with
    a socket timeout of the time left, so a slow drip fails at the deadline rather than one day later."""
    raw = response.raw
    while True:
        left = _time_left(deadline, timeout, url, budget)
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(left)
        try:
            chunk = raw.read1(CHUNK_BYTES, decode_content=True)
        except Exception as error:
            if deadline - time.monotonic() <= 0:
                raise _past_deadline(url, budget) from None
            raise _as_requests_error(error) from None
        if not chunk:
            return
        yield chunk


def _as_requests_error(error: Exception) -> Exception:
    """urllib3's read errors as the requests exceptions :func:`download` reports (iter_content does the same)."""
    import requests
    from urllib3 import exceptions as urllib3_errors

    if isinstance(error, (urllib3_errors.ReadTimeoutError, TimeoutError)):
        return requests.exceptions.ReadTimeout(str(error))
    if isinstance(error, urllib3_errors.DecodeError):
        return requests.exceptions.ContentDecodingError(str(error))
    if isinstance(error, (urllib3_errors.ProtocolError, urllib3_errors.SSLError, OSError)):
        return requests.exceptions.ConnectionError(str(error))
    return error


def _short(error: BaseException, limit: int = 300, *, url: str | None = None) -> str:
    """The error's text, shortened, with any query string cut (urllib3 names the request's path and query)."""
    text = str(error)
    if url is not None:
        text = text.replace(url, redact_url(url))
    text = _cut_queries(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cache_name(url: str, sha256: str | None) -> str:
    """The zip's file name in the cache: by digest when pinned, else by a hash of the URL (never the URL itself)."""
    expected = validate_sha256(sha256, "dataset_sha256")
    if expected:
        return f"sha256-{expected}.zip"
    return f"url-{hashlib.sha256(url.encode()).hexdigest()[:32]}.zip"


def ensure_dataset(
    url: str,
    sha256: str | None,
    cache_dir: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 60,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    allowed_hosts: Iterable[str] = (),
) -> Path:
    """The dataset zip from this worker's cache, downloading it only when there is no verified copy.

    Why: on MWAA the validate and upload tasks may land on different workers; each calls this and reuses the
    file when its worker already has it. With ``sha256`` the cache file is ``sha256-<digest>.zip`` and is
    re-hashed before reuse; without it the key is a hash of the URL and a ``.sha256`` sidecar written at
    download time guards against a damaged copy (the content at an unpinned URL may still change: pin it).
    """
    expected = validate_sha256(sha256, "dataset_sha256")
    validate_url(url, "dataset_url")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / cache_name(url, expected)
    sidecar = None if expected else path.with_name(path.name + ".sha256")
    if path.is_file():
        want = expected or (sidecar.read_text().strip() if sidecar and sidecar.is_file() else None)
        if want and sha256_file(path) == want:
            log.info("Reusing cached dataset %s for %s", path, redact_url(url))
            return path
        log.warning("Cached dataset %s is missing its digest or does not match it; downloading again", path)
    result = download(
        url,
        path,
        sha256=expected,
        max_bytes=max_bytes,
        timeout=timeout,
        deadline_seconds=deadline_seconds,
        allowed_hosts=allowed_hosts,
    )
    if sidecar is not None:
        tmp = sidecar.with_name(sidecar.name + f".{os.getpid()}.tmp")
        tmp.write_text(result.sha256 + "\n")
        os.replace(tmp, sidecar)
    return result.path


# -- extraction ----------------------------------------------------------------------------------------------------

_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a member may not be extracted, or None when it is a safe regular file or directory."""
    name = info.filename
    if "\x00" in name:
        return "has a NUL character in its name"
    if "\\" in name:
        return "has a backslash in its path (a Windows path, ambiguous on Linux)"
    if _DRIVE_RE.match(name):
        return "has a drive letter (an absolute Windows path)"
    if name.startswith("/"):
        return "is an absolute path"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return "has a '..' path part (it would be written outside the extraction folder)"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' path part"
    if info.flag_bits & 0x1:
        return "is encrypted"
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if info.create_system == 3 and kind:  # Unix file type present (Python's writestr leaves it 0: a plain file)
        if stat.S_ISLNK(mode):
            return "is a symbolic link"
        if not (stat.S_ISDIR(mode) if info.is_dir() else stat.S_ISREG(mode)):
            return f"is not a regular file or folder (mode {mode:o})"
    return None


def _raise_all(errors: list[DatasetError], more: int = 0) -> None:
    """Raise one DatasetError listing ``errors`` (and how many more were not listed), if there are any."""
    if not errors:
        return
    if more:
        errors = [*errors, DatasetError("dataset", f"{more} more problems not listed", "fix the ones above first")]
    raise DatasetError.combine(errors)


def zip_entry_count(zip_path: Path) -> tuple[int, int]:
    """The entry count and central directory size a zip's end records declare (zip64 too), without parsing the
    directory itself.

    Why: ``zipfile.ZipFile()`` builds one record per central-directory entry before the caller can count them, and
    millions of empty entries fit in a 512 MiB download. The count comes from the end-of-central-directory record
    (``zipfile._EndRecData``, what ZipFile itself reads first); the size matters as much, since ZipFile parses by
    size, not by the declared count (a forged small count hides nothing). Raises :class:`zipfile.BadZipFile` when
    there is no end record.
    """
    with Path(zip_path).open("rb") as stream:
        end = zipfile._EndRecData(stream)  # type: ignore[attr-defined]
    if not end:
        raise zipfile.BadZipFile("no end-of-central-directory record (not a zip file, or truncated)")
    return int(end[zipfile._ECD_ENTRIES_TOTAL]), int(end[zipfile._ECD_SIZE])  # type: ignore[attr-defined]


def _check_entry_count(zip_path: Path, max_files: int) -> None:
    """Refuse a zip whose end record declares more entries, or a bigger central directory, than ``max_files``
    allows, before ZipFile parses the directory. Folders are entries too, so up to ``2 * max_files`` entries pass
    here; the files themselves are counted exactly once the (now bounded) directory is parsed."""
    entries, directory_bytes = zip_entry_count(zip_path)
    max_entries = 2 * max_files
    fix = (
        "check that dataset_url points to the right dataset (the book's zips hold about 200 files); "
        "a real dataset this large needs a higher max_files"
    )
    if entries > max_entries:
        raise DatasetError(
            "dataset_url",
            f"the zip declares {entries} entries (files and folders), more than 2 x max_files={max_files}",
            fix,
        )
    if directory_bytes > max(max_entries, 1) * CENTRAL_ENTRY_BYTES:
        raise DatasetError(
            "dataset_url",
            f"the zip's central directory is {directory_bytes} bytes, more than {CENTRAL_ENTRY_BYTES} bytes for each "
            f"of 2 x max_files={max_files} entries (it holds more entries than its end record declares?)",
            fix,
        )


def safe_extract(
    zip_path: Path,
    dest: Path,
    *,
    max_files: int = 20000,
    max_total_bytes: int = 2 * GiB,
    max_ratio: float = 200,
) -> list[str]:
    """Extract ``zip_path`` into ``dest`` (which must not exist or be empty) and return the file paths written.

    The entry count (and the central directory's size) is read from the zip's end record and checked against
    ``max_files`` before the directory is parsed (:func:`zip_entry_count`). Every member is checked before anything
    is written: no absolute paths, ``..`` parts, backslashes or drive
    letters, no symlinks or other non-regular files, no duplicates, at most ``max_files`` files and
    ``max_total_bytes`` uncompressed, and no member (over 1 MiB) or archive compressed more than ``max_ratio``:1
    (a zip bomb). Members are then streamed one by one into a staging folder that becomes ``dest`` only when all
    succeeded, and the byte counts are enforced while writing, whatever the headers claim.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        _check_entry_count(zip_path, max_files)  # before ZipFile() parses the whole central directory
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise DatasetError(
            "dataset_url",
            f"the downloaded file {zip_path.name} is not a readable zip archive ({error})",
            "point dataset_url at the dataset .zip itself (not an HTML page or a .tar.gz) and check dataset_sha256",
        ) from None
    with archive:
        infos = archive.infolist()
        errors: list[DatasetError] = []
        more = 0
        seen: set[str] = set()
        files: list[zipfile.ZipInfo] = []
        total = compressed = 0
        for info in infos:
            problem = _member_problem(info)
            key = info.filename.rstrip("/")
            if problem is None and key in seen:
                problem = "appears twice in the archive"
            seen.add(key)
            if problem is None and not info.is_dir():
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > MiB and ratio > max_ratio:
                    problem = f"is compressed {ratio:.0f}:1, more than the {max_ratio:g}:1 allowed (a zip bomb?)"
            if problem is not None:
                if len(errors) < MAX_PROBLEMS:
                    errors.append(
                        DatasetError(
                            info.filename,
                            problem,
                            "rebuild the zip with regular files only, stored under relative paths",
                        )
                    )
                else:
                    more += 1
                continue
            if not info.is_dir():
                files.append(info)
                total += info.file_size
                compressed += info.compress_size
        _raise_all(errors, more)
        fix = "check that this is the right dataset, or raise the limit if it really is this large"
        if len(files) > max_files:
            raise DatasetError("dataset_url", f"the zip has {len(files)} files, more than max_files={max_files}", fix)
        if total > max_total_bytes:
            raise DatasetError(
                "dataset_url", f"the zip unpacks to {total} bytes, more than max_total_bytes={max_total_bytes}", fix
            )
        if total > MiB and total / max(compressed, 1) > max_ratio:
            raise DatasetError(
                "dataset_url",
                f"the zip is compressed {total / max(compressed, 1):.0f}:1 overall, more than {max_ratio:g}:1 "
                "(a zip bomb?)",
                fix,
            )
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise FileExistsError(f"{dest} exists and is not an empty folder; extract into a new folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
        try:
            written_total = 0
            staging_root = staging.resolve()
            for info in files:
                target = staging / info.filename
                if not target.resolve().is_relative_to(staging_root):  # belt and braces after the name checks
                    raise DatasetError(info.filename, "resolves outside the extraction folder", "remove it")
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
                with os.fdopen(fd, "wb") as out, archive.open(info) as source:
                    for block in iter(lambda: source.read(CHUNK_BYTES), b""):
                        written += len(block)
                        written_total += len(block)
                        if written > info.file_size or written_total > max_total_bytes:
                            raise DatasetError(
                                info.filename,
                                "unpacks to more bytes than its header says (a zip bomb or a damaged zip)",
                                "rebuild the zip",
                            )
                        out.write(block)
            if dest.exists():
                dest.rmdir()  # empty, checked above
            os.replace(staging, dest)
        except zipfile.BadZipFile as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise DatasetError(
                "dataset_url", f"the zip is damaged ({error})", "download it again or rebuild it"
            ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return [info.filename for info in files]


# -- layout --------------------------------------------------------------------------------------------------------


def _walk_files(channel_dir: Path, errors: _Problems) -> list[str]:
    """Regular files under ``channel_dir`` as sorted POSIX paths relative to it; symlinks are reported."""
    found: list[str] = []
    stack = [(channel_dir, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = f"{prefix}{entry.name}"
                if entry.is_symlink():
                    errors.add(f"{channel_dir.name}/{rel}", "is a symbolic link", "replace it with the real file")
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), f"{rel}/"))
                elif entry.is_file(follow_symlinks=False):
                    found.append(rel)
    return sorted(found)


class _Problems:
    """Collects up to MAX_PROBLEMS errors and counts the rest, so one run reports (nearly) everything."""

    def __init__(self) -> None:
        self.errors: list[DatasetError] = []
        self.more = 0

    def add(self, where: str, problem: str, fix: str) -> None:
        if len(self.errors) < MAX_PROBLEMS:
            self.errors.append(DatasetError(where, problem, fix))
        else:
            self.more += 1

    def __len__(self) -> int:
        return len(self.errors) + self.more

    def raise_if_any(self) -> None:
        _raise_all(self.errors, self.more)


def _parse_label(text: str) -> int | None:
    """An integer label; also accepts im2rec's float form ('3.000000'). None when it is neither."""
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?\d+\.0*", text):
        return int(float(text))
    return None


def _check_lst(
    root: Path, lst_channel: str, image_channel: str, files: set[str], num_classes: int, problems: _Problems
) -> tuple[str | None, list[str], dict[int, int]]:
    """Parse the single .lst of ``lst_channel``: returns its name, the image paths it lists and per-class counts."""
    folder = root / lst_channel
    lst_files = sorted(path for path in folder.iterdir() if path.suffix == ".lst" and path.is_file())
    if len(lst_files) != 1:
        found = ", ".join(path.name for path in lst_files) or "none"
        problems.add(
            f"{lst_channel}/",
            f"must hold exactly one .lst file, found {found}",
            f"put one {image_channel}.lst in {lst_channel}/ listing every {image_channel} image",
        )
        return None, [], {}
    lst = lst_files[0]
    where = f"{lst_channel}/{lst.name}"
    line_fix = f"write every line as index<TAB>label<TAB>path, with path relative to {image_channel}/ (e.g. 5/img.png)"
    try:
        text = lst.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        problems.add(where, f"is not UTF-8 text ({error.reason} at byte {error.start})", "save it as UTF-8")
        return lst.name, [], {}
    listed: list[str] = []
    class_counts: dict[int, int] = {}
    indexes: dict[int, int] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        at = f"{where} line {number}"
        columns = line.split("\t")
        if len(columns) != 3:
            problems.add(at, f"has {len(columns)} tab-separated column(s), expected 3 ({line[:80]!r})", line_fix)
            continue
        index_text, label_text, relpath = columns
        if not re.fullmatch(r"\d+", index_text.strip()):
            problems.add(at, f"index {index_text!r} is not a non-negative integer", line_fix)
        else:
            index = int(index_text)
            if index in indexes:
                problems.add(
                    at, f"index {index} is already used on line {indexes[index]}", "give every line its own index"
                )
            else:
                indexes[index] = number
        label = _parse_label(label_text.strip())
        if label is None:
            problems.add(at, f"label {label_text!r} is not an integer", line_fix)
        elif not 0 <= label < num_classes:
            problems.add(
                at,
                f"label {label} is outside 0..{num_classes - 1} (num_classes={num_classes})",
                "use labels 0..num_classes-1, or raise num_classes if there really are more classes",
            )
        else:
            class_counts[label] = class_counts.get(label, 0) + 1
        parts = relpath.split("/")
        if not relpath or relpath.startswith("/") or "\\" in relpath or any(p in ("", ".", "..") for p in parts):
            problems.add(at, f"path {relpath!r} is not a clean relative path", line_fix)
            continue
        if relpath not in files:
            problems.add(
                at,
                f"lists {image_channel}/{relpath}, which is not in the dataset",
                f"add the image under {image_channel}/ or remove the line from {lst.name}",
            )
            continue
        listed.append(relpath)
    if not lines:
        problems.add(where, "has no entries", f"list every {image_channel} image in it")
    return lst.name, listed, class_counts


def _check_image(path: Path, where: str, height: int, width: int, image_shape: str, problems: _Problems) -> None:
    """Decode one image fully (verify + load) and check it is at least height x width."""
    from PIL import Image, UnidentifiedImageError  # lazy: Pillow is heavy for the DAG processor

    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            w, h = image.size
    except Exception as error:  # Pillow raises many types (OSError, SyntaxError, ValueError...)
        if isinstance(error, UnidentifiedImageError):
            reason = "not an image format Pillow recognises (unknown or damaged header)"
        else:
            reason = f"{type(error).__name__}: {_short(error, 120)}"
        problems.add(
            where,
            f"is not a readable image ({reason})",
            "replace it with a valid PNG or JPEG, or remove it (and its .lst line)",
        )
        return
    if h < height or w < width:
        problems.add(
            where,
            f"is {w}x{h} pixels, smaller than image_shape {image_shape} needs ({width}x{height})",
            "use images at least that large, or lower image_shape to match the data",
        )


def validate_layout(root: Path, *, num_classes: int, image_shape: str = "1,28,28") -> DatasetSummary:
    """Check an extracted dataset tree and count it; raises one DatasetError listing up to 20 problems.

    Checks: ``train/``, ``validation/``, ``train_lst/*.lst`` and ``validation_lst/*.lst`` exist (``test/`` is
    optional); each .lst line is ``index<TAB>label<TAB>path`` with a unique integer index, a label in
    ``[0, num_classes)`` and a path that exists under the image channel; every listed image and every ``test/``
    image decodes with Pillow and is at least image_shape's height x width. Errors name the file (and line).
    """
    root = Path(root)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ParamError(
            "num_classes", f"must be an integer >= 2, got {num_classes!r}", "set it to the number of classes"
        )
    _, height, width = parse_image_shape(image_shape)
    problems = _Problems()
    missing = [channel for channel in (*IMAGE_CHANNELS, *LST_CHANNELS) if not (root / channel).is_dir()]
    if missing:
        present = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        hint = ""
        if len(present) == 1 and (root / present[0]).is_dir():
            hint = f" (everything is inside {present[0]}/: zip the folder's contents, not the folder)"
        for channel in missing:
            problems.add(f"{channel}/", "is missing from the dataset" + hint, _LAYOUT_FIX)
        problems.raise_if_any()

    files: dict[str, list[str]] = {}
    for channel in CHANNELS:
        if (root / channel).is_dir():
            files[channel] = _walk_files(root / channel, problems)

    lst_names: dict[str, str | None] = {}
    listed: dict[str, list[str]] = {}
    class_counts: dict[str, dict[int, int]] = {}
    for image_channel in IMAGE_CHANNELS:
        lst_channel = _LST_OF[image_channel]
        name, paths, counts = _check_lst(
            root, lst_channel, image_channel, set(files[image_channel]), num_classes, problems
        )
        lst_names[lst_channel], listed[image_channel] = name, paths
        class_counts[image_channel] = dict(sorted(counts.items()))

    to_decode: list[tuple[Path, str]] = [
        (root / channel / rel, f"{channel}/{rel}")
        for channel in IMAGE_CHANNELS
        for rel in dict.fromkeys(listed[channel])
    ]
    to_decode += [(root / "test" / rel, f"test/{rel}") for rel in files.get("test", [])]
    for path, where in to_decode:
        if len(problems) >= 10 * MAX_PROBLEMS:  # hopeless dataset: stop decoding, the report is long enough
            break
        _check_image(path, where, height, width, image_shape, problems)
    problems.raise_if_any()

    counts = {channel: len(paths) for channel, paths in files.items()}
    summary = DatasetSummary(
        num_training_samples=_lst_entries(root / "train_lst" / str(lst_names["train_lst"])),
        num_validation_samples=_lst_entries(root / "validation_lst" / str(lst_names["validation_lst"])),
        test_count=counts.get("test", 0),
        counts=counts,
        class_counts=class_counts,
        files=files,
    )
    log.info(
        "Dataset OK: %d train / %d validation entries, %d test images, files per channel %s",
        summary.num_training_samples,
        summary.num_validation_samples,
        summary.test_count,
        counts,
    )
    return summary


def _lst_entries(path: Path) -> int:
    """Number of entries (non-empty lines) in a validated .lst file."""
    with path.open("rb") as stream:
        return sum(1 for line in stream if line.strip())


def files_for_upload(summary: DatasetSummary, channels: Iterable[str] = CHANNELS) -> dict[str, list[str]]:
    """The ``files`` of ``summary`` restricted to ``channels`` (helper for the upload task)."""
    return {channel: list(summary.files[channel]) for channel in channels if channel in summary.files}
