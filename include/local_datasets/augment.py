"""Small, seeded distortions of real MNIST digits: a sub-pixel shift, a rotation and an elastic distortion.

Why: the book's batch1/batch2 hold 4,000 and 7,200 training images, but the bundled sample has 5,000 real digits
in all, so the book-sized datasets derive the rest from real digits, the way MNIST is usually augmented (Simard
et al. 2003: affine moves plus a Gaussian-smoothed random displacement field). A derived image keeps its source
digit's label.

Why this way: the bytes must not depend on the machine. The parameters come from SHA-256 of a key, the elastic
noise from numpy's PCG64 (specified bit for bit), trigonometry and the Gaussian kernel from Python's ``math`` on
scalars, and everything else is element-wise ``+ - * floor`` in float64 (no BLAS, no SIMD transcendental
functions), so two builds anywhere give the same pixels.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ELASTIC_ALPHA", "ELASTIC_SIGMA", "MAX_ROTATION_DEG", "MAX_SHIFT_PX", "Augmentation", "derive", "draw"]

MAX_SHIFT_PX = 2.0  # each axis, uniform in [-2, 2]
MAX_ROTATION_DEG = 12.0  # uniform in [-12, 12] degrees about the image centre
ELASTIC_ALPHA = 20.0  # scale of the smoothed unit-uniform field: displacements of ~0.8 px typical, ~4 px at most
ELASTIC_SIGMA = 4.0  # Gaussian smoothing of the field (px)
_RADIUS = int(3 * ELASTIC_SIGMA)
_CHUNK = 128  # images per vectorised step (keeps the ~ _CHUNK x 2 x 52 x 52 float64 arrays in cache)


@dataclass(frozen=True)
class Augmentation:
    """How one derived image is made from its source digit; ``field_seed`` seeds its elastic displacement field."""

    dx: float
    dy: float
    angle_deg: float
    field_seed: int

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready form (the provenance sidecar)."""
        return {
            "dx": round(self.dx, 4),
            "dy": round(self.dy, 4),
            "angle_deg": round(self.angle_deg, 4),
            "elastic_alpha": ELASTIC_ALPHA,
            "elastic_sigma": ELASTIC_SIGMA,
            "field_seed": self.field_seed,
        }


def draw(key: str) -> Augmentation:
    """The augmentation for ``key`` (e.g. ``seed:batch1:train:3:417``): a pure function of the string."""
    digest = hashlib.sha256(key.encode()).digest()
    dx, dy, angle = (
        (int.from_bytes(digest[i : i + 7], "big") >> 3) / 2.0**53 * 2.0 - 1.0 for i in (0, 7, 14)
    )  # three uniform values in [-1, 1) from 53 bits each
    return Augmentation(
        dx=dx * MAX_SHIFT_PX,
        dy=dy * MAX_SHIFT_PX,
        angle_deg=angle * MAX_ROTATION_DEG,
        field_seed=int.from_bytes(digest[21:29], "big") >> 1,
    )


def _kernel() -> list[float]:
    weights = [
        math.exp(-(offset * offset) / (2.0 * ELASTIC_SIGMA * ELASTIC_SIGMA)) for offset in range(-_RADIUS, _RADIUS + 1)
    ]
    total = math.fsum(weights)
    return [weight / total for weight in weights]


def _smooth(noise: np.ndarray, side: int) -> np.ndarray:
    """Separable 'valid' Gaussian blur of (..., side + 2r, side + 2r) noise down to (..., side, side)."""
    import numpy as np

    kernel = _kernel()
    rows = np.zeros(noise.shape[:-2] + (side, noise.shape[-1]))
    term = np.empty_like(rows)
    for offset, weight in enumerate(kernel):  # in place, same order and rounding as a plain sum
        rows += np.multiply(noise[..., offset : offset + side, :], weight, out=term)
    out = np.zeros(noise.shape[:-2] + (side, side))
    term = np.empty_like(out)
    for offset, weight in enumerate(kernel):
        out += np.multiply(rows[..., :, offset : offset + side], weight, out=term)
    return out


def _fields(augmentations: Sequence[Augmentation], side: int) -> np.ndarray:
    """(n, 2, side, side) elastic displacements in pixels, one seeded field pair per image."""
    import numpy as np

    width = side + 2 * _RADIUS
    noise = np.stack(
        [
            np.random.Generator(np.random.PCG64(aug.field_seed)).random((2, width, width)) * 2.0 - 1.0
            for aug in augmentations
        ]
    )
    return _smooth(noise, side) * ELASTIC_ALPHA


def _derive_chunk(pixels: Sequence[bytes], augmentations: Sequence[Augmentation], side: int) -> list[bytes]:
    import numpy as np

    n = len(pixels)
    images = np.frombuffer(b"".join(pixels), dtype=np.uint8).reshape(n, side, side).astype(np.float64)
    centre = (side - 1) / 2.0
    cos = np.array([math.cos(math.radians(aug.angle_deg)) for aug in augmentations]).reshape(n, 1, 1)
    sin = np.array([math.sin(math.radians(aug.angle_deg)) for aug in augmentations]).reshape(n, 1, 1)
    shift_x = np.array([aug.dx for aug in augmentations]).reshape(n, 1, 1)
    shift_y = np.array([aug.dy for aug in augmentations]).reshape(n, 1, 1)
    grid_y, grid_x = np.meshgrid(np.arange(side, dtype=np.float64), np.arange(side, dtype=np.float64), indexing="ij")
    # Inverse mapping: output pixel -> source position (undo the shift, rotate back), then the elastic offset.
    out_x = grid_x - centre - shift_x
    out_y = grid_y - centre - shift_y
    fields = _fields(augmentations, side)
    src_x = cos * out_x + sin * out_y + centre + fields[:, 0]
    src_y = cos * out_y - sin * out_x + centre + fields[:, 1]
    # Bilinear interpolation, black (0) outside the source image.
    x0 = np.floor(src_x)
    y0 = np.floor(src_y)
    fx = src_x - x0
    fy = src_y - y0
    padded = np.zeros((n, side + 2, side + 2))
    padded[:, 1:-1, 1:-1] = images
    index = np.arange(n).reshape(n, 1, 1)

    def at(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        yi = np.clip(y, -1, side).astype(np.int64) + 1
        xi = np.clip(x, -1, side).astype(np.int64) + 1
        return padded[index, yi, xi]

    value = (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * (
        (1.0 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)
    )
    result = np.clip(np.floor(value + 0.5), 0, 255).astype(np.uint8)
    return [result[i].tobytes() for i in range(n)]


def derive(pixels: Sequence[bytes], augmentations: Sequence[Augmentation], *, side: int = 28) -> list[bytes]:
    """Grey ``side`` x ``side`` images made from ``pixels[i]`` by ``augmentations[i]`` (vectorised in chunks).

    Each image depends only on its own source and augmentation, never on the others in the call.
    """
    if len(pixels) != len(augmentations):
        raise ValueError(f"{len(pixels)} images but {len(augmentations)} augmentations")
    out: list[bytes] = []
    for start in range(0, len(pixels), _CHUNK):
        out.extend(_derive_chunk(pixels[start : start + _CHUNK], augmentations[start : start + _CHUNK], side))
    return out
