"""The training job: validate the contract, load the data, run the epoch loop, checkpoint, package the model.

Behaviour that mirrors the real algorithm (as the SageMaker Developer Guide and its CloudWatch logs show it):

* Log lines like its CloudWatch output: ``[MM/DD/YYYY HH:MM:SS INFO <thread>] Epoch[0] Train-accuracy=0.812500``,
  ``Epoch[0] Time cost=...``, ``Epoch[0] Validation-accuracy=...``, ``Storing the best model with validation
  accuracy: ...``, ``Saved checkpoint to "/opt/ml/model/image-classification-0001.params"`` (epochs are 0-based in
  log lines and 1-based in file names, as in the real logs).
* Without ``checkpoint_frequency`` the model.tar.gz holds the parameters of the epoch with the best validation
  accuracy (named after that epoch); with it, those of every ``checkpoint_frequency``-th epoch.
* ``Train-accuracy`` is MXNet's running accuracy over the epoch's mini-batches (measured before each update);
  ``Validation-accuracy`` is measured on the whole validation set after the epoch.
* Fewer training images than ``mini_batch_size`` fails with the real algorithm's message.
* Incremental training (``model`` channel) starts from the base model's weights; ``num_classes``, ``image_shape``
  and ``num_layers`` must match. The optimizer state starts fresh.
* Spot checkpoints: after every epoch three files are handed to ``on_epoch`` for ``CheckpointConfig.S3Uri``:
  ``image-classification-NNNN.params`` (weights, .npz), ``image-classification-NNNN.states`` (optimizer state,
  .npz) and ``image-classification-NNNN.json`` (epoch, hyperparameters, metric history, best epoch, seed). A later
  call with those files resumes after the latest usable checkpoint and, because the shuffling of epoch ``e`` is
  seeded by ``(seed, e)``, produces exactly the model an uninterrupted run would have produced.

Where it differs: the model is the numpy softmax regression of :mod:`.model`; training runs on the CPU in one
process (instance count, GPUs, ``kv_store`` and ``precision_dtype`` are recorded, not emulated); there are no
pretrained weights (``use_pretrained_model=1`` trains from scratch, with a log line saying so).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

try:  # optional (it comes with scikit-learn): keeps OpenBLAS from spinning threads on tiny matrices
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - the loop is correct without it, only slower on a busy CPU
    threadpool_limits = None

from .contract import (
    LST_CHANNELS,
    MODEL_CHANNEL,
    JobConfig,
    LstEntry,
    check_channels,
    format_image_shape,
    parse_hyperparameters,
    parse_lst_channel,
)
from .errors import AlgorithmError, ModelLoadError, client_error
from .images import UndecodableImage, augment_crop, centre_crop, decode, resize_shorter_side
from .model import (
    FORMAT,
    STAND_IN_NOTICE,
    StandInModel,
    Weights,
    feature_groups,
    features,
    load_model,
    package_model,
    params_name,
    softmax,
)
from .optimizers import Optimizer, learning_rate_at
from .serialization import json_bytes, load_npz, npz_bytes

__all__ = ["EpochReport", "TrainResult", "train"]

CHECKPOINT_FORMAT = FORMAT + "/checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
_CHECKPOINT_JSON_RE = re.compile(r"^image-classification-(\d{4,})\.json$")
_THREAD_ID = 140245371803456  # the real logs show the Python thread id; any stable number will do
_LOCAL_MODEL_DIR = "/opt/ml/model"
_LOCAL_CHECKPOINT_DIR = "/opt/ml/checkpoints"


@dataclass(frozen=True)
class EpochReport:
    """One finished epoch. ``checkpoint_files`` go under CheckpointConfig.S3Uri (names relative to it)."""

    epoch: int  # 1-based
    train_accuracy: float
    validation_accuracy: float
    checkpoint_files: dict[str, bytes] = field(repr=False)


@dataclass(frozen=True)
class TrainResult:
    model_tar_gz: bytes = field(repr=False)
    final_metrics: dict[str, float]  # 'train:accuracy', 'validation:accuracy' of the last epoch
    first_epoch: int  # first epoch run by this call (1 unless resumed; epochs+1 if nothing was left to run)
    epochs: int  # last completed epoch (< the 'epochs' hyperparameter only after early stopping)
    resumed_from_checkpoint: bool
    warm_started: bool
    num_training_samples_seen: int  # training images processed by this call's epochs (images x epochs run)
    num_training_images: int = 0  # images listed in the train_lst channel
    num_validation_images: int = 0
    best_epoch: int = 0
    stopped_early: bool = False
    model_params_epochs: tuple[int, ...] = ()  # epochs whose .params files are inside model.tar.gz


class _Log:
    def __init__(self, sink: Callable[[str], None], clock: Callable[[], datetime]):
        self.sink = sink
        self.clock = clock

    def __call__(self, message: str, level: str = "INFO") -> None:
        stamp = self.clock().strftime("%m/%d/%Y %H:%M:%S")
        for line in message.split("\n"):
            self.sink(f"[{stamp} {level} {_THREAD_ID}] {line}")

    def warning(self, message: str) -> None:
        self(message, "WARNING")


@dataclass
class _Dataset:
    labels: np.ndarray  # (n,) int64
    images: np.ndarray | None  # (n, c, h, w) uint8 when no augmentation is needed
    full: list[np.ndarray] | None  # uncropped (c, H, W) arrays, for augmentation_type

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: np.ndarray, config: JobConfig, rng: np.random.Generator) -> np.ndarray:
        if self.full is None:
            return self.images[idx]
        color = config.augmentation_type != "crop"
        return np.stack([augment_crop(self.full[i], config.height, config.width, rng, color) for i in idx])

    def centred(self, config: JobConfig) -> np.ndarray:
        if self.images is not None:
            return self.images
        return np.stack([centre_crop(a, config.height, config.width) for a in self.full])


@dataclass
class _Progress:
    """Everything a checkpoint must carry besides weights and optimizer state."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_validation_accuracy: float = -1.0
    best_weights: Weights | None = None
    snapshots: dict[int, Weights] = field(default_factory=dict)  # checkpoint_frequency epochs
    es_best: float = -1.0
    es_since: int = 0
    stopped_early: bool = False


# --------------------------------------------------------------------------------------------- data loading


def _load_images(
    channel: str, entries: list[LstEntry], files: Mapping[str, bytes], config: JobConfig, keep_full: bool
) -> _Dataset:
    c, h, w = config.image_shape
    cache: dict[str, np.ndarray] = {}
    arrays: list[np.ndarray] = []
    for entry in entries:
        arr = cache.get(entry.path)
        if arr is None:
            try:
                arr = decode(files[entry.path], c)
            except UndecodableImage as exc:
                raise client_error(
                    f"Unable to decode image '{entry.path}' in the '{channel}' channel "
                    f"(listed at {entry.source}): {exc}."
                ) from None
            if config.resize is not None:
                arr = resize_shorter_side(arr, config.resize)
            if arr.shape[1] < h or arr.shape[2] < w:
                raise client_error(
                    f"Image '{entry.path}' in the '{channel}' channel (listed at {entry.source}) is "
                    f"{arr.shape[2]}x{arr.shape[1]} (width x height), smaller than image_shape "
                    f"{format_image_shape(config.image_shape)} (height {h}, width {w}). Images must be at least "
                    "as large as image_shape; larger ones are cropped."
                )
            cache[entry.path] = arr
        arrays.append(arr)
    labels = np.array([e.label for e in entries], dtype=np.int64)
    if keep_full:
        return _Dataset(labels=labels, images=None, full=arrays)
    return _Dataset(labels=labels, images=np.stack([centre_crop(a, h, w) for a in arrays]), full=None)


def _feature_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sums = np.zeros(2)
    squares = np.zeros(2)
    count = 0
    for start in range(0, len(images), 256):
        groups = feature_groups(images[start : start + 256])
        for g, values in enumerate(groups):
            sums[g] += values.sum(dtype=np.float64)
            squares[g] += np.square(values, dtype=np.float64).sum()
        count += groups[0].size
    mean = sums / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def _base_model(channels: Mapping[str, Mapping[str, bytes]], config: JobConfig, log: _Log) -> StandInModel | None:
    if MODEL_CHANNEL not in channels:
        return None
    archives = sorted(p for p in channels[MODEL_CHANNEL] if p.lower().endswith(".tar.gz"))
    if len(archives) != 1:
        found = ", ".join(archives) if archives else "none"
        raise client_error(
            f"The '{MODEL_CHANNEL}' channel must contain exactly one model.tar.gz from an earlier image-classification "
            f"training job for incremental training; found {len(archives)} .tar.gz file(s) ({found})."
        )
    log(f"Loading the base model /opt/ml/input/data/{MODEL_CHANNEL}/{archives[0]} for incremental training.")
    try:
        base = load_model(channels[MODEL_CHANNEL][archives[0]])
    except ModelLoadError as exc:
        raise client_error(
            f"Unable to use '{archives[0]}' in the '{MODEL_CHANNEL}' channel for incremental training: "
            + str(exc).removeprefix("ClientError: ")
        ) from None
    mismatches = []
    if base.num_classes != config.num_classes:
        mismatches.append(f"num_classes: base model {base.num_classes}, this job {config.num_classes}")
    if base.image_shape != config.image_shape:
        mismatches.append(
            f"image_shape: base model {format_image_shape(base.image_shape)}, "
            f"this job {format_image_shape(config.image_shape)}"
        )
    if base.num_layers != config.num_layers:
        mismatches.append(f"num_layers: base model {base.num_layers}, this job {config.num_layers}")
    if mismatches:
        raise client_error(
            "The base model in the 'model' channel is incompatible with this job; incremental training requires "
            "identical num_classes, image_shape and num_layers: " + "; ".join(mismatches) + "."
        )
    return base


# --------------------------------------------------------------------------------------------- checkpoints


def _checkpoint_files(
    epoch: int, config: JobConfig, weights: Weights, optimizer: Optimizer, progress: _Progress, seed: int, warm: bool
) -> dict[str, bytes]:
    meta = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "stand_in": True,
        "notice": STAND_IN_NOTICE,
        "epoch": epoch,
        "num_classes": config.num_classes,
        "image_shape": format_image_shape(config.image_shape),
        "num_layers": config.num_layers,
        "optimizer": config.optimizer,
        "num_update": optimizer.num_update,
        "seed": seed,
        "warm_started": warm,
        "hyperparameters": config.supplied,
        "history": progress.history,
        "best_epoch": progress.best_epoch,
        "best_validation_accuracy": progress.best_validation_accuracy,
        "snapshot_epochs": sorted(progress.snapshots),
        "early_stopping": {"best": progress.es_best, "epochs_without_improvement": progress.es_since},
        "stopped_early": progress.stopped_early,
        "params_file": params_name(epoch),
        "states_file": f"image-classification-{epoch:04d}.states",
    }
    return {
        params_name(epoch): npz_bytes(weights.to_arrays()),
        meta["states_file"]: npz_bytes(optimizer.state),
        f"image-classification-{epoch:04d}.json": json_bytes(meta),
    }


def _restore(
    checkpoints: Mapping[str, bytes], epoch: int, by_name: Mapping[str, str], config: JobConfig
) -> tuple[dict, Weights, Optimizer, _Progress]:
    """Load checkpoint ``epoch``; ValueError says why it is unusable."""

    def read(name: str) -> bytes:
        if name not in by_name:
            raise ValueError(f"{name} is missing")
        return checkpoints[by_name[name]]

    def weights_of(name: str) -> Weights:
        return Weights.from_arrays(load_npz(read(name)), config.num_classes, config.image_shape)

    meta = json.loads(read(f"image-classification-{epoch:04d}.json"))
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError("not a checkpoint of this stand-in")
    if meta.get("format_version") != CHECKPOINT_FORMAT_VERSION or meta.get("epoch") != epoch:
        raise ValueError("unsupported checkpoint version or epoch mismatch")
    if not isinstance(meta.get("seed"), int):
        raise ValueError("no seed recorded")
    for key, ours in (
        ("num_classes", config.num_classes),
        ("image_shape", format_image_shape(config.image_shape)),
        ("num_layers", config.num_layers),
        ("optimizer", config.optimizer),
    ):
        if meta.get(key) != ours:
            raise ValueError(f"{key}: checkpoint {meta.get(key)!r}, this job {ours!r}")
    weights = weights_of(params_name(epoch))
    optimizer = Optimizer(config, weights.trainable(), load_npz(read(meta["states_file"])))
    best_epoch = int(meta["best_epoch"])
    progress = _Progress(
        history=list(meta["history"]),
        best_epoch=best_epoch,
        best_validation_accuracy=float(meta["best_validation_accuracy"]),
        best_weights=weights if best_epoch == epoch else weights_of(params_name(best_epoch)),
        es_best=float(meta["early_stopping"]["best"]),
        es_since=int(meta["early_stopping"]["epochs_without_improvement"]),
        stopped_early=bool(meta["stopped_early"]),
    )
    if len(progress.history) != epoch or not (1 <= best_epoch <= epoch):
        raise ValueError("metric history does not match the epoch")
    progress.history = [
        {
            "epoch": int(item["epoch"]),
            "train_accuracy": float(item["train_accuracy"]),
            "validation_accuracy": float(item["validation_accuracy"]),
        }
        for item in progress.history
    ]
    if config.checkpoint_frequency:
        for snap in range(config.checkpoint_frequency, epoch + 1, config.checkpoint_frequency):
            progress.snapshots[snap] = weights if snap == epoch else weights_of(params_name(snap))
    return meta, weights, optimizer, progress


def _latest_checkpoint(checkpoints: Mapping[str, bytes], config: JobConfig, log: _Log):
    by_name: dict[str, str] = {}
    for key in checkpoints:
        by_name.setdefault(key.replace("\\", "/").rsplit("/", 1)[-1], key)
    epochs = sorted((int(m.group(1)) for name in by_name if (m := _CHECKPOINT_JSON_RE.match(name))), reverse=True)
    for epoch in epochs:
        try:
            restored = _restore(checkpoints, epoch, by_name, config)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning(f"Ignoring checkpoint {_LOCAL_CHECKPOINT_DIR}/image-classification-{epoch:04d}.json: {exc}")
            continue
        return epoch, restored
    return None


# --------------------------------------------------------------------------------------------- training


def _evaluate(
    weights: Weights, images: np.ndarray, labels: np.ndarray, top_k: int | None
) -> tuple[float, float | None]:
    probs = weights.probabilities(images)
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    if not top_k:
        return accuracy, None
    return accuracy, _top_k_accuracy(probs, labels, top_k) / len(labels)


def _top_k_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> int:
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return int((top == labels[:, None]).any(axis=1).sum())


def train(
    channels: Mapping[str, Mapping[str, bytes]],
    hyperparameters: Mapping[str, str],
    *,
    checkpoints: Mapping[str, bytes] = {},  # read-only
    on_epoch: Callable[[EpochReport], None] = lambda report: None,
    log: Callable[[str], None] = lambda line: None,
    seed: int = 0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> TrainResult:
    """Run one training job of the stand-in algorithm. Raises AlgorithmError (str = FailureReason) on bad input;
    lets any exception from ``on_epoch`` propagate (the emulator's spot interruption).

    The matrices are tiny (mini_batch x features x classes), so BLAS threads only add contention: on a busy
    2-core machine a multi-threaded OpenBLAS made the book's job 4-7x slower. BLAS is held to one thread for the
    duration of the call when threadpoolctl is importable.
    """
    if threadpool_limits is None:
        return _train(channels, hyperparameters, checkpoints, on_epoch, log, seed, clock)
    with threadpool_limits(limits=1, user_api="blas"):
        return _train(channels, hyperparameters, checkpoints, on_epoch, log, seed, clock)


def _train(
    channels: Mapping[str, Mapping[str, bytes]],
    hyperparameters: Mapping[str, str],
    checkpoints: Mapping[str, bytes],
    on_epoch: Callable[[EpochReport], None],
    log: Callable[[str], None],
    seed: int,
    clock: Callable[[], datetime],
) -> TrainResult:
    out = _Log(log, clock)
    shown = "{" + ", ".join(f"'{k}': '{v}'" for k, v in sorted(hyperparameters.items())) + "}"
    out(f"Reading provided configuration from /opt/ml/input/config/hyperparameters.json: {shown}")
    config = parse_hyperparameters(hyperparameters)
    out(STAND_IN_NOTICE)
    out("Final configuration: " + json.dumps(config.effective(), sort_keys=True))
    if config.ignored:
        out.warning(f"Ignoring unknown hyperparameter(s): {', '.join(config.ignored)}")
    if config.use_pretrained_model:
        out.warning("use_pretrained_model=1: the stand-in has no pretrained weights; training from scratch.")
    if config.precision_dtype == "float16":
        out("precision_dtype=float16 is recorded; the stand-in computes in float32.")
    if config.augmentation_type == "crop_color_transform":
        out("augmentation_type=crop_color_transform: the stand-in applies crop, flip and lightness jitter only.")

    check_channels(channels)
    base = _base_model(channels, config, out)

    datasets = {}
    for channel in ("train", "validation"):
        lst_channel = LST_CHANNELS[channel]
        entries = parse_lst_channel(lst_channel, channels[lst_channel], channel, channels[channel], config.num_classes)
        out(f"Read {len(entries)} entries from the .lst file(s) in /opt/ml/input/data/{lst_channel}.")
        if channel == "train" and len(entries) < config.mini_batch_size:
            raise client_error(
                "The number of input images must be bigger or equal to the mini_batch_size. "
                f"(train: {len(entries)} images, mini_batch_size: {config.mini_batch_size})"
            )
        keep_full = channel == "train" and config.augmentation_type is not None
        datasets[channel] = _load_images(channel, entries, channels[channel], config, keep_full)
    train_set, val_set = datasets["train"], datasets["validation"]
    val_images = val_set.centred(config)
    n = len(train_set)
    if n != config.num_training_samples:
        out.warning(
            f"num_training_samples={config.num_training_samples} but the train channel has {n} images; "
            "lr_scheduler_step timing uses num_training_samples."
        )
    out(
        f"Training on {n} training and {len(val_set)} validation images: num_classes={config.num_classes}, "
        f"image_shape={format_image_shape(config.image_shape)}, num_layers={config.num_layers} (recorded only), "
        f"epochs={config.epochs}, mini_batch_size={config.mini_batch_size}, learning_rate={config.learning_rate:g}, "
        f"optimizer={config.optimizer}, momentum={config.momentum:g}, weight_decay={config.weight_decay:g}."
    )

    resumed = _latest_checkpoint(checkpoints, config, out) if checkpoints else None
    if resumed is not None:
        last_epoch, (meta, weights, optimizer, progress) = resumed
        seed = meta["seed"]  # the interrupted job's shuffling seed, so the resumed run continues it exactly
        warm = base is not None or bool(meta.get("warm_started"))
        out(
            f"Resuming from checkpoint {_LOCAL_CHECKPOINT_DIR}/{params_name(last_epoch)} "
            f"(epoch {last_epoch} of {config.epochs} completed)."
        )
    else:
        last_epoch = 0
        warm = base is not None
        if base is not None:
            weights = base.weights.copy()
            out(f"Initialised from the base model's parameters (its epoch {base.epoch}).")
        else:
            mean, std = _feature_stats(train_set.centred(config))
            weights = Weights.zeros(config.num_classes, config.image_shape, mean, std)
        optimizer = Optimizer(config, weights.trainable())
        progress = _Progress()

    first_epoch = last_epoch + 1
    epochs_run = 0
    bs = config.mini_batch_size
    epoch = last_epoch
    while epoch < config.epochs and not progress.stopped_early:
        epoch += 1
        started = time.perf_counter()
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(n)
        correct = 0
        top_correct = 0
        lr_before = learning_rate_at(config, optimizer.num_update)
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            batch = train_set.batch(idx, config, rng)
            x = features(batch, weights.feature_mean, weights.feature_std)
            probs = softmax(x @ weights.fc_weight.T + weights.fc_bias)
            y = train_set.labels[idx]
            correct += int((probs.argmax(axis=1) == y).sum())
            if config.top_k:
                top_correct += _top_k_accuracy(probs, y, config.top_k)
            grad = probs
            grad[np.arange(len(idx)), y] -= 1.0
            grad /= np.float32(len(idx))
            lr = optimizer.step(weights.trainable(), {"fc_weight": grad.T @ x, "fc_bias": grad.sum(axis=0)})
            if not math.isclose(lr, lr_before):
                out(f"Update[{optimizer.num_update}]: Change learning rate to {lr:.5e}")
                lr_before = lr
        epochs_run += 1
        train_accuracy = correct / n
        val_accuracy, val_top = _evaluate(weights, val_images, val_set.labels, config.top_k)
        e0 = epoch - 1
        out(f"Epoch[{e0}] Train-accuracy={train_accuracy:.6f}")
        if config.top_k:
            out(f"Epoch[{e0}] Train-top_k_accuracy_{config.top_k}={top_correct / n:.6f}")
        out(f"Epoch[{e0}] Time cost={time.perf_counter() - started:.3f}")
        out(f"Epoch[{e0}] Validation-accuracy={val_accuracy:.6f}")
        if val_top is not None:
            out(f"Epoch[{e0}] Validation-top_k_accuracy_{config.top_k}={val_top:.6f}")
        progress.history.append({"epoch": epoch, "train_accuracy": train_accuracy, "validation_accuracy": val_accuracy})
        if config.checkpoint_frequency and epoch % config.checkpoint_frequency == 0:
            progress.snapshots[epoch] = weights.copy()
            out(f'Saved checkpoint to "{_LOCAL_MODEL_DIR}/{params_name(epoch)}"')
        if val_accuracy > progress.best_validation_accuracy:
            progress.best_validation_accuracy = val_accuracy
            progress.best_epoch = epoch
            progress.best_weights = weights.copy()
            if not config.checkpoint_frequency:
                out(f"Storing the best model with validation accuracy: {val_accuracy:.6f}")
                out(f'Saved checkpoint to "{_LOCAL_MODEL_DIR}/{params_name(epoch)}"')
        if config.early_stopping:
            improved = (
                val_accuracy > progress.es_best
                if progress.es_best <= 0
                else (val_accuracy - progress.es_best) / progress.es_best > config.early_stopping_tolerance
            )
            if improved:
                progress.es_best, progress.es_since = val_accuracy, 0
            else:
                progress.es_since += 1
            if epoch >= config.early_stopping_min_epochs and progress.es_since >= config.early_stopping_patience:
                progress.stopped_early = True
                out(
                    f"Early stopping criteria met: no improvement of validation accuracy for "
                    f"{progress.es_since} epoch(s). Stopping after epoch {e0}."
                )
        files = _checkpoint_files(epoch, config, weights, optimizer, progress, seed, warm)
        out(f'Saved checkpoint to "{_LOCAL_CHECKPOINT_DIR}/{params_name(epoch)}"')
        out(f'Saved optimizer state to "{_LOCAL_CHECKPOINT_DIR}/image-classification-{epoch:04d}.states"')
        on_epoch(
            EpochReport(
                epoch=epoch, train_accuracy=train_accuracy, validation_accuracy=val_accuracy, checkpoint_files=files
            )
        )

    if epoch == 0:  # epochs >= 1 always, so only reachable through a broken resume; be explicit anyway
        raise AlgorithmError("AlgorithmError: no epoch was completed")
    if config.checkpoint_frequency:
        packaged = dict(progress.snapshots) or {epoch: weights.copy()}
    else:
        packaged = {progress.best_epoch: progress.best_weights}
    last = progress.history[-1]
    model_tar_gz = package_model(
        num_classes=config.num_classes,
        image_shape=config.image_shape,
        num_layers=config.num_layers,
        mini_batch_size=config.mini_batch_size,
        hyperparameters=config.supplied,
        params=packaged,
        training={
            "epochs_completed": epoch,
            "best_epoch": progress.best_epoch,
            "best_validation_accuracy": progress.best_validation_accuracy,
            "history": progress.history,
            "warm_started": warm,
            "stopped_early": progress.stopped_early,
            "selected_by": "checkpoint_frequency" if config.checkpoint_frequency else "best validation accuracy",
            "num_training_images": n,
            "num_validation_images": len(val_set),
        },
    )
    out(f"Packaged model.tar.gz with {', '.join(params_name(e) for e in sorted(packaged))}.")
    return TrainResult(
        model_tar_gz=model_tar_gz,
        final_metrics={"train:accuracy": last["train_accuracy"], "validation:accuracy": last["validation_accuracy"]},
        first_epoch=first_epoch,
        epochs=epoch,
        resumed_from_checkpoint=resumed is not None,
        warm_started=warm,
        num_training_samples_seen=n * epochs_run,
        num_training_images=n,
        num_validation_images=len(val_set),
        best_epoch=progress.best_epoch,
        stopped_early=progress.stopped_early,
        model_params_epochs=tuple(sorted(packaged)),
    )
