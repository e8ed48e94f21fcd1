"""The dataset step downloads by streaming with a pinned digest, unpacks safely and rejects every broken layout
with the file (and line) named, before anything is created in AWS."""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import stat
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from local_datasets import BAD_KINDS, DatasetServer, build_bad_dataset, build_dataset
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.datasets import dataset
from sagemaker_mlops.datasets.dataset import DatasetError, DatasetSummary, safe_extract, validate_layout

# This module's servers are on loopback, which the download refuses unless allowed (test_egress.py tests that).
download = functools.partial(dataset.download, allowed_hosts=("127.0.0.1",))
ensure_dataset = functools.partial(dataset.ensure_dataset, allowed_hosts=("127.0.0.1",))

MiB = 1024 * 1024
BIG_BYTES = 50 * MiB


# -- fixtures --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """batch1.zip and a 50 MiB blob in a served folder."""
    folder = tmp_path_factory.mktemp("served")
    info = build_dataset(folder / "batch1.zip", "batch1")
    big = folder / "big.bin"
    digest = hashlib.sha256()
    with big.open("wb") as out:
        for index in range(BIG_BYTES // MiB):
            block = hashlib.sha256(str(index).encode()).digest() * (MiB // 32)
            digest.update(block)
            out.write(block)
    return {"folder": folder, "batch1": info, "big": big, "big_sha256": digest.hexdigest()}


@pytest.fixture(scope="module")
def server(served: dict) -> Iterator[str]:
    with DatasetServer(served["folder"]) as running:
        yield running.url


@pytest.fixture(scope="module")
def batch1_tree(served: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch1") / "extracted"
    safe_extract(served["batch1"].path, root)
    return root


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Unsized(BaseHTTPRequestHandler):
    """Sends ``server.size`` bytes without Content-Length (HTTP/1.0, close-delimited), like a dynamic page."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.end_headers()
        block = b"z" * 65536
        sent = 0
        try:
            while sent < self.server.size:  # type: ignore[attr-defined]
                self.wfile.write(block)
                sent += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def unsized_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Unsized)
    httpd.daemon_threads = True
    httpd.size = 4 * MiB  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# -- download --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["", "r/"], ids=["direct", "bitly-style-301"])
def test_download_matches_the_pinned_sha256(server: str, served: dict, tmp_path: Path, route: str) -> None:
    info = served["batch1"]
    dest = tmp_path / "dl" / "batch1.zip"
    result = download(f"{server}/{route}batch1.zip", dest, sha256=info.sha256)
    assert result.path == dest and result.sha256 == info.sha256 and result.size_bytes == info.size_bytes
    assert dest.read_bytes() == info.path.read_bytes()
    assert leftovers(dest.parent) == ["batch1.zip"]  # no temporary file left


def test_download_without_a_digest_reports_it(server: str, served: dict, tmp_path: Path) -> None:
    result = download(f"{server}/r/batch1.zip", tmp_path / "b.zip", sha256=None)
    assert result.sha256 == served["batch1"].sha256


def test_sha256_mismatch_names_dataset_sha256_and_keeps_nothing(server: str, served: dict, tmp_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(DatasetError) as caught:
        download(f"{server}/batch1.zip", tmp_path / "batch1.zip", sha256=wrong)
    error = caught.value
    assert isinstance(error, ParamError) and error.field == "dataset_sha256"
    assert wrong in str(error) and served["batch1"].sha256 in str(error) and "Fix:" in str(error)
    assert leftovers(tmp_path) == []


def test_http_404_names_dataset_url(server: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        download(f"{server}/r/no-such.zip", tmp_path / "x.zip", sha256=None)
    assert caught.value.field == "dataset_url"
    assert "404" in str(caught.value) and "Fix:" in str(caught.value)
    assert leftovers(tmp_path) == []


def test_connection_refused_names_dataset_url(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        download(f"http://127.0.0.1:{free_port()}/batch1.zip", tmp_path / "x.zip", sha256=None, timeout=5)
    assert caught.value.field == "dataset_url"
    assert "could not connect" in str(caught.value)
    assert leftovers(tmp_path) == []


def test_bad_url_and_digest_are_refused_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(ParamError) as caught:
        download("file:///etc/passwd", tmp_path / "x.zip", sha256=None)
    assert caught.value.field == "dataset_url"
    with pytest.raises(ParamError) as caught:
        download("https://example.com/x.zip", tmp_path / "x.zip", sha256="abc")
    assert caught.value.field == "dataset_sha256"


def test_content_length_above_the_cap_is_refused(server: str, served: dict, tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        download(f"{server}/batch1.zip", tmp_path / "batch1.zip", sha256=None, max_bytes=100_000)
    assert caught.value.field == "dataset_url"
    assert "cap" in str(caught.value) and str(served["batch1"].size_bytes) in str(caught.value)
    assert leftovers(tmp_path) == []


def test_streamed_bytes_above_the_cap_abort_the_download(unsized_server: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        download(f"{unsized_server}/dynamic.zip", tmp_path / "d.zip", sha256=None, max_bytes=MiB)
    assert caught.value.field == "dataset_url" and "sent more than" in str(caught.value)
    assert leftovers(tmp_path) == []  # the partial file is gone


def test_download_streams_instead_of_buffering(server: str, served: dict, tmp_path: Path) -> None:
    download(f"{server}/batch1.zip", tmp_path / "warm.zip", sha256=None)  # lazy imports happen outside the trace
    tracemalloc.start()
    try:
        result = download(f"{server}/big.bin", tmp_path / "big.bin", sha256=served["big_sha256"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size_bytes == BIG_BYTES and result.sha256 == served["big_sha256"]
    assert peak < 5 * MiB, f"peak traced memory {peak / MiB:.1f} MiB for a {BIG_BYTES / MiB:.0f} MiB download"


def test_ensure_dataset_reuses_a_verified_copy_and_redownloads_a_damaged_one(served: dict, tmp_path: Path) -> None:
    info = served["batch1"]
    cache = tmp_path / "cache"
    with DatasetServer(served["folder"]) as running:
        url = f"{running.url}/r/batch1.zip"
        first = ensure_dataset(url, info.sha256, cache)
    assert first.read_bytes() == info.path.read_bytes()
    # The server is gone: a second task on this worker still gets the file, from the cache.
    assert ensure_dataset(url, info.sha256, cache) == first
    # A damaged copy is not trusted: it is fetched again (which now fails, proving it tried).
    first.write_bytes(b"damaged")
    with pytest.raises(DatasetError) as caught:
        ensure_dataset(url, info.sha256, cache, timeout=5)
    assert caught.value.field == "dataset_url"


def test_ensure_dataset_without_a_digest_keys_by_url(served: dict, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with DatasetServer(served["folder"]) as running:
        url = f"{running.url}/batch1.zip"
        first = ensure_dataset(url, None, cache)
    assert first.name.startswith("url-") and ensure_dataset(url, None, cache) == first
    assert (cache / f"{first.name}.sha256").read_text().strip() == served["batch1"].sha256


# -- good dataset ----------------------------------------------------------------------------------------------------


def test_batch1_validates_with_the_book_counts(batch1_tree: Path) -> None:
    summary = validate_layout(batch1_tree, num_classes=10, image_shape="1,28,28")
    assert isinstance(summary, DatasetSummary)
    assert (summary.num_training_samples, summary.num_validation_samples, summary.test_count) == (480, 120, 100)
    assert summary.counts == {"train": 480, "validation": 120, "test": 100, "train_lst": 1, "validation_lst": 1}
    assert summary.class_counts["train"] == {label: 48 for label in range(10)}
    assert summary.class_counts["validation"] == {label: 12 for label in range(10)}
    assert summary.files["train_lst"] == ["train.lst"] and summary.files["validation_lst"] == ["validation.lst"]
    assert all((batch1_tree / "train" / rel).is_file() for rel in summary.files["train"])
    assert summary.to_dict()["class_counts"]["train"]["0"] == 48


def test_safe_extract_returns_the_files_and_leaves_no_staging(served: dict, tmp_path: Path) -> None:
    names = safe_extract(served["batch1"].path, tmp_path / "out")
    assert len(names) == 702 and "train_lst/train.lst" in names
    assert leftovers(tmp_path) == ["out"]
    with pytest.raises(FileExistsError):  # never mixes two datasets in one folder
        safe_extract(served["batch1"].path, tmp_path / "out")


def test_a_tighter_image_shape_rejects_28px_images(batch1_tree: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        validate_layout(batch1_tree, num_classes=10, image_shape="3,32,32")
    assert "28x28 pixels" in str(caught.value) and "image_shape" in str(caught.value)


# -- bad datasets ----------------------------------------------------------------------------------------------------


def _zip_members(path: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: info for info in archive.infolist()}


def _first_train_line(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.read("train_lst/train.lst").decode().splitlines()[0].split("\t")


def _symlink_member(path: Path) -> str:
    return next(name for name, info in _zip_members(path).items() if stat.S_ISLNK(info.external_attr >> 16))


def _corrupt_member(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return next(
            info.filename
            for info in archive.infolist()
            if info.filename.endswith(".png") and not archive.read(info).startswith(b"\x89PNG")
        )


# kind -> (stage that must fail, function of the zip giving strings the error must contain)
EXPECTED = {
    "path_traversal": ("extract", lambda z: ["../evil.png", "train/../../evil.png", "'..'"]),
    "symlink": ("extract", lambda z: [_symlink_member(z), "symbolic link"]),
    "not_a_zip": ("extract", lambda z: ["dataset_url", z.name, "not a readable zip"]),
    "missing_channel": ("validate", lambda z: ["validation_lst/", "missing"]),
    "lst_missing_file": ("validate", lambda z: ["train_lst/train.lst line 1", f"train/{_first_train_line(z)[2]}"]),
    "small_images": ("validate", lambda z: ["20x20 pixels", "image_shape"]),
    "bad_lst_line": ("validate", lambda z: ["train_lst/train.lst line 1", "2 tab-separated column(s), expected 3"]),
    "label_out_of_range": ("validate", lambda z: ["train_lst/train.lst line", "label 12", "num_classes=10"]),
    "corrupt_image": ("validate", lambda z: [_corrupt_member(z), "not a readable image"]),
}


def test_every_bad_kind_is_covered() -> None:
    assert set(EXPECTED) == set(BAD_KINDS)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_bad_dataset_is_rejected_naming_the_member_or_line(kind: str, tmp_path: Path) -> None:
    zip_path = build_bad_dataset(tmp_path / f"bad-{kind}.zip", kind)
    stage, expected = EXPECTED[kind]
    dest = tmp_path / "out"
    with pytest.raises(DatasetError) as caught:
        safe_extract(zip_path, dest)
        assert stage == "validate", "safe_extract should have refused this zip"
        validate_layout(dest, num_classes=10)
    message = str(caught.value)
    for text in expected(zip_path):
        assert text in message, f"{text!r} not in {message!r}"
    assert "Fix:" in message
    if stage == "extract":
        assert not dest.exists() and not (tmp_path / "evil.png").exists()
        assert leftovers(tmp_path) == [zip_path.name]  # nothing extracted, no staging folder


def test_problems_are_reported_together_up_to_a_limit(tmp_path: Path) -> None:
    zip_path = build_bad_dataset(tmp_path / "small.zip", "small_images")  # 35 images, all too small
    safe_extract(zip_path, tmp_path / "out")
    with pytest.raises(DatasetError) as caught:
        validate_layout(tmp_path / "out", num_classes=10)
    error = caught.value
    assert len(error.errors) == 21  # 20 listed + "15 more"
    assert "15 more problems not listed" in str(error)
    assert all(e.field.endswith(".png") for e in error.errors[:20])


def test_several_lst_problems_are_named_by_line(batch1_tree: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "tree"
    shutil.copytree(batch1_tree, root)
    lst = root / "train_lst" / "train.lst"
    lines = lst.read_text().splitlines()
    _index, label, path = lines[1].split("\t")
    lines[1] = f"{lines[0].split(chr(9))[0]}\t{label}\t{path}"  # line 2 reuses line 1's index
    lines[2] = "\t".join([lines[2].split("\t")[0], "x", lines[2].split("\t")[2]])  # line 3: label not an int
    lines[3] = "\t".join([*lines[3].split("\t")[:2], "../../etc/passwd"])  # line 4: escapes the channel
    lst.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as caught:
        validate_layout(root, num_classes=10)
    fields = [e.field for e in caught.value.errors]
    assert fields == ["train_lst/train.lst line 2", "train_lst/train.lst line 3", "train_lst/train.lst line 4"]


def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/etc/cron.d/evil", "absolute path"),
        ("C:/evil.png", "drive letter"),
        ("train\\..\\evil.png", "backslash"),
        ("train/./a.png", "'.' path part"),
    ],
)
def test_unsafe_member_names_are_refused(tmp_path: Path, name: str, problem: str) -> None:
    info = zipfile.ZipInfo(name)
    zip_path = _zip(tmp_path / "a.zip", [("train/ok.png", b"x"), (info, b"evil")])
    with pytest.raises(DatasetError) as caught:
        safe_extract(zip_path, tmp_path / "out")
    assert caught.value.field == name and problem in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_fifo_member_is_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("train/pipe")
    info.create_system = 3
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    with pytest.raises(DatasetError, match="not a regular file"):
        safe_extract(_zip(tmp_path / "a.zip", [(info, b"")]), tmp_path / "out")


def test_zip_bomb_and_limits_are_refused(tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.zip", [("train/zeros.png", bytes(20 * MiB))])
    with pytest.raises(DatasetError, match=r"compressed .*:1, more than the 200:1"):
        safe_extract(bomb, tmp_path / "out")
    many = _zip(tmp_path / "many.zip", [(f"test/{i}.png", b"x") for i in range(30)])
    with pytest.raises(DatasetError, match="30 files, more than max_files=20"):
        safe_extract(many, tmp_path / "out", max_files=20)
    with pytest.raises(DatasetError, match="unpacks to 30 bytes, more than max_total_bytes=10"):
        safe_extract(many, tmp_path / "out", max_total_bytes=10)
    assert not (tmp_path / "out").exists()
    assert sorted(os.listdir(tmp_path)) == ["bomb.zip", "many.zip"]
