"""The SageMaker Python SDK v2 as an oracle: generates data the DAGs ship, and requests their builders are tested
against.

Run with the oracle's own interpreter (``bash include/sdk_oracle/bootstrap.sh`` builds it)::

    .venv-sdk/bin/python include/sdk_oracle/generate.py images    # dags/sagemaker_mlops/data/algorithm_images.json
    .venv-sdk/bin/python include/sdk_oracle/generate.py requests  # tests/fixtures/sdk_requests/*.json
    .venv-sdk/bin/python include/sdk_oracle/generate.py check     # regenerate into a temp dir, diff, exit 1 on drift

Why a separate interpreter: ``sagemaker`` 2.x pins ``importlib-metadata<7`` and so cannot be installed beside
Airflow 3.3.1; the DAG code never imports it. The SDK is used here only to *produce* reference data:

* ``images``: ``sagemaker.image_uris.retrieve("image-classification", region, "1")`` for every region the SDK's
  ``image_uri_config/image-classification.json`` lists.
* ``requests``: the exact kwargs the SDK v2 ``Estimator`` (the book's code, chapter 6 PART01/PART02) passes to the
  SageMaker client's ``create_training_job``, and those ``estimator.deploy(...)`` passes to ``create_model``,
  ``create_endpoint_config`` and ``create_endpoint``.

Nothing is sent anywhere: the boto session and every client are ``unittest.mock.MagicMock`` objects, SDK telemetry
is opted out through an explicit SDK-defaults config (which also keeps any ``~/.config/sagemaker/config.yaml`` out
of the result), and a socket guard turns any connection attempt into a hard failure of the run.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import socket
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

# Before the SDK is imported: no v2 deprecation banner, no instance-metadata lookups, no SyntaxWarnings from
# compiling sagemaker-core/smdebug sources whose docstrings hold invalid escapes.
os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
warnings.filterwarnings("ignore", category=SyntaxWarning)
for _name in ("sagemaker", "sagemaker.config"):  # INFO chatter ("Creating training-job ...", telemetry notice)
    logging.getLogger(_name).setLevel(logging.WARNING)

SDK_VERSION = "2.257.7"
REPO = Path(__file__).resolve().parents[2]
IMAGES_FILE = REPO / "dags" / "sagemaker_mlops" / "data" / "algorithm_images.json"
FIXTURES_DIR = REPO / "tests" / "fixtures" / "sdk_requests"

ALGORITHM = "image-classification"
ALGORITHM_VERSION = "1"

# --- The book's chapter 6 set-up (PART01.ipynb / PART02.ipynb), with placeholders for the account's values. ---
REGION = "us-west-2"
PREFIX = "ch06"
ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
CHANNELS = ("train", "validation", "train_lst", "validation_lst")  # the book's order; InputDataConfig keeps it
HYPERPARAMETERS = {  # the book's dict, in its order; num_training_samples = len(glob("tmp/train/*/*.png"))
    "num_training_samples": 480,
    "num_layers": 18,
    "image_shape": "1,28,28",
    "num_classes": 10,
    "mini_batch_size": 100,
    "epochs": 3,
    "learning_rate": 0.01,
    "top_k": 5,
    "precision_dtype": "float32",
}
PART01 = {
    "bucket": "my-bucket",
    "job_name": "book-part01-job",
}
PART02 = {
    "bucket": "my-bucket-2",
    "job_name": "book-part02-job",
    "model_uri": "s3://my-bucket/ch06/output/book-part01-job/output/model.tar.gz",
    "base_job_name": "ABCDEFGHIJKL",  # the book's 12 random capitals; fit(job_name=...) takes precedence
    "checkpoint_s3_uri": "s3://my-bucket/ABCDEFGHIJKL/checkpoints",
    "checkpoint_local_path": "/opt/ml/checkpoints",
}
DEPLOY = {
    "initial_instance_count": 1,
    "instance_type": "ml.m5.xlarge",
    "endpoint_name": "book-endpoint",
    "model_name": "book-model",
}
# The book's HyperparameterTuner cell (chapter 6's overview): max_jobs=20, max_parallel_jobs=3 on the objective
# the algorithm documents; the book leaves the ranges as "{...}", so these are the project's defaults for the three
# hyperparameters the AWS guide ("Tune an image classification model") names as the most important, and early
# stopping "Auto" (the SDK's default is "Off"; the issue asks for Auto).
TUNING = {
    "job_name": "book-tuning-job",
    "objective_metric_name": "validation:accuracy",
    "max_jobs": 20,
    "max_parallel_jobs": 3,
    "early_stopping_type": "Auto",
    "learning_rate": (0.001, 0.1, "Logarithmic"),
    "mini_batch_size": (16, 128),
    "optimizer": ["sgd", "adam", "rmsprop", "nag"],
}
# SDK defaults config whose only setting is the telemetry opt-out. It is passed to Session explicitly and is also the
# file SAGEMAKER_{ADMIN,USER}_CONFIG_OVERRIDE point at (see _pin_sdk_defaults), so neither the SDK's import-time load
# nor any Session reads /etc/xdg/sagemaker/config.yaml or ~/.config/sagemaker/config.yaml, whose defaults (tags, VPC,
# KMS keys, ...) would otherwise leak into the requests.
SDK_DEFAULTS = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


# ------------------------------------------------------------------------------------------------ no-network guard
class NetworkAttempt(RuntimeError):
    """Raised (and recorded) when anything in this process tries to open a connection or resolve a name."""


_NETWORK_ATTEMPTS: list[str] = []


def _refuse(what: str):
    def refuse(*args: Any, **kwargs: Any) -> Any:
        _NETWORK_ATTEMPTS.append(f"{what}{args[1:] if what == 'socket.connect' else args}")
        raise NetworkAttempt(f"sdk_oracle: network use refused: {what}{args!r}")

    return refuse


def _install_network_guard() -> None:
    """Every name lookup and connection fails and is recorded; main() exits non-zero if any was attempted.

    The recording matters because the SDK swallows telemetry errors: a refused request must still fail the run.
    """
    socket.getaddrinfo = _refuse("socket.getaddrinfo")  # type: ignore[assignment]
    socket.create_connection = _refuse("socket.create_connection")  # type: ignore[assignment]
    socket.socket.connect = _refuse("socket.connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse("socket.connect_ex")  # type: ignore[method-assign]


def _pin_sdk_defaults(tmpdir: Path) -> None:
    """Point both SDK config locations at a file holding SDK_DEFAULTS (JSON is YAML), before the SDK is imported."""
    path = tmpdir / "sagemaker-config.yaml"
    path.write_text(json.dumps(SDK_DEFAULTS), encoding="utf-8")
    os.environ["SAGEMAKER_ADMIN_CONFIG_OVERRIDE"] = str(path)
    os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] = str(path)


# ------------------------------------------------------------------------------------------------------ the SDK
def _import_sdk():
    """The SDK with the submodules used here; imported only after the guard and the environment are in place."""
    import sagemaker
    import sagemaker.estimator
    import sagemaker.image_uris
    import sagemaker.inputs
    import sagemaker.tuner
    import sagemaker.utils

    if sagemaker.__version__ != SDK_VERSION:
        sys.exit(
            f"sdk_oracle: sagemaker {sagemaker.__version__} is installed but the fixtures are generated with "
            f"{SDK_VERSION}; run `bash include/sdk_oracle/bootstrap.sh`"
        )
    _validate_config_once(sagemaker)
    return sagemaker


def _validate_config_once(sagemaker) -> None:
    """Speed only: with any SDK defaults config, every config lookup (~70 per run) re-validates the whole config
    against the SDK's JSON schema, re-checking the schema itself each time (~0.1 s each, ~7 s a run). Each distinct
    config is still validated, once; the requests do not change."""
    validate = sagemaker.utils.validate_sagemaker_config
    if getattr(validate, "_sdk_oracle_once", False):
        return
    seen: set[str] = set()

    def validate_once(config: Any = None) -> Any:
        key = json.dumps(config, sort_keys=True, default=repr)
        if key not in seen:
            validate(config)
            seen.add(key)

    validate_once._sdk_oracle_once = True  # type: ignore[attr-defined]
    sagemaker.utils.validate_sagemaker_config = validate_once


def _dump(document: Any) -> str:
    """Canonical JSON: sorted keys, 2-space indent, trailing newline; fails on anything not plain JSON data."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def _plain(value: Any, where: str) -> Any:
    """``value`` checked to be plain JSON data (dict/list/str/int/float/bool/None), e.g. no MagicMock or datetime."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"sdk_oracle: {where} is a {type(value).__name__} ({value!r}), not JSON data")


def build_images() -> dict[str, str]:
    """{relative path: file text} for the image map."""
    sagemaker = _import_sdk()
    image_uris = sagemaker.image_uris
    config = image_uris.config_for_framework(ALGORITHM)
    versions = config["versions"]
    if list(versions) != [ALGORITHM_VERSION]:
        raise SystemExit(
            f"sdk_oracle: expected only version {ALGORITHM_VERSION!r} of {ALGORITHM}, got {list(versions)}"
        )
    regions = sorted(versions[ALGORITHM_VERSION]["registries"])
    uris = {region: image_uris.retrieve(ALGORITHM, region, ALGORITHM_VERSION) for region in regions}
    document = {
        "algorithm": ALGORITHM,
        "version": ALGORITHM_VERSION,
        "generated_with": f"sagemaker=={sagemaker.__version__} image_uris.retrieve",
        "uris": uris,
    }
    return {str(IMAGES_FILE.relative_to(REPO)): _dump(document)}


def _session(sagemaker, bucket: str):
    """A real ``sagemaker.Session`` over mocks: a MagicMock boto session (so every client it makes is a mock too)
    and a MagicMock SageMaker client whose describe calls answer just enough for fit(wait=False) and deploy."""
    boto_session = mock.MagicMock(name="boto3.Session")
    boto_session.region_name = REGION
    client = mock.MagicMock(name="sagemaker-client")

    def describe_training_job(TrainingJobName: str, **_: Any) -> dict[str, Any]:
        output = client.create_training_job.call_args.kwargs["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        return {
            "TrainingJobName": TrainingJobName,
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": f"{output}/{TrainingJobName}/output/model.tar.gz"},
            "OutputDataConfig": {"S3OutputPath": output},
        }

    client.describe_training_job.side_effect = describe_training_job
    client.describe_endpoint.return_value = {"EndpointStatus": "InService"}
    session = sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=client,
        sagemaker_runtime_client=mock.MagicMock(name="sagemaker-runtime-client"),
        sagemaker_featurestore_runtime_client=mock.MagicMock(name="featurestore-runtime-client"),
        sagemaker_metrics_client=mock.MagicMock(name="sagemaker-metrics-client"),
        default_bucket=bucket,
        sagemaker_config=SDK_DEFAULTS,
    )
    return session, client


def _estimator(sagemaker, session, bucket: str, **extra: Any):
    """The book's ``Estimator(image, role, instance_count=2, instance_type='ml.p2.xlarge', ...)`` cell, verbatim."""
    image = sagemaker.image_uris.retrieve(ALGORITHM, REGION, ALGORITHM_VERSION)
    estimator = sagemaker.estimator.Estimator(
        image,
        ROLE,
        instance_count=2,
        instance_type="ml.p2.xlarge",
        output_path=f"s3://{bucket}/{PREFIX}/output",
        sagemaker_session=session,
        enable_network_isolation=True,
        **extra,
    )
    estimator.set_hyperparameters(**HYPERPARAMETERS)
    return estimator


def _channels(sagemaker, bucket: str) -> dict[str, Any]:
    return {
        channel: sagemaker.inputs.TrainingInput(
            f"s3://{bucket}/{PREFIX}/{channel}",
            distribution="FullyReplicated",
            content_type="application/x-image",
            s3_data_type="S3Prefix",
        )
        for channel in CHANNELS
    }


def _only_call(client: mock.MagicMock, method: str, where: str) -> dict[str, Any]:
    calls = getattr(client, method).call_args_list
    if len(calls) != 1 or calls[0].args:
        raise SystemExit(f"sdk_oracle: {where}: expected one keyword-only {method} call, got {calls}")
    return _plain(dict(calls[0].kwargs), f"{where}.{method}")


def build_requests() -> dict[str, str]:
    """{relative path: file text} for the request fixtures."""
    sagemaker = _import_sdk()
    out: dict[str, str] = {}
    rel = FIXTURES_DIR.relative_to(REPO)

    # PART01: train, then deploy one ml.m5.xlarge.
    session, client = _session(sagemaker, PART01["bucket"])
    estimator = _estimator(sagemaker, session, PART01["bucket"])
    estimator.fit(inputs=_channels(sagemaker, PART01["bucket"]), wait=False, logs=False, job_name=PART01["job_name"])
    out[str(rel / "training_part01.json")] = _dump(_only_call(client, "create_training_job", "part01"))

    estimator.deploy(
        DEPLOY["initial_instance_count"],
        DEPLOY["instance_type"],
        endpoint_name=DEPLOY["endpoint_name"],
        model_name=DEPLOY["model_name"],
        wait=False,
    )
    deploy = {m: _only_call(client, m, "deploy") for m in ("create_model", "create_endpoint_config", "create_endpoint")}
    out[str(rel / "deploy_part01.json")] = _dump(deploy)

    # PART02: incremental training from job 1's model, managed spot, checkpoints (bucket my-bucket-2 for the data).
    session, client = _session(sagemaker, PART02["bucket"])
    estimator = _estimator(
        sagemaker,
        session,
        PART02["bucket"],
        model_uri=PART02["model_uri"],
        use_spot_instances=True,
        max_run=1800,
        max_wait=3600,
        base_job_name=PART02["base_job_name"],
        checkpoint_s3_uri=PART02["checkpoint_s3_uri"],
        checkpoint_local_path=PART02["checkpoint_local_path"],
    )
    estimator.fit(inputs=_channels(sagemaker, PART02["bucket"]), wait=False, logs=False, job_name=PART02["job_name"])
    out[str(rel / "training_part02.json")] = _dump(_only_call(client, "create_training_job", "part02"))

    # Tuning: HyperparameterTuner(estimator, objective, ranges, max_jobs=20, max_parallel_jobs=3).fit(channels).
    session, client = _session(sagemaker, PART01["bucket"])
    estimator = _estimator(sagemaker, session, PART01["bucket"])
    tuner_module = sagemaker.tuner
    low, high, scaling = TUNING["learning_rate"]
    tuner = tuner_module.HyperparameterTuner(
        estimator,
        TUNING["objective_metric_name"],
        {
            "learning_rate": tuner_module.ContinuousParameter(low, high, scaling_type=scaling),
            "mini_batch_size": tuner_module.IntegerParameter(*TUNING["mini_batch_size"]),
            "optimizer": tuner_module.CategoricalParameter(TUNING["optimizer"]),
        },
        max_jobs=TUNING["max_jobs"],
        max_parallel_jobs=TUNING["max_parallel_jobs"],
        early_stopping_type=TUNING["early_stopping_type"],
    )
    tuner.fit(inputs=_channels(sagemaker, PART01["bucket"]), job_name=TUNING["job_name"], wait=False)
    out[str(rel / "tuning_book.json")] = _dump(_only_call(client, "create_hyper_parameter_tuning_job", "tuning"))
    return out


# ------------------------------------------------------------------------------------------------------- commands
def _write(files: dict[str, str], root: Path, *, quiet: bool = False) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not quiet:
            print(f"sdk_oracle: wrote {path}")


def _check(files: dict[str, str]) -> int:
    """Regenerate into a temp dir and compare with the committed files; print a unified diff for each that drifted."""
    drifted = 0
    with tempfile.TemporaryDirectory(prefix="sdk_oracle-") as tmp:
        _write(files, Path(tmp), quiet=True)
        for rel in sorted(files):
            fresh = (Path(tmp) / rel).read_text(encoding="utf-8")
            committed_path = REPO / rel
            committed = committed_path.read_text(encoding="utf-8") if committed_path.exists() else ""
            if fresh != committed:
                drifted += 1
                sys.stdout.writelines(
                    difflib.unified_diff(
                        committed.splitlines(keepends=True),
                        fresh.splitlines(keepends=True),
                        fromfile=f"{rel} (committed{'' if committed_path.exists() else ', missing'})",
                        tofile=f"{rel} (sagemaker=={SDK_VERSION})",
                    )
                )
    if drifted:
        print(
            f"sdk_oracle: {drifted} file(s) differ from what sagemaker=={SDK_VERSION} generates; review the diff, then "
            "run `.venv-sdk/bin/python include/sdk_oracle/generate.py images requests` to update them",
            file=sys.stderr,
        )
        return 1
    print(f"sdk_oracle: {len(files)} file(s) match sagemaker=={SDK_VERSION}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "commands", nargs="+", choices=("images", "requests", "check"), metavar="{images,requests,check}"
    )
    args = parser.parse_args(argv)
    _install_network_guard()

    rc = 0
    with tempfile.TemporaryDirectory(prefix="sdk_oracle-config-") as config_dir:
        _pin_sdk_defaults(Path(config_dir))
        for command in args.commands:
            if command == "images":
                _write(build_images(), REPO)
            elif command == "requests":
                _write(build_requests(), REPO)
            else:
                rc |= _check({**build_images(), **build_requests()})
    if _NETWORK_ATTEMPTS:
        print(
            "sdk_oracle: FAILED, something tried to use the network:", *_NETWORK_ATTEMPTS, sep="\n  ", file=sys.stderr
        )
        return 2
    return rc


if __name__ == "__main__":
    sys.exit(main())
