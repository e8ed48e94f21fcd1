"""The admin-pinned holdout: where it is (Variables), that it is the pinned bytes (SHA-256), and what it holds.

Why pinned by an admin: promotion decides what reaches production, so it must be scored on data the person who
triggers a run cannot choose (issue 20). The holdout is one S3 object, a zip in the book's layout (as the
datasets' zips: ``validation/<label>/<name>.png`` and ``validation_lst/*.lst``); its **validation channel** is
the holdout (the zip's other channels are ignored). One object, so one SHA-256 pins every byte of images and
labels alike; a prefix could not be pinned without a manifest of digests. Stdlib only.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from sagemaker_mlops.core.validation import ParamError, validate_s3_uri, validate_sha256

URI_VARIABLE = "sagemaker_mlops_holdout_uri"
SHA256_VARIABLE = "sagemaker_mlops_holdout_sha256"
CHANNEL = "validation"
LST_FOLDER = "validation_lst/"
MAX_IMAGES = 20_000  # a transform job per image object: bounded, and far above the book's 1,800 validation images
PIN_FIX = (
    f"an admin sets both Variables {URI_VARIABLE} (s3://bucket/key.zip, a zip in the book's layout) and "
    f"{SHA256_VARIABLE} (its SHA-256: sha256sum file.zip)"
)


@dataclass(frozen=True)
class PinnedHoldout:
    uri: str
    sha256: str


@dataclass(frozen=True)
class HoldoutImage:
    relpath: str  # path under the validation channel, as in the .lst (``5/ABC.png``)
    label: int
    data: bytes


def pinned(uri: str | None, sha256: str | None) -> PinnedHoldout | None:
    """The pinned holdout from the two Variables, or None when neither is set (promotion then waits for a person);
    one without the other, or a malformed value, is an admin's mistake: a ParamError naming the Variable."""
    if not uri and not sha256:
        return None
    if not uri or not sha256:
        missing = URI_VARIABLE if not uri else SHA256_VARIABLE
        raise ParamError(missing, "is not set while its pair is", PIN_FIX)
    validate_s3_uri(uri, URI_VARIABLE, require_key=True)
    if not uri.endswith(".zip"):
        raise ParamError(URI_VARIABLE, f"{uri} is not a .zip object", PIN_FIX)
    return PinnedHoldout(uri=uri, sha256=validate_sha256(sha256, SHA256_VARIABLE))


def verify(data: bytes, holdout: PinnedHoldout) -> None:
    """Refuse bytes that are not the pinned ones (changed, replaced or truncated since the admin pinned them)."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != holdout.sha256:
        raise ParamError(
            SHA256_VARIABLE,
            f"{holdout.uri} has SHA-256 {digest}, not the pinned {holdout.sha256} (the object changed)",
            "an admin checks the object and pins its digest again, or restores the pinned object",
        )


def read_images(data: bytes, holdout: PinnedHoldout) -> list[HoldoutImage]:
    """The validation channel's labeled images, in .lst order; a label list naming a missing image, a duplicate,
    or an empty channel is refused (a holdout that scores nothing must not decide a promotion)."""
    verify(data, holdout)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise ParamError(URI_VARIABLE, f"{holdout.uri} is not a zip: {error}", PIN_FIX) from None
    with archive:
        names = set(archive.namelist())
        lists = sorted(n for n in names if n.startswith(LST_FOLDER) and n.endswith(".lst"))
        if not lists:
            raise ParamError(URI_VARIABLE, f"{holdout.uri} has no {LST_FOLDER}*.lst labels", PIN_FIX)
        images: list[HoldoutImage] = []
        seen: set[str] = set()
        for name in lists:
            for number, line in enumerate(archive.read(name).decode().splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.split("\t")
                if len(parts) != 3 or not parts[1].strip().replace(".", "", 1).isdigit():
                    raise ParamError(URI_VARIABLE, f"{name} line {number} is not index<TAB>label<TAB>path", PIN_FIX)
                relpath = parts[2].strip()
                member = f"{CHANNEL}/{relpath}"
                if member not in names or relpath in seen or ".." in relpath.split("/"):
                    raise ParamError(URI_VARIABLE, f"{name} line {number} names {member}: missing or repeated", PIN_FIX)
                seen.add(relpath)
                images.append(HoldoutImage(relpath=relpath, label=int(float(parts[1])), data=archive.read(member)))
                if len(images) > MAX_IMAGES:
                    raise ParamError(URI_VARIABLE, f"{holdout.uri} has more than {MAX_IMAGES} images", PIN_FIX)
    if not images:
        raise ParamError(URI_VARIABLE, f"{holdout.uri} has no labeled validation images", PIN_FIX)
    return images


def input_prefix(prefix: str, holdout: PinnedHoldout) -> str:
    """The S3 prefix the holdout's images are unpacked to, addressed by its digest: every run and pipeline
    reuses it, and a different holdout never mixes with it."""
    return f"{prefix.strip('/')}/holdout/{holdout.sha256[:16]}/images/"


# -- image statistics for the baseline's ``input`` (the monitor compares captured requests with them) -------------
def png_pixels(data: bytes) -> tuple[int, int, float]:
    """(width, height, mean intensity 0-255) of an 8-bit non-interlaced PNG (grey, grey+alpha, RGB, RGBA); a
    ValueError for anything else, which counts as unreadable."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError("no IHDR")
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError("unsupported PNG kind")
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    total = 0
    colour_channels = 1 if channels <= 2 else 3
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        for pixel in range(width):
            base = pixel * channels
            total += sum(line[base : base + colour_channels]) / colour_channels
        previous = line
    return width, height, total / (width * height) if width * height else 0.0


def input_statistics(images: list[bytes]) -> Mapping[str, float]:
    """Mean intensity, width and height over the readable images, and the unreadable fraction."""
    readable: list[tuple[int, int, float]] = []
    for data in images:
        try:
            readable.append(png_pixels(data))
        except (ValueError, zlib.error, struct.error, IndexError):
            continue
    count = len(readable)
    return {
        "mean_intensity": sum(r[2] for r in readable) / count if count else 0.0,
        "mean_width": sum(r[0] for r in readable) / count if count else 0.0,
        "mean_height": sum(r[1] for r in readable) / count if count else 0.0,
        "unreadable_fraction": (len(images) - count) / len(images) if images else 0.0,
    }
