"""The book-sized datasets: the chapter's counts, disjoint source pools, honest provenance, identical rebuilds.

Building the full book size takes ~10 s on 2 busy cores, so the rendering is tested at a small scale through the
same functions (``select_book_samples`` with small ``sizes`` and few digits per class, ``write_dataset``); the
full size is checked without rendering (selection only), and built once in an e2e test.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from local_datasets.augment import Augmentation, derive, draw
from local_datasets.builder import (
    BOOK_SIZES,
    CHANNELS,
    Sample,
    build_all,
    build_dataset,
    select_book_samples,
    write_dataset,
)
from local_datasets.mnist import load_digits
from local_datasets.pools import per_class, split_pool

# Small sizes with the same shape as the book's: more images than real digits, so most images are derived.
SMALL_SIZES = {
    "batch1": {"train": 60, "validation": 20, "test": 13},
    "batch2": {"train": 100, "validation": 30, "test": 25},
}
SMALL_DIGITS = 8  # real digits per class shared by both batches' pools


def small(batch: str) -> list[Sample]:
    return select_book_samples(batch, sizes=SMALL_SIZES, digits_per_class=SMALL_DIGITS)


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def grey(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.mode == "RGBA" and image.size == (28, 28)
    return np.asarray(image)[:, :, 0].astype(np.float64)


def centroid(image: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0:28, 0:28]
    return np.array([(image * ys).sum(), (image * xs).sum()]) / image.sum()


def rows_of(samples: list[Sample]) -> set[int]:
    return {sample.digit.row for sample in samples}


# --- pool arithmetic -----------------------------------------------------------------------------------------


def test_split_pool_is_proportional_complete_and_never_empty() -> None:
    assert split_pool(500, [400, 100, 84, 720, 180, 150]) == [122, 31, 26, 220, 55, 46]
    assert sum(split_pool(500, [400, 100, 84, 720, 180, 150])) == 500
    assert split_pool(10, [3, 0, 2]) == [3, 0, 2]  # enough digits: each group gets what it needs, no more
    assert split_pool(3, [1000, 1, 1]) == [1, 1, 1]  # a tiny group still gets one real digit
    with pytest.raises(ValueError, match="only 2 digits"):
        split_pool(2, [5, 5, 5])
    with pytest.raises(ValueError, match=">= 0"):
        split_pool(5, [1, -1])


def test_per_class_spreads_a_total_round_robin() -> None:
    assert [per_class(833, label) for label in range(10)] == [84, 84, 84] + [83] * 7
    assert sum(per_class(1500, label) for label in range(10)) == 1500


# --- the book's counts, at full size (selection only: fast) -------------------------------------------------------


def test_book_sizes_are_the_chapters_counts() -> None:
    assert BOOK_SIZES["batch1"]["train"] == 4000 and BOOK_SIZES["batch2"]["train"] == 7200
    for sizes in BOOK_SIZES.values():  # images.zip's proportions: validation = train / 4, test = train / 4.8
        assert sizes["validation"] * 4 == sizes["train"]
        assert round(sizes["train"] / 4.8) == sizes["test"]


def test_full_book_selection_uses_disjoint_real_digits_and_derives_the_rest() -> None:
    batches = {batch: select_book_samples(batch) for batch in BOOK_SIZES}
    all_rows = {digit.row for digit in load_digits()}
    for batch, samples in batches.items():
        for channel in CHANNELS:
            assert sum(s.channel == channel for s in samples) == BOOK_SIZES[batch][channel]
        for channel in ("train", "validation"):
            per_label = [sum(s.channel == channel and s.label == label for s in samples) for label in range(10)]
            assert per_label == [BOOK_SIZES[batch][channel] // 10] * 10
        real = [s for s in samples if s.augmentation is None]
        assert len({s.digit.row for s in real}) == len(real)  # each real digit appears once as it is
        assert rows_of(samples) == {s.digit.row for s in real}  # ... and every derived image's source is one of them
        assert len({s.name for s in samples}) == len(samples)
    assert rows_of(batches["batch1"]).isdisjoint(rows_of(batches["batch2"]))
    # All 5,000 real digits are used, each in exactly one batch.
    assert rows_of(batches["batch1"]) | rows_of(batches["batch2"]) == all_rows
    derived = {batch: sum(s.augmentation is not None for s in samples) for batch, samples in batches.items()}
    assert derived == {
        "batch1": 5833 - len(rows_of(batches["batch1"])),
        "batch2": 10500 - len(rows_of(batches["batch2"])),
    }
    assert 0 < derived["batch1"] < 5833 and 0 < derived["batch2"] < 10500


def test_channels_of_a_batch_have_disjoint_source_digits() -> None:
    samples = select_book_samples("batch1")
    by_channel = {channel: rows_of([s for s in samples if s.channel == channel]) for channel in CHANNELS}
    assert by_channel["train"].isdisjoint(by_channel["validation"])
    assert by_channel["train"].isdisjoint(by_channel["test"])
    assert by_channel["validation"].isdisjoint(by_channel["test"])


def test_source_digit_indices_are_pinned() -> None:
    """Which real digit feeds which image never changes silently (hash of the sorted source rows per batch)."""
    digests = {}
    for batch in BOOK_SIZES:
        rows = ",".join(str(row) for row in sorted(rows_of(select_book_samples(batch))))
        digests[batch] = hashlib.sha256(rows.encode()).hexdigest()[:16]
    assert digests == PINNED_SOURCE_ROWS


PINNED_SOURCE_ROWS = {"batch1": "ff0cc652a9570943", "batch2": "14aecbc2e7ee5b08"}


def test_book_size_rejects_per_class_sizes_and_unknown_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size='book'"):
        build_dataset(tmp_path / "x.zip", "batch1", size="book", train_per_class=3)
    with pytest.raises(ValueError, match="size must be one of"):
        build_dataset(tmp_path / "x.zip", "batch1", size="huge")
    with pytest.raises(ValueError, match="batch must be one of"):
        select_book_samples("batch3")
    with pytest.raises(ValueError, match="must give"):
        select_book_samples("batch1", sizes={"batch1": {"train": 10, "validation": 10}})


# --- rendering at a small scale, same code path ---------------------------------------------------------------


@pytest.fixture(scope="module")
def small_built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("book-small")
    return {batch: write_dataset(out / f"{batch}.zip", batch, small(batch)) for batch in SMALL_SIZES}


def test_small_scale_counts_and_provenance(small_built: dict) -> None:
    for batch, info in small_built.items():
        assert dict(info.counts) == SMALL_SIZES[batch]
        provenance = json.loads(info.provenance_path.read_text())
        members = read_zip(info.path)
        assert set(provenance) == {name for name in members if name.endswith(".png")}
        derived = {
            channel: sum(
                name.startswith(f"{channel}/") and entry["derived"] is not None for name, entry in provenance.items()
            )
            for channel in CHANNELS
        }
        assert derived == dict(info.derived)
        assert sum(derived.values()) > len(provenance) // 2  # mostly derived at this scale
        for name, entry in provenance.items():
            folder = name.split("/")[1]
            if name.startswith(("train/", "validation/")):
                assert int(folder) == entry["label"]
            if entry["derived"] is not None:
                assert set(entry["derived"]) >= {"dx", "dy", "angle_deg", "field_seed"}


def test_real_images_are_the_digits_and_derived_images_stay_close_to_their_source(small_built: dict) -> None:
    digits = {digit.row: digit for digit in load_digits()}
    for info in small_built.values():
        provenance = json.loads(info.provenance_path.read_text())
        seen: set[bytes] = set()
        correlations = []
        for name, data in read_zip(info.path).items():
            if not name.endswith(".png"):
                continue
            entry = provenance[name]
            source = digits[entry["source_row"]]
            assert source.label == entry["label"]
            pixels = grey(data)
            original = np.frombuffer(source.pixels, dtype=np.uint8).reshape(28, 28).astype(np.float64)
            if entry["derived"] is None:
                assert np.array_equal(pixels, original), name
            else:
                assert not np.array_equal(pixels, original), name
                # A small distortion: the ink stays where it was (a few pixels at most), about as much of it.
                assert np.linalg.norm(centroid(pixels) - centroid(original)) < 5, name
                assert 0.5 < pixels.sum() / original.sum() < 1.6, name
                correlations.append(np.corrcoef(pixels.ravel(), original.ravel())[0, 1])
            assert pixels.tobytes() not in seen, f"{name} duplicates another image"
            seen.add(pixels.tobytes())
        assert np.median(correlations) > 0.45  # typically still the same strokes (a 2 px shift of a thin 1: ~0)


def test_small_scale_batches_share_no_source_digit_and_no_image(small_built: dict) -> None:
    rows = {}
    images = {}
    for batch, info in small_built.items():
        provenance = json.loads(info.provenance_path.read_text())
        rows[batch] = {entry["source_row"] for entry in provenance.values()}
        images[batch] = {
            hashlib.sha256(data).hexdigest() for name, data in read_zip(info.path).items() if name.endswith(".png")
        }
    assert rows["batch1"].isdisjoint(rows["batch2"])
    assert images["batch1"].isdisjoint(images["batch2"])
    assert len(rows["batch1"] | rows["batch2"]) == 10 * SMALL_DIGITS  # every real digit used once


def test_two_small_scale_builds_are_byte_identical(small_built: dict, tmp_path: Path) -> None:
    for batch, info in small_built.items():
        again = write_dataset(tmp_path / f"{batch}.zip", batch, small(batch))
        assert again.path.read_bytes() == info.path.read_bytes()
        assert again.provenance_path.read_bytes() == info.provenance_path.read_bytes()
        assert again.test_labels_path.read_bytes() == info.test_labels_path.read_bytes()


def test_augmentation_pixels_are_pinned() -> None:
    """Same pixels on any machine: float64 element-wise arithmetic only (a change here changes every book zip)."""
    digits = load_digits()[:8]
    augmentations = [draw(f"pin:{i}") for i in range(8)]
    out = derive([digit.pixels for digit in digits], augmentations)
    assert hashlib.sha256(b"".join(out)).hexdigest()[:16] == PINNED_PIXELS
    # Each image depends only on its own source and augmentation, not on what else is in the call.
    assert derive([digits[3].pixels], [augmentations[3]]) == [out[3]]


PINNED_PIXELS = "ba00bd535d01f912"


def test_draw_is_a_pure_bounded_function_of_its_key() -> None:
    first = [draw(f"k:{i}") for i in range(200)]
    assert first == [draw(f"k:{i}") for i in range(200)]
    assert len({aug.field_seed for aug in first}) == 200
    assert all(abs(aug.dx) <= 2 and abs(aug.dy) <= 2 and abs(aug.angle_deg) <= 12 for aug in first)
    assert min(aug.angle_deg for aug in first) < -9 and max(aug.angle_deg for aug in first) > 9
    with pytest.raises(ValueError, match="augmentations"):
        derive([b"\0" * 784], [])
    assert isinstance(first[0], Augmentation)


# --- the full book size, built once (slow: ~10 s) ------------------------------------------------------------


@pytest.mark.e2e
def test_full_book_build_validates_like_the_chapters_zips(tmp_path: Path) -> None:
    from sagemaker_mlops.datasets.dataset import safe_extract, validate_layout

    built = build_all(tmp_path, size="book")
    for batch, info in built.items():
        assert dict(info.counts) == dict(BOOK_SIZES[batch])
        root = tmp_path / f"{batch}-extracted"
        safe_extract(info.path, root)
        summary = validate_layout(root, num_classes=10)
        assert summary.num_training_samples == BOOK_SIZES[batch]["train"]
