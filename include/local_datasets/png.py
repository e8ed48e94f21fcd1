"""A tiny PNG encoder for grey digits stored as 8-bit RGBA, the pixel format of the book's dataset images.

Why not Pillow: the output must be byte-identical from build to build (the zips are compared by SHA-256), so the
bytes may depend only on the pixels, not on an imaging library's version or defaults. Stdlib only.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["PNG_SIGNATURE", "encode_grey_as_rgba", "resize_nearest"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE_RGBA = 6
_BIT_DEPTH = 8


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC over type+data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_grey_as_rgba(pixels: bytes, width: int, height: int) -> bytes:
    """PNG bytes of a row-major grey image, each value copied to R, G and B with alpha 255 (like the book's PNGs)."""
    if len(pixels) != width * height:
        raise ValueError(f"expected {width}x{height}={width * height} grey values, got {len(pixels)}")
    rgba = bytearray(len(pixels) * 4)
    rgba[0::4] = pixels
    rgba[1::4] = pixels
    rgba[2::4] = pixels
    rgba[3::4] = b"\xff" * len(pixels)
    stride = width * 4
    # Filter type 0 (None) on every scanline keeps the encoding a pure function of the pixels.
    raw = b"".join(b"\x00" + bytes(rgba[y * stride : (y + 1) * stride]) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, _BIT_DEPTH, _COLOR_TYPE_RGBA, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def resize_nearest(pixels: bytes, side: int, new_side: int) -> bytes:
    """Nearest-neighbour resize of a square grey image (used to make deliberately too-small images)."""
    picks = [min(side - 1, (i * side) // new_side) for i in range(new_side)]
    return bytes(pixels[y * side + x] for y in picks for x in picks)
