"""Build the book's two dataset zips (``batch1.zip``, ``batch2.zip``) from real MNIST digits, deterministically.

Why: chapter 6 downloads two ``images.zip``-style archives from bit.ly links; locally the DAGs need the same
layout without the internet, and the tests need byte-identical archives to pin by SHA-256. Layout (no top folder)::

    train/<0-9>/<12 uppercase letters>.png        validation/<0-9>/<name>.png        test/<name>.png
    train_lst/train.lst                           validation_lst/validation.lst

``.lst`` lines are ``index<TAB>label<TAB>path`` with the path relative to the channel root (``5/ABC...png``).
Each batch takes its digits from its own block of every class, so batches never share an image. The test
labels go to a sidecar ``<zip stem>.test-labels.json`` next to the zip, never inside it (the test channel is
unlabelled, as in the book).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from local_datasets.archive import Entry, write_zip
from local_datasets.mnist import SIDE, Digit, load_digits
from local_datasets.png import encode_grey_as_rgba, resize_nearest

__all__ = [
    "BATCHES",
    "CHANNELS",
    "DEFAULT_SEED",
    "LABELED_CHANNELS",
    "DatasetInfo",
    "Sample",
    "build_all",
    "build_dataset",
    "channel_samples",
    "lst_text",
    "render_entries",
    "select_samples",
    "test_labels_path",
]

BATCHES = ("batch1", "batch2")
CHANNELS = ("train", "validation", "test")
LABELED_CHANNELS = ("train", "validation")
DEFAULT_SEED = "mle-on-aws-ch06"
NUM_CLASSES = 10
# Sizes of the book's images.zip: 480 train, 120 validation, 100 test images.
TRAIN_PER_CLASS = 48
VALIDATION_PER_CLASS = 12
TEST_COUNT = 100
# Digits of each class reserved for one batch: batchN uses block N whatever the sizes, so batches stay disjoint.
BLOCK_PER_CLASS = 100
NAME_LENGTH = 12
_BATCH_RE = re.compile(r"batch([1-9][0-9]*)")


@dataclass(frozen=True)
class Sample:
    """One image of a dataset: its channel, label, file name and the MNIST digit it shows."""

    channel: str
    label: int
    name: str
    digit: Digit

    @property
    def relpath(self) -> str:
        """Path relative to the channel root, as written in the .lst file (test images sit at the root)."""
        return self.name if self.channel == "test" else f"{self.label}/{self.name}"

    @property
    def member(self) -> str:
        """Path inside the zip."""
        return f"{self.channel}/{self.relpath}"


@dataclass(frozen=True)
class DatasetInfo:
    """What was built: where, its SHA-256 (to pin the download), size and images per channel."""

    batch: str
    path: Path
    sha256: str
    size_bytes: int
    counts: Mapping[str, int] = field(default_factory=dict)
    test_labels_path: Path | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for the CLI."""
        return {
            "batch": self.batch,
            "path": str(self.path),
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "counts": dict(self.counts),
            "test_labels_path": str(self.test_labels_path) if self.test_labels_path else None,
        }


def _batch_number(batch: str, available_per_class: int) -> int:
    """1 for 'batch1', ...; refuses batches whose block would run past the digits of a class."""
    match = _BATCH_RE.fullmatch(batch)
    limit = available_per_class // BLOCK_PER_CLASS
    if match is None or not 1 <= int(match[1]) <= limit:
        raise ValueError(f"batch must be one of batch1..batch{limit}, got {batch!r}")
    return int(match[1])


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def select_samples(
    batch: str = "batch1",
    *,
    train_per_class: int = TRAIN_PER_CLASS,
    validation_per_class: int = VALIDATION_PER_CLASS,
    test_count: int = TEST_COUNT,
    seed: str = DEFAULT_SEED,
) -> list[Sample]:
    """The digits and names of one batch, sorted by zip member; a pure function of its arguments.

    Every class is shuffled once with a seed that does not depend on the batch, and batchN takes block N of it,
    so two batches never share a digit. Test images are spread over the classes round-robin.
    """
    _check_count("train_per_class", train_per_class, 1)
    _check_count("validation_per_class", validation_per_class, 1)
    _check_count("test_count", test_count, 0)
    by_class: dict[int, list[Digit]] = {label: [] for label in range(NUM_CLASSES)}
    for digit in load_digits():
        by_class[digit.label].append(digit)
    number = _batch_number(batch, min(len(digits) for digits in by_class.values()))
    test_per_class = [test_count // NUM_CLASSES + (label < test_count % NUM_CLASSES) for label in range(NUM_CLASSES)]
    needed = train_per_class + validation_per_class + max(test_per_class)
    if needed > BLOCK_PER_CLASS:
        raise ValueError(f"a batch may use at most {BLOCK_PER_CLASS} digits per class, these sizes need {needed}")

    names = random.Random(f"{seed}:names:{batch}")
    used: set[str] = set()

    def new_name() -> str:
        while True:
            name = "".join(names.choices(string.ascii_uppercase, k=NAME_LENGTH)) + ".png"
            if name not in used:
                used.add(name)
                return name

    samples: list[Sample] = []
    for label in range(NUM_CLASSES):
        digits = by_class[label][:]
        random.Random(f"{seed}:digits:{label}").shuffle(digits)
        block = iter(digits[(number - 1) * BLOCK_PER_CLASS : number * BLOCK_PER_CLASS])
        sizes = (("train", train_per_class), ("validation", validation_per_class), ("test", test_per_class[label]))
        for channel, size in sizes:
            samples.extend(Sample(channel, label, new_name(), next(block)) for _ in range(size))
    return sorted(samples, key=lambda sample: sample.member)


def channel_samples(samples: list[Sample], channel: str) -> list[Sample]:
    """The samples of one channel in .lst order (sorted by relative path)."""
    return sorted((sample for sample in samples if sample.channel == channel), key=lambda sample: sample.relpath)


def lst_text(samples: list[Sample]) -> str:
    """An im2rec-style .lst: ``index\\tlabel\\trelpath\\n`` per image, index from 1, LF endings, no header."""
    return "".join(f"{index}\t{sample.label}\t{sample.relpath}\n" for index, sample in enumerate(samples, start=1))


def render_entries(samples: list[Sample], *, side: int = SIDE) -> list[Entry]:
    """Zip members for ``samples``: one RGBA PNG per image plus the train and validation .lst files."""
    entries = []
    for sample in samples:
        pixels = sample.digit.pixels if side == SIDE else resize_nearest(sample.digit.pixels, SIDE, side)
        entries.append(Entry(sample.member, encode_grey_as_rgba(pixels, side, side)))
    for channel in LABELED_CHANNELS:
        text = lst_text(channel_samples(samples, channel))
        entries.append(Entry(f"{channel}_lst/{channel}.lst", text.encode("ascii")))
    return entries


def test_labels_path(out_zip: Path) -> Path:
    """The sidecar with the true test labels: ``batch1.zip`` -> ``batch1.test-labels.json`` in the same folder."""
    return out_zip.with_name(f"{out_zip.stem}.test-labels.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_dataset(
    out_zip: Path,
    batch: str = "batch1",
    *,
    train_per_class: int | None = None,
    validation_per_class: int | None = None,
    test_count: int | None = None,
    seed: str = DEFAULT_SEED,
) -> DatasetInfo:
    """Write one dataset zip (default: the book's 480/120/100 sizes) and its test-label sidecar.

    The same arguments always give the same bytes, so the returned SHA-256 can be pinned in the DAG.
    """
    out_zip = Path(out_zip)
    samples = select_samples(
        batch,
        train_per_class=TRAIN_PER_CLASS if train_per_class is None else train_per_class,
        validation_per_class=VALIDATION_PER_CLASS if validation_per_class is None else validation_per_class,
        test_count=TEST_COUNT if test_count is None else test_count,
        seed=seed,
    )
    write_zip(render_entries(samples), out_zip)
    labels = {sample.name: sample.label for sample in samples if sample.channel == "test"}
    sidecar = test_labels_path(out_zip)
    sidecar.write_text(json.dumps(labels, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    counts = {channel: sum(sample.channel == channel for sample in samples) for channel in CHANNELS}
    return DatasetInfo(
        batch=batch,
        path=out_zip,
        sha256=_sha256(out_zip),
        size_bytes=out_zip.stat().st_size,
        counts=MappingProxyType(counts),
        test_labels_path=sidecar,
    )


def build_all(out_dir: Path) -> dict[str, DatasetInfo]:
    """Write ``batch1.zip`` and ``batch2.zip`` (disjoint digits, book sizes) into ``out_dir``."""
    out_dir = Path(out_dir)
    return {batch: build_dataset(out_dir / f"{batch}.zip", batch) for batch in BATCHES}
