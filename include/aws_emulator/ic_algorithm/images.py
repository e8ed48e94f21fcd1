"""Image decoding and geometry: decode PNG/JPEG, convert to image_shape's channel count, crop or resize.

What the documentation says, and what this module does:

* Training: an image smaller than image_shape's height/width fails the job; a larger one is cropped to it, at the
  centre, or at a random position (plus a random horizontal flip) when ``augmentation_type`` is set. With the
  ``resize`` hyperparameter the shorter side is first resized to ``resize`` pixels (aspect ratio kept).
* Inference: the image is resized to image_shape's height and width; the aspect ratio is not kept.
* Channels: RGBA/LA inputs lose their alpha channel (it is dropped, not composited, which is what OpenCV's
  ``imdecode`` does, the decoder MXNet uses); RGB becomes greyscale with the ITU-R 601-2 luma weights when
  image_shape has 1 channel; greyscale is replicated into 3 channels when it has 3. How the real algorithm reduces
  the book's RGBA PNGs to ``1,28,28`` is not documented, so this is a reasonable guess, not a replica.
* JPEG EXIF orientation is applied. 16-bit greyscale PNGs are scaled to 8 bits.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "MAX_PIXELS",
    "UndecodableImage",
    "augment_crop",
    "centre_crop",
    "decode",
    "resize_exact",
    "resize_shorter_side",
    "to_array",
]

MAX_PIXELS = 40_000_000  # refuse absurd images instead of exhausting memory (decompression bombs)
_FORMATS = ("PNG", "JPEG")
# Decoded small images, by content: every training job (and tuning trial) on a dataset decodes the same PNGs again,
# a large share of the emulator's CPU in a test run. Bounded: at most this many arrays of at most this size each.
_CACHE_ENTRIES, _CACHE_MAX_BYTES = 16_384, 16_384
_cache: OrderedDict[tuple[bytes, int], np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


class UndecodableImage(ValueError):
    """Bytes that are not a decodable PNG or JPEG image."""


def decode(data: bytes, channels: int) -> np.ndarray:
    """Decode PNG/JPEG bytes into a read-only ``uint8`` array of shape (channels, height, width)."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise UndecodableImage("empty body")
    key = (hashlib.blake2b(data, digest_size=16).digest(), channels)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    arr = _decode(data, channels)
    arr.setflags(write=False)  # shared by every caller from now on
    if arr.nbytes <= _CACHE_MAX_BYTES:
        with _cache_lock:
            _cache[key] = arr
            while len(_cache) > _CACHE_ENTRIES:
                _cache.popitem(last=False)
    return arr


def _decode(data: bytes, channels: int) -> np.ndarray:
    try:
        image = Image.open(io.BytesIO(bytes(data)), formats=_FORMATS)
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise UndecodableImage(f"image is {width}x{height}, more than {MAX_PIXELS} pixels")
        image.load()
    except UndecodableImage:
        raise
    except Exception as exc:  # Pillow raises many types for garbage input (OSError, SyntaxError, ValueError, ...)
        raise UndecodableImage(f"not a decodable PNG or JPEG image ({type(exc).__name__})") from None
    return to_array(image, channels)


def to_array(image: Image.Image, channels: int) -> np.ndarray:
    """A loaded Pillow image as ``uint8`` (channels, height, width)."""
    try:
        image = ImageOps.exif_transpose(image) or image
    except Exception:  # a broken EXIF block must not make a valid image undecodable
        pass
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = np.asarray(image, dtype=np.float64)
        if mode != "F" and grey.size and grey.max() > 255:
            grey = grey / 257.0
        grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
        arr = grey[None, :, :]
        return np.repeat(arr, 3, axis=0) if channels == 3 else arr
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if channels == 1:
        arr = np.asarray(image.convert("L"), dtype=np.uint8)[None, :, :]
    else:
        arr = np.asarray(image.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
    return np.ascontiguousarray(arr)


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.shape[0] == 1:
        return Image.fromarray(np.ascontiguousarray(arr[0]))
    return Image.fromarray(np.ascontiguousarray(arr.transpose(1, 2, 0)))


def resize_exact(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (c, h, w) to exactly (c, height, width), bilinear, aspect ratio not kept (inference)."""
    if arr.shape[1] == height and arr.shape[2] == width:
        return arr
    resized = _from_array(arr).resize((width, height), Image.Resampling.BILINEAR)
    return to_array(resized, arr.shape[0])


def resize_shorter_side(arr: np.ndarray, size: int) -> np.ndarray:
    """Resize so that the shorter side is ``size`` pixels, keeping the aspect ratio (the ``resize`` hyperparameter)."""
    _, h, w = arr.shape
    if min(h, w) == size:
        return arr
    if h <= w:
        new_h, new_w = size, max(size, round(w * size / h))
    else:
        new_h, new_w = max(size, round(h * size / w)), size
    return resize_exact(arr, new_h, new_w)


def centre_crop(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Central crop of (c, h, w) to (c, height, width); the caller guarantees h >= height and w >= width."""
    _, h, w = arr.shape
    top = (h - height) // 2
    left = (w - width) // 2
    return arr[:, top : top + height, left : left + width]


def augment_crop(arr: np.ndarray, height: int, width: int, rng: np.random.Generator, color: bool) -> np.ndarray:
    """``augmentation_type`` emulation: random crop + random horizontal flip; ``color`` adds a random lightness shift.

    The real ``crop_color`` jitters hue/saturation/lightness and ``crop_color_transform`` adds rotation, shear and
    aspect changes; this stand-in only shifts lightness by up to +-50 and does not apply the geometric transforms.
    """
    _, h, w = arr.shape
    top = int(rng.integers(0, h - height + 1))
    left = int(rng.integers(0, w - width + 1))
    out = arr[:, top : top + height, left : left + width]
    if rng.random() < 0.5:
        out = out[:, :, ::-1]
    if color:
        shift = int(rng.integers(-50, 51))
        out = np.clip(out.astype(np.int16) + shift, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out)
