"""Deliberately broken dataset zips, one defect each, for the failure paths of the download/validate steps.

Why built, not stored: each variant is a small good dataset from the same builder code (20 train / 10 validation
/ 5 test images) with exactly one thing wrong, so a test that rejects it proves the check for that defect and
nothing else. Deterministic like the good zips.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path

from local_datasets.archive import Entry, write_zip
from local_datasets.builder import Sample, channel_samples, lst_text, render_entries, select_samples

__all__ = ["BAD_KINDS", "build_bad_dataset", "build_bad_datasets"]

_SMALL = {"train_per_class": 2, "validation_per_class": 1, "test_count": 5}
_TRAIN_LST = "train_lst/train.lst"
OUT_OF_RANGE_LABEL = 12
SMALL_SIDE = 20


def _first_train(samples: list[Sample]) -> Sample:
    """The image on line 1 of train.lst: the one each single-image defect is applied to."""
    return channel_samples(samples, "train")[0]


def _replace(entries: list[Entry], name: str, new: Entry | None) -> list[Entry]:
    """``entries`` with member ``name`` replaced by ``new`` (or dropped when ``new`` is None)."""
    if name not in {entry.name for entry in entries}:
        raise KeyError(name)
    return [entry if entry.name != name else new for entry in entries if entry.name != name or new is not None]


def _path_traversal(samples: list[Sample]) -> list[Entry]:
    entries = render_entries(samples)
    image = next(entry.data for entry in entries if entry.name == _first_train(samples).member)
    # Both spellings: a leading '..' and one hidden behind a channel folder.
    return [*entries, Entry("../evil.png", image), Entry("train/../../evil.png", image)]


def _symlink(samples: list[Sample]) -> list[Entry]:
    member = _first_train(samples).member
    return _replace(render_entries(samples), member, Entry(member, b"../../../../etc/passwd", symlink=True))


def _missing_channel(samples: list[Sample]) -> list[Entry]:
    return [entry for entry in render_entries(samples) if not entry.name.startswith("validation_lst/")]


def _lst_missing_file(samples: list[Sample]) -> list[Entry]:
    return _replace(render_entries(samples), _first_train(samples).member, None)


def _small_images(samples: list[Sample]) -> list[Entry]:
    return render_entries(samples, side=SMALL_SIDE)


def _bad_lst_line(samples: list[Sample]) -> list[Entry]:
    train = channel_samples(samples, "train")
    first = train[0]
    text = f"{first.label}\t{first.relpath}\n" + lst_text(train).split("\n", 1)[1]  # line 1 loses its index
    return _replace(render_entries(samples), _TRAIN_LST, Entry(_TRAIN_LST, text.encode("ascii")))


def _label_out_of_range(samples: list[Sample]) -> list[Entry]:
    # The image moves to train/12/ too, so the folder still matches the label and only the range is wrong.
    first = _first_train(samples)
    moved = dataclasses.replace(first, label=OUT_OF_RANGE_LABEL)
    return render_entries([moved if sample == first else sample for sample in samples])


def _corrupt_image(samples: list[Sample]) -> list[Entry]:
    member = _first_train(samples).member
    garbage = b"this is not a PNG image\n" + random.Random("corrupt_image").randbytes(200)
    return _replace(render_entries(samples), member, Entry(member, garbage))


_KINDS: dict[str, Callable[[list[Sample]], list[Entry]]] = {
    "path_traversal": _path_traversal,
    "symlink": _symlink,
    "missing_channel": _missing_channel,
    "lst_missing_file": _lst_missing_file,
    "small_images": _small_images,
    "bad_lst_line": _bad_lst_line,
    "label_out_of_range": _label_out_of_range,
    "corrupt_image": _corrupt_image,
}
BAD_KINDS: tuple[str, ...] = (*_KINDS, "not_a_zip")


def build_bad_dataset(out_zip: Path, kind: str) -> Path:
    """Write a small dataset zip with exactly the defect ``kind`` (one of BAD_KINDS) and return its path."""
    out_zip = Path(out_zip)
    if kind == "not_a_zip":
        out_zip.parent.mkdir(parents=True, exist_ok=True)
        out_zip.write_bytes(b"this is not a zip archive\n" + random.Random("not_a_zip").randbytes(2048))
        return out_zip
    try:
        make = _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown bad dataset kind {kind!r}; use one of {', '.join(BAD_KINDS)}") from None
    return write_zip(make(select_samples("batch1", **_SMALL)), out_zip)


def build_bad_datasets(out_dir: Path) -> dict[str, Path]:
    """Every bad variant as ``<out_dir>/bad-<kind>.zip``."""
    return {kind: build_bad_dataset(Path(out_dir) / f"bad-{kind}.zip", kind) for kind in BAD_KINDS}
