"""The algorithm's input contract: hyperparameters, channels and the .lst format.

Sources: the SageMaker Developer Guide pages IC-Hyperparameter.md and image-classification.md. Every check here
fails the job with an :class:`~.errors.AlgorithmError` whose text names the hyperparameter, channel, file, line
or field at fault.

Choices made where the documentation is silent:

* Unknown hyperparameters are **accepted and ignored** (and listed in the log). The real algorithm started a job
  with the undocumented ``use_lr_scheduler`` in aws/sagemaker-python-sdk#310, so rejecting them would be stricter
  than SageMaker.
* Integer hyperparameters must be plain decimal integers (``"10"``, not ``"10.0"``); the SDK sends ``str(int)``.
* ``.lst`` labels may be written as integers (``5``) or as integral floats (``5.000000``, what MXNet's im2rec
  writes); ``5.5`` or ``five`` are rejected. Indices must be integers and unique within a channel.
* Blank lines in a .lst file are skipped; CRLF line endings are accepted.
"""

from __future__ import annotations

import itertools
import math
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import AlgorithmError, client_error, stand_in_limitation

__all__ = [
    "ALL_CHANNELS",
    "DEFAULTS",
    "IMAGE_CHANNELS",
    "KNOWN_HYPERPARAMETERS",
    "LST_CHANNELS",
    "MODEL_CHANNEL",
    "NUM_LAYERS_LARGE_IMAGES",
    "NUM_LAYERS_SMALL_IMAGES",
    "REQUIRED_HYPERPARAMETERS",
    "JobConfig",
    "LstEntry",
    "check_channels",
    "format_image_shape",
    "parse_hyperparameters",
    "parse_lst_channel",
]

REQUIRED_HYPERPARAMETERS = ("num_classes", "num_training_samples")
NUM_LAYERS_LARGE_IMAGES = (18, 34, 50, 101, 152, 200)
NUM_LAYERS_SMALL_IMAGES = (20, 32, 44, 56, 110)
OPTIMIZERS = ("sgd", "adam", "rmsprop", "nag")
AUGMENTATION_TYPES = ("crop", "crop_color", "crop_color_transform")

IMAGE_CHANNELS = ("train", "validation")
LST_CHANNELS = {"train": "train_lst", "validation": "validation_lst"}
MODEL_CHANNEL = "model"
ALL_CHANNELS = ("train", "validation", "train_lst", "validation_lst", MODEL_CHANNEL)

# Documented defaults, as the strings a job would carry. None = "no default" (feature off).
DEFAULTS: dict[str, str | None] = {
    "augmentation_type": None,
    "beta_1": "0.9",
    "beta_2": "0.999",
    "checkpoint_frequency": None,
    "early_stopping": "False",
    "early_stopping_min_epochs": "10",
    "early_stopping_patience": "5",
    "early_stopping_tolerance": "0.0",
    "epochs": "30",
    "eps": "1e-8",
    "gamma": "0.9",
    "image_shape": "3,224,224",
    "kv_store": None,
    "learning_rate": "0.1",
    "lr_scheduler_factor": "0.1",
    "lr_scheduler_step": None,
    "mini_batch_size": "32",
    "momentum": "0.9",
    "multi_label": "0",
    "num_layers": "152",
    "optimizer": "sgd",
    "precision_dtype": "float32",
    "resize": None,
    "top_k": None,
    "use_pretrained_model": "0",
    "use_weighted_loss": "0",
    "weight_decay": "0.0001",
}
KNOWN_HYPERPARAMETERS = frozenset(DEFAULTS) | frozenset(REQUIRED_HYPERPARAMETERS)

_INT_RE = re.compile(r"^[+]?[0-9]+$")


# --------------------------------------------------------------------------------------------- hyperparameters


@dataclass(frozen=True)
class JobConfig:
    """Validated hyperparameters of one training job."""

    num_classes: int
    num_training_samples: int
    image_shape: tuple[int, int, int]
    epochs: int
    learning_rate: float
    mini_batch_size: int
    momentum: float
    optimizer: str
    weight_decay: float
    beta_1: float
    beta_2: float
    eps: float
    gamma: float
    num_layers: int
    top_k: int | None
    precision_dtype: str
    augmentation_type: str | None
    checkpoint_frequency: int | None
    early_stopping: bool
    early_stopping_min_epochs: int
    early_stopping_patience: int
    early_stopping_tolerance: float
    lr_scheduler_factor: float
    lr_scheduler_step: tuple[int, ...]
    multi_label: int
    resize: int | None
    use_pretrained_model: int
    use_weighted_loss: int
    kv_store: str | None
    supplied: dict[str, str] = field(default_factory=dict)  # the job's HyperParameters, verbatim
    ignored: tuple[str, ...] = ()  # supplied names the algorithm does not know (accepted, unused)

    @property
    def channels(self) -> int:
        return self.image_shape[0]

    @property
    def height(self) -> int:
        return self.image_shape[1]

    @property
    def width(self) -> int:
        return self.image_shape[2]

    def effective(self) -> dict[str, str]:
        """Defaults overlaid with the supplied values (the algorithm's "final configuration")."""
        merged = {k: v for k, v in DEFAULTS.items() if v is not None}
        merged.update(self.supplied)
        return dict(sorted(merged.items()))


def format_image_shape(shape: tuple[int, int, int]) -> str:
    return ",".join(str(v) for v in shape)


def _invalid(name: str, value: str, expects: str) -> AlgorithmError:
    return client_error(f"The value '{value}' is not valid for the '{name}' hyperparameter which expects {expects}.")


def _int(name: str, value: str, *, minimum: int = 1, expects: str = "a positive integer") -> int:
    text = value.strip()
    if not _INT_RE.match(text) or int(text) < minimum:
        raise _invalid(name, value, expects)
    return int(text)


def _float(name: str, value: str, lo: float, hi: float) -> float:
    expects = f"a float in [{lo:g}, {hi:g}]"
    try:
        number = float(value.strip())
    except ValueError:
        raise _invalid(name, value, expects) from None
    if not math.isfinite(number) or not lo <= number <= hi:
        raise _invalid(name, value, expects)
    return number


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    text = value.strip()
    if text not in choices:
        raise _invalid(name, value, "one of " + ", ".join(f"'{c}'" for c in choices))
    return text


def _zero_one(name: str, value: str) -> int:
    return int(_choice(name, value, ("0", "1")))


def _bool(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text not in ("true", "false"):
        raise _invalid(name, value, "'True' or 'False'")
    return text == "true"


def _image_shape(value: str) -> tuple[int, int, int]:
    expects = "a string 'num_channels,height,width' with num_channels 1 or 3 and positive height and width"
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3 or not all(_INT_RE.match(p) for p in parts):
        raise _invalid("image_shape", value, expects)
    c, h, w = (int(p) for p in parts)
    if c not in (1, 3) or h < 1 or w < 1:
        raise _invalid("image_shape", value, expects)
    return c, h, w


def _lr_steps(value: str) -> tuple[int, ...]:
    expects = "a comma-separated list of increasing positive epoch numbers, e.g. '10, 20'"
    parts = [p.strip() for p in value.split(",")]
    if not parts or not all(_INT_RE.match(p) and int(p) > 0 for p in parts):
        raise _invalid("lr_scheduler_step", value, expects)
    steps = tuple(int(p) for p in parts)
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise _invalid("lr_scheduler_step", value, expects)
    return steps


def parse_hyperparameters(hyperparameters: Mapping[str, str]) -> JobConfig:
    """Validate a job's HyperParameters (all strings) against the documented names, ranges and defaults."""
    supplied = {str(k): str(v) for k, v in hyperparameters.items()}
    for name in REQUIRED_HYPERPARAMETERS:
        if name not in supplied:
            raise client_error(
                f"Missing required hyperparameter '{name}'. "
                f"Required hyperparameters: {', '.join(REQUIRED_HYPERPARAMETERS)}."
            )

    def get(name: str) -> str | None:
        return supplied.get(name, DEFAULTS.get(name))

    def opt(name: str, parse):
        raw = get(name)
        return None if raw is None else parse(name, raw)

    epochs = _int("epochs", get("epochs"))
    num_layers_choices = NUM_LAYERS_LARGE_IMAGES + NUM_LAYERS_SMALL_IMAGES
    num_layers_raw = get("num_layers")
    if not _INT_RE.match(num_layers_raw.strip()) or int(num_layers_raw) not in num_layers_choices:
        raise _invalid("num_layers", num_layers_raw, "one of " + ", ".join(map(str, num_layers_choices)))
    num_layers = int(num_layers_raw)

    checkpoint_frequency = opt("checkpoint_frequency", _int)
    if checkpoint_frequency is not None and checkpoint_frequency > epochs:
        raise _invalid(
            "checkpoint_frequency",
            supplied["checkpoint_frequency"],
            f"a positive integer no greater than epochs ({epochs})",
        )
    top_k = opt("top_k", lambda n, v: _int(n, v, minimum=2, expects="an integer greater than 1"))
    image_shape = _image_shape(get("image_shape"))
    resize = opt("resize", _int)
    if resize is not None and resize < max(image_shape[1], image_shape[2]):
        raise _invalid(
            "resize",
            supplied["resize"],
            f"a positive integer no smaller than image_shape's height and width ({image_shape[1]}, {image_shape[2]})",
        )

    config = JobConfig(
        num_classes=_int("num_classes", supplied["num_classes"]),
        num_training_samples=_int("num_training_samples", supplied["num_training_samples"]),
        image_shape=image_shape,
        epochs=epochs,
        learning_rate=_float("learning_rate", get("learning_rate"), 0.0, 1.0),
        mini_batch_size=_int("mini_batch_size", get("mini_batch_size")),
        momentum=_float("momentum", get("momentum"), 0.0, 1.0),
        optimizer=_choice("optimizer", get("optimizer"), OPTIMIZERS),
        weight_decay=_float("weight_decay", get("weight_decay"), 0.0, 1.0),
        beta_1=_float("beta_1", get("beta_1"), 0.0, 1.0),
        beta_2=_float("beta_2", get("beta_2"), 0.0, 1.0),
        eps=_float("eps", get("eps"), 0.0, 1.0),
        gamma=_float("gamma", get("gamma"), 0.0, 1.0),
        num_layers=num_layers,
        top_k=top_k,
        precision_dtype=_choice("precision_dtype", get("precision_dtype"), ("float32", "float16")),
        augmentation_type=opt("augmentation_type", lambda n, v: _choice(n, v, AUGMENTATION_TYPES)),
        checkpoint_frequency=checkpoint_frequency,
        early_stopping=_bool("early_stopping", get("early_stopping")),
        early_stopping_min_epochs=_int("early_stopping_min_epochs", get("early_stopping_min_epochs")),
        early_stopping_patience=_int("early_stopping_patience", get("early_stopping_patience")),
        early_stopping_tolerance=_float("early_stopping_tolerance", get("early_stopping_tolerance"), 0.0, 1.0),
        lr_scheduler_factor=_float("lr_scheduler_factor", get("lr_scheduler_factor"), 0.0, 1.0),
        lr_scheduler_step=opt("lr_scheduler_step", lambda n, v: _lr_steps(v)) or (),
        multi_label=_zero_one("multi_label", get("multi_label")),
        resize=resize,
        use_pretrained_model=_zero_one("use_pretrained_model", get("use_pretrained_model")),
        use_weighted_loss=_zero_one("use_weighted_loss", get("use_weighted_loss")),
        kv_store=opt("kv_store", lambda n, v: _choice(n, v, ("dist_sync", "dist_async"))),
        supplied=dict(sorted(supplied.items())),
        ignored=tuple(sorted(set(supplied) - KNOWN_HYPERPARAMETERS)),
    )
    if config.multi_label:
        raise stand_in_limitation("multi_label=1 (multi-label .lst files or augmented manifests) is not supported")
    if config.use_pretrained_model and config.num_layers not in NUM_LAYERS_LARGE_IMAGES:
        raise _invalid(
            "num_layers",
            str(config.num_layers),
            "one of " + ", ".join(map(str, NUM_LAYERS_LARGE_IMAGES)) + " when use_pretrained_model=1",
        )
    return config


# --------------------------------------------------------------------------------------------- channels


def normalise_path(path: str) -> str | None:
    """A channel-relative path in canonical form, or None if it escapes the channel root."""
    text = path.replace("\\", "/").lstrip("/")
    norm = posixpath.normpath(text) if text else ""
    if norm in ("", ".") or norm == ".." or norm.startswith("../"):
        return None
    return norm


def check_channels(channels: Mapping[str, Mapping[str, bytes]]) -> None:
    """Unknown or missing channels fail the job before any data is read."""
    unknown = sorted(set(channels) - set(ALL_CHANNELS))
    if unknown:
        raise client_error(
            f"Unknown channel name(s): {', '.join(repr(c) for c in unknown)}. "
            f"The image-classification algorithm accepts channels {', '.join(ALL_CHANNELS)}."
        )
    for image_channel in IMAGE_CHANNELS:
        files = channels.get(image_channel)
        if files is None:
            raise client_error(
                f"Missing required channel '{image_channel}'. Image-format training needs the channels "
                "train, validation, train_lst and validation_lst."
            )
        lst_channel = LST_CHANNELS[image_channel]
        if lst_channel not in channels:
            if any(p.lower().endswith(".rec") for p in files):
                raise stand_in_limitation(
                    f"RecordIO (.rec) input in the '{image_channel}' channel is not supported; "
                    f"use image files with a .lst file in the '{lst_channel}' channel"
                )
            raise client_error(
                f"Missing required channel '{lst_channel}'. Image-format training needs the channels "
                "train, validation, train_lst and validation_lst."
            )
        if not files:
            raise client_error(f"The '{image_channel}' channel is empty.")


@dataclass(frozen=True)
class LstEntry:
    index: int
    label: int
    path: str  # normalised, relative to the image channel's root
    source: str  # "<lst file> line <n>", for error messages


def _parse_label(text: str) -> int | None:
    stripped = text.strip()
    if _INT_RE.match(stripped) or re.match(r"^-[0-9]+$", stripped):
        return int(stripped)
    try:
        number = float(stripped)
    except ValueError:
        return None
    if math.isfinite(number) and number == int(number):
        return int(number)
    return None


def parse_lst_channel(
    lst_channel: str,
    lst_files: Mapping[str, bytes],
    image_channel: str,
    image_files: Mapping[str, bytes],
    num_classes: int,
) -> list[LstEntry]:
    """Parse every ``.lst`` file of a channel (sorted by path) into entries whose image exists."""
    names = sorted(p for p in lst_files if p.lower().endswith(".lst"))
    if not names:
        raise client_error(f"No .lst file found in the '{lst_channel}' channel.")
    available = {}
    for raw_path in image_files:
        norm = normalise_path(raw_path)
        if norm is not None:
            available[norm] = raw_path
    entries: list[LstEntry] = []
    seen_index: dict[int, str] = {}

    def bad(where: str, why: str) -> AlgorithmError:
        return client_error(f"Invalid lst file in the '{lst_channel}' channel: {where}: {why}.")

    for name in names:
        try:
            text = lst_files[name].decode("utf-8")
        except UnicodeDecodeError:
            raise bad(name, "not UTF-8 text") from None
        if text.startswith("\ufeff"):
            text = text[1:]
        for lineno, line in enumerate(text.split("\n"), start=1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            where = f"{name} line {lineno}"
            columns = line.split("\t")
            if len(columns) != 3:
                raise bad(
                    where,
                    f"expected 3 tab-separated columns (index, class_label, relative_path), found {len(columns)}",
                )
            index_text, label_text, path_text = columns
            if not _INT_RE.match(index_text.strip()):
                raise bad(where, f"image index '{index_text}' is not an integer")
            index = int(index_text.strip())
            label = _parse_label(label_text)
            if label is None:
                raise bad(where, f"class label '{label_text}' is not an integer")
            if not 0 <= label < num_classes:
                raise bad(where, f"class label {label} is outside [0, num_classes) = [0, {num_classes})")
            if index in seen_index:
                raise bad(where, f"duplicate image index {index} (first used at {seen_index[index]})")
            seen_index[index] = where
            path = normalise_path(path_text.strip())
            if path is None or path not in available:
                raise client_error(
                    f"{lst_channel}/{where}: image '{path_text.strip()}' was not found "
                    f"in the '{image_channel}' channel."
                )
            entries.append(LstEntry(index=index, label=label, path=available[path], source=f"{lst_channel}/{where}"))
    if not entries:
        raise client_error(f"Unable to start training. Empty .lst file(s) in the '{lst_channel}' channel.")
    return entries
