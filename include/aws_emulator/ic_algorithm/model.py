"""The stand-in classifier (numpy softmax regression), its model.tar.gz layout, and inference.

Architecture (deliberately small, so that a 480-image job trains in milliseconds on a CPU):

    data (c, h, w) uint8 -> x = pixels / 255
    features = [ x.flatten(),  gaussian_blur(x, sigma=1).flatten() ]        # 2 * c*h*w values
    each feature group g standardised with scalars aux:feature_mean[g], aux:feature_std[g] (from the training set)
    logits = arg:fc_weight @ features + arg:fc_bias ;  probabilities = softmax(logits)

It is NOT a ResNet and has nothing to do with MXNet. ``num_layers`` is only recorded (incremental training checks
it); it does not change the model.

model.tar.gz members (gzip tar, mtime 0, sorted; no pickle anywhere):

* ``image-classification-symbol.json``: describes the architecture above and says it is a stand-in,
* ``image-classification-NNNN.params``: an ``.npz`` with ``arg:fc_weight``, ``arg:fc_bias``, ``aux:feature_mean``,
  ``aux:feature_std`` (MXNet's ``arg:``/``aux:`` key convention; NNNN is the 1-based epoch the weights are from),
* ``model-shapes.json``: ``[{"shape": [mini_batch_size, c, h, w], "name": "data"}]``,
* ``hyperparams.json``: the job's HyperParameters (strings), as supplied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidModelInput, ModelLoadError
from .images import UndecodableImage, decode, resize_exact
from .serialization import json_bytes, load_npz, npz_bytes, read_tar_gz, tar_gz_bytes

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "HYPERPARAMS_FILE",
    "SHAPES_FILE",
    "STAND_IN_NOTICE",
    "SYMBOL_FILE",
    "StandInModel",
    "Weights",
    "features",
    "load_model",
    "package_model",
    "params_name",
    "softmax",
]

FORMAT = "aws-emulator/image-classification-stand-in"
FORMAT_VERSION = 1
SYMBOL_FILE = "image-classification-symbol.json"
SHAPES_FILE = "model-shapes.json"
HYPERPARAMS_FILE = "hyperparams.json"
PARAMS_RE = re.compile(r"^image-classification-(\d{4,})\.params$")
STAND_IN_NOTICE = (
    "STAND-IN: this artifact was produced by aws_emulator.ic_algorithm, a small numpy softmax-regression stand-in "
    "for the SageMaker built-in image-classification algorithm. It is NOT the SageMaker algorithm (no ResNet, no "
    "MXNet); it only honours the algorithm's contract. Its accuracy says nothing about the real algorithm's."
)

BLUR_SIGMA = 1.0
BLUR_RADIUS = 3
_KERNEL = np.exp(-(np.arange(-BLUR_RADIUS, BLUR_RADIUS + 1) ** 2) / (2 * BLUR_SIGMA**2))
_KERNEL = (_KERNEL / _KERNEL.sum()).astype(np.float32)


def params_name(epoch: int) -> str:
    return f"image-classification-{epoch:04d}.params"


# --------------------------------------------------------------------------------------------- the classifier


def _blur(x: np.ndarray) -> np.ndarray:
    """Separable Gaussian blur of (n, c, h, w) float32, edge padding."""
    r = BLUR_RADIUS
    _, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (r, r), (0, 0)), mode="edge")
    vertical = _KERNEL[0] * padded[:, :, 0:h, :]
    for i in range(1, 2 * r + 1):
        vertical += _KERNEL[i] * padded[:, :, i : i + h, :]
    padded = np.pad(vertical, ((0, 0), (0, 0), (0, 0), (r, r)), mode="edge")
    out = _KERNEL[0] * padded[:, :, :, 0:w]
    for i in range(1, 2 * r + 1):
        out += _KERNEL[i] * padded[:, :, :, i : i + w]
    return out


def feature_groups(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unstandardised feature groups (pixels, blurred pixels) of uint8 (n, c, h, w), each (n, c*h*w) float32."""
    x = images.astype(np.float32) * np.float32(1.0 / 255.0)
    n = x.shape[0]
    return x.reshape(n, -1), _blur(x).reshape(n, -1)


def features(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Standardised features (n, 2*c*h*w) float32."""
    groups = feature_groups(images)
    return np.concatenate([(g - mean[i]) / std[i] for i, g in enumerate(groups)], axis=1)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Weights:
    """The stand-in's parameters (mutable: the trainer updates them in place)."""

    fc_weight: np.ndarray  # (num_classes, 2*c*h*w) float32
    fc_bias: np.ndarray  # (num_classes,) float32
    feature_mean: np.ndarray  # (2,) float32
    feature_std: np.ndarray  # (2,) float32

    @classmethod
    def zeros(cls, num_classes: int, image_shape: tuple[int, int, int], mean, std) -> Weights:
        c, h, w = image_shape
        return cls(
            fc_weight=np.zeros((num_classes, 2 * c * h * w), np.float32),
            fc_bias=np.zeros(num_classes, np.float32),
            feature_mean=np.asarray(mean, np.float32),
            feature_std=np.asarray(std, np.float32),
        )

    def copy(self) -> Weights:
        return Weights(*(a.copy() for a in (self.fc_weight, self.fc_bias, self.feature_mean, self.feature_std)))

    def trainable(self) -> dict[str, np.ndarray]:
        return {"fc_weight": self.fc_weight, "fc_bias": self.fc_bias}

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "arg:fc_weight": self.fc_weight,
            "arg:fc_bias": self.fc_bias,
            "aux:feature_mean": self.feature_mean,
            "aux:feature_std": self.feature_std,
        }

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], num_classes: int, image_shape: tuple[int, int, int]
    ) -> Weights:
        """Validate names, dtypes and shapes; ValueError if the arrays do not fit the declared model."""
        c, h, w = image_shape
        expected = {
            "arg:fc_weight": (num_classes, 2 * c * h * w),
            "arg:fc_bias": (num_classes,),
            "aux:feature_mean": (2,),
            "aux:feature_std": (2,),
        }
        missing = sorted(set(expected) - set(arrays))
        if missing:
            raise ValueError(f"missing parameter(s) {', '.join(missing)}")
        out = {}
        for name, shape in expected.items():
            array = np.asarray(arrays[name])
            if array.shape != shape or array.dtype.kind != "f":
                raise ValueError(
                    f"parameter {name} has shape {list(array.shape)} {array.dtype}, expected {list(shape)}"
                )
            array = array.astype(np.float32)
            if not np.all(np.isfinite(array)):
                raise ValueError(f"parameter {name} contains NaN or infinity")
            out[name] = array
        if np.any(out["aux:feature_std"] <= 0):
            raise ValueError("aux:feature_std must be positive")
        return cls(out["arg:fc_weight"], out["arg:fc_bias"], out["aux:feature_mean"], out["aux:feature_std"])

    def logits(self, images: np.ndarray) -> np.ndarray:
        return features(images, self.feature_mean, self.feature_std) @ self.fc_weight.T + self.fc_bias

    def probabilities(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        parts = [softmax(self.logits(images[i : i + batch])) for i in range(0, len(images), batch)]
        return np.concatenate(parts) if parts else np.zeros((0, self.fc_bias.shape[0]), np.float32)


# --------------------------------------------------------------------------------------------- the artifact


def symbol_document(
    num_classes: int, image_shape: tuple[int, int, int], num_layers: int, training: Mapping[str, Any]
) -> dict:
    c, h, w = image_shape
    d = c * h * w
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "stand_in": True,
        "notice": STAND_IN_NOTICE,
        "num_classes": num_classes,
        "image_shape": ",".join(map(str, image_shape)),
        "num_layers": num_layers,
        "num_layers_note": "recorded for incremental-training compatibility only; the stand-in has no ResNet layers",
        "architecture": {
            "type": "softmax_regression",
            "input": {"name": "data", "shape": [c, h, w], "dtype": "uint8", "scale": "1/255"},
            "features": [
                {"name": "pixels", "size": d},
                {"name": "gaussian_blur", "sigma": BLUR_SIGMA, "radius": BLUR_RADIUS, "padding": "edge", "size": d},
            ],
            "standardisation": "feature group g: (x - aux:feature_mean[g]) / aux:feature_std[g]",
            "output": {"name": "softmax", "num_classes": num_classes},
            "params": {
                "arg:fc_weight": [num_classes, 2 * d],
                "arg:fc_bias": [num_classes],
                "aux:feature_mean": [2],
                "aux:feature_std": [2],
            },
        },
        "training": dict(training),
    }


def package_model(
    *,
    num_classes: int,
    image_shape: tuple[int, int, int],
    num_layers: int,
    mini_batch_size: int,
    hyperparameters: Mapping[str, str],
    params: Mapping[int, Weights],
    training: Mapping[str, Any],
) -> bytes:
    """Build the deterministic model.tar.gz holding one ``.params`` file per epoch in ``params``."""
    if not params:
        raise ValueError("no parameters to package")
    files = {
        SYMBOL_FILE: json_bytes(symbol_document(num_classes, image_shape, num_layers, training)),
        SHAPES_FILE: json_bytes([{"shape": [mini_batch_size, *image_shape], "name": "data"}]),
        HYPERPARAMS_FILE: json_bytes(dict(sorted(hyperparameters.items()))),
    }
    for epoch, weights in sorted(params.items()):
        files[params_name(epoch)] = npz_bytes(weights.to_arrays())
    return tar_gz_bytes(files)


class StandInModel:
    """A loaded stand-in model: what an endpoint of the image-classification image would serve."""

    def __init__(
        self,
        weights: Weights,
        *,
        num_classes: int,
        image_shape: tuple[int, int, int],
        num_layers: int,
        hyperparameters: dict[str, str],
        epoch: int,
        metadata: dict,
    ) -> None:
        self.weights = weights
        self.num_classes = num_classes
        self.image_shape = image_shape
        self.num_layers = num_layers
        self.hyperparameters = hyperparameters
        self.epoch = epoch
        self.metadata = metadata

    def __repr__(self) -> str:
        return (
            f"StandInModel(num_classes={self.num_classes}, image_shape={self.image_shape}, "
            f"num_layers={self.num_layers}, epoch={self.epoch})"
        )

    def prepare(self, body: bytes) -> np.ndarray:
        """Decode a PNG/JPEG body and resize it to image_shape (aspect ratio not kept), as uint8 (c, h, w)."""
        c, h, w = self.image_shape
        try:
            arr = decode(body, c)
        except UndecodableImage as exc:
            raise InvalidModelInput(f"Unable to decode the request body as an image: {exc}") from None
        return resize_exact(arr, h, w)

    def predict(self, body: bytes) -> list[float]:
        """Probabilities for every class (a JSON-able list summing to ~1) for one encoded image."""
        probs = self.weights.probabilities(self.prepare(body)[None])[0]
        return [float(p) for p in probs]

    def predict_images(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (n, num_classes) for uint8 images already shaped (n, c, h, w)."""
        return self.weights.probabilities(images)


def _fail(why: str) -> ModelLoadError:
    return ModelLoadError(
        f"ClientError: The model artifact is not a model.tar.gz produced by the image-classification algorithm "
        f"(aws_emulator stand-in): {why}"
    )


def load_model(model_tar_gz: bytes) -> StandInModel:
    """Load a model.tar.gz written by :func:`package_model`; ModelLoadError (an AlgorithmError) otherwise.

    When the archive holds several ``.params`` files (``checkpoint_frequency``), the highest epoch is served.
    """
    try:
        files = read_tar_gz(model_tar_gz)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if SYMBOL_FILE not in files:
        raise _fail(f"{SYMBOL_FILE} is missing")
    try:
        symbol = json.loads(files[SYMBOL_FILE])
    except ValueError:
        raise _fail(f"{SYMBOL_FILE} is not JSON") from None
    if not isinstance(symbol, dict) or symbol.get("format") != FORMAT:
        raise _fail(f"{SYMBOL_FILE} does not describe this stand-in (an MXNet model from real SageMaker?)")
    if symbol.get("format_version") != FORMAT_VERSION:
        raise _fail(f"unsupported format_version {symbol.get('format_version')!r}")
    try:
        num_classes = int(symbol["num_classes"])
        num_layers = int(symbol["num_layers"])
        c, h, w = (int(v) for v in str(symbol["image_shape"]).split(","))
        image_shape = (c, h, w)
        if num_classes < 1 or c not in (1, 3) or h < 1 or w < 1:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise _fail(f"{SYMBOL_FILE} has no valid num_classes / image_shape / num_layers") from None
    hyperparameters: dict[str, str] = {}
    if HYPERPARAMS_FILE in files:
        try:
            loaded = json.loads(files[HYPERPARAMS_FILE])
        except ValueError:
            raise _fail(f"{HYPERPARAMS_FILE} is not JSON") from None
        if not isinstance(loaded, dict):
            raise _fail(f"{HYPERPARAMS_FILE} is not a JSON object")
        hyperparameters = {str(k): str(v) for k, v in loaded.items()}
    epochs = sorted(int(m.group(1)) for name in files if (m := PARAMS_RE.match(name)))
    if not epochs:
        raise _fail("no image-classification-NNNN.params file")
    epoch = epochs[-1]
    try:
        weights = Weights.from_arrays(load_npz(files[params_name(epoch)]), num_classes, image_shape)
    except ValueError as exc:
        raise _fail(f"{params_name(epoch)}: {exc}") from None
    return StandInModel(
        weights,
        num_classes=num_classes,
        image_shape=image_shape,
        num_layers=num_layers,
        hyperparameters=hyperparameters,
        epoch=epoch,
        metadata=symbol,
    )
