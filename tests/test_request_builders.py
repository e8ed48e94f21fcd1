"""The SageMaker requests our pure builders produce are valid for the real API, and match the SDK's.

Validity is checked against botocore's SageMaker service model twice: ``ParamValidator`` (types, required and
unknown members, ranges) and our own recursive walk, because botocore's validator ignores string ``pattern``s,
``enum``s and string lengths, which the service does enforce (a job name with ``_`` fails only at create time).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape
from botocore.validate import ParamValidator

from sagemaker_mlops.core import images, naming
from sagemaker_mlops.core.naming import NAME_PREFIX, is_valid_sagemaker_name, resource_name, run_token
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.serving import deploy_config
from sagemaker_mlops.serving.deploy_config import (
    DeployConfigError,
    as_tag_list,
    build_endpoint_config_request,
    build_endpoint_request,
    build_model_request,
    resource_tags,
    sanitize_tag_value,
)
from sagemaker_mlops.training import training_config
from sagemaker_mlops.training.training_config import (
    Hyperparameters,
    TrainingSpec,
    TrainingSpecError,
    build_training_request,
)

# --------------------------------------------------------------------------------------------- the book's values
REGION = "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
IMAGE = "433757028032.dkr.ecr.us-west-2.amazonaws.com/image-classification:1"
MODEL_URI = "s3://my-bucket/ch06/output/book-part01-job/output/model.tar.gz"
CHECKPOINT_URI = "s3://my-bucket/ABCDEFGHIJKL/checkpoints"
FIXTURES = Path(__file__).parent / "fixtures" / "sdk_requests"
REAL_IMAGES_FILE = Path(training_config.__file__).parents[1] / "data" / "algorithm_images.json"

TRICKY_RUN_IDS = [
    "manual__2026-11-24T08:00:00+00:00",
    "manual__2026-11-24T08:00:00.123456+00:00",
    "manual__2026-11-24T08:00:00.123457+00:00",
    "scheduled__2026-11-24T00:00:00+00:00",
    "asset_triggered__2026-11-24T08:00:00+00:00",
    "backfill__2026-11-24T08:00:00+00:00",
    "manual__2026-11-24T08:00:00+00:00_Ab3dE6gH",
    "my custom run",
    "MY-CUSTOM-RUN",
    "my_custom_run",
    "run.with.dots",
    "----",
    "___",
    "~",
    "-",
    ":",
    "x",
    "0",
    "ünïcødé-rün-東京",
    "東京",
    "tab\tand\nnewline",
    "a" * 250,
    "manual__" + "9" * 300,
    "z" * 1000 + ":+.",
    "emoji 🚀 run",
    "trailing-",
    "-leading",
    "a--b",
    "ends-with-digit-9",
]
DAG_IDS = ["part01_train_deploy_predict", "part02_incremental_spot", "x", "dag.with.dots-and_underscores"]
KINDS = ["train", "model", "endpoint-config", "endpoint", "spot-train"]


# ------------------------------------------------------------------------------------ botocore-model validation
@functools.cache
def _service_model() -> Any:
    return botocore.session.get_session().get_service_model("sagemaker")


@functools.cache
def _category_class(category: str) -> str:
    """Character-class body (``\\uXXXX-\\uYYYY...``) for a one-letter Unicode category such as L, N or Z."""
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF or unicodedata.category(chr(code))[0] != category:
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))

    def esc(code: int) -> str:
        return f"\\U{code:08x}"

    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)


@functools.cache
def _compile_java_pattern(pattern: str) -> re.Pattern[str]:
    """AWS (Java-style) patterns for Python's ``re``: ``\\p{L}``-style classes become explicit ranges."""

    def repl(match: re.Match[str], inside: bool) -> str:
        body = _category_class(match.group(1)[0])
        return body if inside else f"[{body}]"

    out, inside, i = [], False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and pattern.startswith("\\p{", i):
            end = pattern.index("}", i)
            out.append(repl(re.match(r"\\p\{(\w+)\}", pattern[i : end + 1]), inside))  # type: ignore[arg-type]
            i = end + 1
            continue
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not inside:
            inside = True
        elif char == "]" and inside:
            inside = False
        out.append(char)
        i += 1
    return re.compile("".join(out))


def _constraint_problems(shape: Shape, value: Any, path: str) -> Iterator[str]:
    """What botocore's ParamValidator skips: patterns, enums, string/list/map lengths, numeric ranges."""
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        for key, item in value.items():
            if key in shape.members:  # unknown keys are ParamValidator's job
                yield from _constraint_problems(shape.members[key], item, f"{path}.{key}")
    elif kind == "list":
        if not meta.get("min", 0) <= len(value) <= meta.get("max", sys.maxsize):
            yield f"{path}: list length {len(value)} outside {meta.get('min')}..{meta.get('max')}"
        for index, item in enumerate(value):
            yield from _constraint_problems(shape.member, item, f"{path}[{index}]")
    elif kind == "map":
        if not meta.get("min", 0) <= len(value) <= meta.get("max", sys.maxsize):
            yield f"{path}: map size {len(value)} outside {meta.get('min')}..{meta.get('max')}"
        for key, item in value.items():
            yield from _constraint_problems(shape.key, key, f"{path}<key {key!r}>")
            yield from _constraint_problems(shape.value, item, f"{path}[{key!r}]")
    elif kind == "string":
        if not meta.get("min", 0) <= len(value) <= meta.get("max", sys.maxsize):
            yield f"{path}: length {len(value)} outside {meta.get('min')}..{meta.get('max')} ({value!r})"
        if "pattern" in meta and not _compile_java_pattern(meta["pattern"]).fullmatch(value):
            yield f"{path}: {value!r} does not match {shape.name} pattern {meta['pattern']!r}"
        if shape.enum and value not in shape.enum:
            yield f"{path}: {value!r} is not in enum {shape.name}"
    elif kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            yield f"{path}: {value} < min {meta['min']}"
        if "max" in meta and value > meta["max"]:
            yield f"{path}: {value} > max {meta['max']}"


def api_problems(operation: str, params: dict[str, Any]) -> list[str]:
    """Every reason SageMaker's ``operation`` would refuse ``params`` according to botocore's model."""
    input_shape = _service_model().operation_model(operation).input_shape
    report = ParamValidator().validate(params, input_shape)
    problems = [report.generate_report()] if report.has_errors() else []
    return problems + list(_constraint_problems(input_shape, params, operation))


def assert_api_valid(operation: str, params: dict[str, Any]) -> None:
    problems = api_problems(operation, params)
    assert not problems, "\n".join(problems)


def _string_shape(name: str) -> Shape:
    return _service_model().shape_for(name)


def _matches(shape_name: str, value: str) -> bool:
    return not list(_constraint_problems(_string_shape(shape_name), value, shape_name))


class TestTheCheckerItself:
    """The walker must catch what ParamValidator misses, or every 'valid' below would be vacuous."""

    def test_paramvalidator_alone_misses_bad_job_name(self) -> None:
        request = {"TrainingJobName": "bad_name!", "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": "s3://b/o"}}
        shape = _service_model().operation_model("CreateTrainingJob").input_shape
        assert not ParamValidator().validate(request, shape).has_errors()
        assert any("TrainingJobName" in p for p in api_problems("CreateTrainingJob", request))

    def test_enum_length_and_unicode_tag_pattern(self) -> None:
        assert not _matches("TrainingInstanceType", "ml.c99.nano")
        assert _matches("TrainingInstanceType", "ml.p2.xlarge")
        assert _matches("TagValue", "München 東京 +-=._:/@ 2026")
        assert not _matches("TagValue", "tilde~")
        assert not _matches("TagValue", "x" * 257)
        assert not _matches("TrainingJobName", "a" * 64)
        assert not _matches("ModelName", "ends-with-hyphen-")

    def test_unknown_member_is_reported(self) -> None:
        request = {"EndpointName": "e", "EndpointConfigName": "c", "Bogus": 1}
        assert api_problems("CreateEndpoint", request)


# ------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def images_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real image map when it exists, else a temporary one with the same format (never written into data/)."""
    if REAL_IMAGES_FILE.exists():
        return REAL_IMAGES_FILE
    path = tmp_path_factory.mktemp("images") / "algorithm_images.json"
    document = {
        "algorithm": "image-classification",
        "version": "1",
        "generated_with": "tests/test_request_builders.py (temporary copy)",
        "uris": {
            "us-west-2": IMAGE,
            "us-east-1": "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1",
            "eu-west-1": "685385470294.dkr.ecr.eu-west-1.amazonaws.com/image-classification:1",
            "cn-north-1": "390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/image-classification:1",
            "us-gov-west-1": "226302683700.dkr.ecr.us-gov-west-1.amazonaws.com/image-classification:1",
        },
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def part01_spec(num_training_samples: int = 480, **changes: Any) -> TrainingSpec:
    """The book's PART01 estimator (chapter 6's Estimator(...) call)."""
    spec = TrainingSpec(
        job_name="book-part01-job",
        role_arn=ROLE,
        image_uri=IMAGE,
        bucket="my-bucket",
        prefix="ch06",
        hyperparameters=Hyperparameters(num_training_samples=num_training_samples),
    )
    return replace(spec, **changes)


def part02_spec(num_training_samples: int = 480, **changes: Any) -> TrainingSpec:
    """The book's PART02 estimator: incremental (model channel), managed spot, checkpoints."""
    spec = part01_spec(
        num_training_samples,
        job_name="book-part02-job",
        bucket="my-bucket-2",
        model_uri=MODEL_URI,
        use_spot=True,
        max_runtime_seconds=1800,
        max_wait_seconds=3600,
        checkpoint_s3_uri=CHECKPOINT_URI,
    )
    return replace(spec, **changes)


def _channel(name: str, uri: str, content_type: str = "application/x-image") -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
        "ContentType": content_type,
    }


BOOK_HYPERPARAMETERS = {
    "num_training_samples": "480",
    "num_layers": "18",
    "image_shape": "1,28,28",
    "num_classes": "10",
    "mini_batch_size": "100",
    "epochs": "3",
    "learning_rate": "0.01",
    "top_k": "5",
    "precision_dtype": "float32",
}


# --------------------------------------------------------------------------------------------- training jobs
class TestTrainingRequest:
    def test_part01_is_exactly_the_sdk_request_minus_debugger(self) -> None:
        request = build_training_request(part01_spec())
        assert request == {
            "TrainingJobName": "book-part01-job",
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "InputDataConfig": [
                _channel(name, f"s3://my-bucket/ch06/{name}")
                for name in ("train", "validation", "train_lst", "validation_lst")
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/ch06/output"},
            "ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.p2.xlarge", "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
            "HyperParameters": BOOK_HYPERPARAMETERS,
            "EnableNetworkIsolation": True,
        }
        assert_api_valid("CreateTrainingJob", request)

    def test_part02_adds_model_channel_last_spot_and_checkpoints(self) -> None:
        request = build_training_request(part02_spec())
        channels = request["InputDataConfig"]
        assert [c["ChannelName"] for c in channels] == ["train", "validation", "train_lst", "validation_lst", "model"]
        assert channels[0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://my-bucket-2/ch06/train"
        assert channels[-1] == {
            **_channel("model", MODEL_URI, "application/x-sagemaker-model"),
            "InputMode": "File",
        }
        assert request["EnableManagedSpotTraining"] is True
        assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}
        assert request["CheckpointConfig"] == {"S3Uri": CHECKPOINT_URI, "LocalPath": "/opt/ml/checkpoints"}
        assert request["OutputDataConfig"] == {"S3OutputPath": "s3://my-bucket-2/ch06/output"}
        assert request["HyperParameters"] == BOOK_HYPERPARAMETERS
        assert_api_valid("CreateTrainingJob", request)

    def test_optional_keys_are_omitted_like_the_sdk(self) -> None:
        request = build_training_request(part01_spec())
        for key in ("EnableManagedSpotTraining", "CheckpointConfig", "Tags", "DebugHookConfig", "ProfilerConfig"):
            assert key not in request
        assert "MaxWaitTimeInSeconds" not in request["StoppingCondition"]
        assert all("InputMode" not in channel for channel in request["InputDataConfig"])

    def test_checkpoints_without_spot_and_isolation_off(self) -> None:
        request = build_training_request(part01_spec(checkpoint_s3_uri=CHECKPOINT_URI, network_isolation=False))
        assert request["CheckpointConfig"]["S3Uri"] == CHECKPOINT_URI
        assert request["EnableNetworkIsolation"] is False
        assert "EnableManagedSpotTraining" not in request
        assert_api_valid("CreateTrainingJob", request)

    def test_tags_become_key_value_list(self) -> None:
        tags = resource_tags("part01", "manual__2026-11-24T08:00:00+00:00", datetime(2026, 11, 24, 14, tzinfo=UTC))
        request = build_training_request(part01_spec(tags=tags))
        assert request["Tags"] == [{"Key": k, "Value": v} for k, v in tags.items()]
        assert_api_valid("CreateTrainingJob", request)

    def test_hyperparameters_are_strings_like_the_sdk(self) -> None:
        values = Hyperparameters(num_training_samples=12, learning_rate=0.1, epochs=30, top_k=None).as_request()
        assert values["learning_rate"] == "0.1" and values["epochs"] == "30" and values["num_training_samples"] == "12"
        assert "top_k" not in values
        assert all(isinstance(v, str) for v in values.values())
        assert Hyperparameters(num_training_samples=1, learning_rate=1e-05).as_request()["learning_rate"] == "1e-05"

    @pytest.mark.parametrize("instance_type", _service_model().shape_for("TrainingInstanceType").enum)
    def test_instance_type_accepted_iff_gpu_family_of_the_algorithm(self, instance_type: str) -> None:
        family = instance_type.rsplit(".", 1)[0]
        spec = part01_spec(instance_type=instance_type)
        if family in training_config.GPU_TRAINING_FAMILIES:
            assert_api_valid("CreateTrainingJob", build_training_request(spec))
        else:
            expected = r"instance_type: .*Fix: use ml\.g4dn\.xlarge or ml\.g5\.xlarge"
            with pytest.raises(TrainingSpecError, match=expected):
                build_training_request(spec)

    def test_default_and_suggested_instance_types_exist_in_the_api(self) -> None:
        enum = _service_model().shape_for("TrainingInstanceType").enum
        assert TrainingSpec.__dataclass_fields__["instance_type"].default in enum
        for instance_type in training_config.SUGGESTED_TRAINING_INSTANCE_TYPES:
            assert instance_type in enum
        for family in training_config.GPU_TRAINING_FAMILIES:
            assert any(t.startswith(family + ".") for t in enum), family

    @pytest.mark.parametrize("num_layers", training_config.NUM_LAYERS_CHOICES)
    def test_every_documented_depth_builds(self, num_layers: int) -> None:
        spec = part01_spec(hyperparameters=Hyperparameters(num_training_samples=480, num_layers=num_layers))
        assert build_training_request(spec)["HyperParameters"]["num_layers"] == str(num_layers)

    def test_long_runtime_limits(self) -> None:
        request = build_training_request(
            part02_spec(max_runtime_seconds=training_config.MAX_RUNTIME_LIMIT_SECONDS, max_wait_seconds=10**7)
        )
        assert_api_valid("CreateTrainingJob", request)
        equal = build_training_request(part02_spec(max_runtime_seconds=3600, max_wait_seconds=3600))
        assert equal["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 3600}


def _hp(**changes: Any) -> Hyperparameters:
    return replace(Hyperparameters(num_training_samples=480), **changes)


# (spec changes, field the error must name)
BAD_TRAINING_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("wait < runtime", {"use_spot": True, "max_runtime_seconds": 3600, "max_wait_seconds": 1800}, "max_wait_seconds"),
    ("spot without wait", {"use_spot": True}, "max_wait_seconds"),
    ("wait without spot", {"max_wait_seconds": 3600}, "max_wait_seconds"),
    ("zero wait", {"use_spot": True, "max_wait_seconds": 0}, "max_wait_seconds"),
    ("spot not bool", {"use_spot": "yes", "max_wait_seconds": 3600}, "use_spot"),
    ("cpu instance", {"instance_type": "ml.m5.xlarge"}, "instance_type"),
    ("c4 instance", {"instance_type": "ml.c4.2xlarge"}, "instance_type"),
    ("not an instance", {"instance_type": "p2.xlarge"}, "instance_type"),
    ("p3dn is not listed", {"instance_type": "ml.p3dn.24xlarge"}, "instance_type"),
    ("zero instances", {"instance_count": 0}, "instance_count"),
    ("bool instances", {"instance_count": True}, "instance_count"),
    ("zero volume", {"volume_size_gb": 0}, "volume_size_gb"),
    ("zero runtime", {"max_runtime_seconds": 0}, "max_runtime_seconds"),
    ("runtime > 28 days", {"max_runtime_seconds": 28 * 86400 + 1}, "max_runtime_seconds"),
    ("job name with _", {"job_name": "book_part01"}, "job_name"),
    ("job name too long", {"job_name": "a" * 64}, "job_name"),
    ("role name only", {"role_arn": "AmazonSageMaker-ExecutionRole"}, "role_arn"),
    ("user arn", {"role_arn": "arn:aws:iam::123456789012:user/alice"}, "role_arn"),
    ("image not ecr", {"image_uri": "docker.io/library/mxnet:latest"}, "image_uri"),
    ("bucket uppercase", {"bucket": "My-Bucket"}, "bucket"),
    ("bucket s3 uri", {"bucket": "s3://my-bucket"}, "bucket"),
    ("prefix leading slash", {"prefix": "/ch06"}, "prefix"),
    ("prefix trailing slash", {"prefix": "ch06/"}, "prefix"),
    ("prefix dotdot", {"prefix": "a/../b"}, "prefix"),
    ("prefix empty", {"prefix": ""}, "prefix"),
    ("model uri not s3", {"model_uri": "https://example.com/model.tar.gz"}, "model_uri"),
    ("model uri no key", {"model_uri": "s3://my-bucket"}, "model_uri"),
    ("checkpoint uri not s3", {"checkpoint_s3_uri": "/opt/ml/checkpoints"}, "checkpoint_s3_uri"),
    ("checkpoint local relative", {"checkpoint_local_path": "opt/ml/checkpoints"}, "checkpoint_local_path"),
    ("isolation not bool", {"network_isolation": "true"}, "network_isolation"),
    ("tag key aws:", {"tags": {"aws:owner": "me"}}, "tags"),
    ("tag value tilde", {"tags": {"owner": "me~you"}}, "tags"),
    ("too many tags", {"tags": {f"k{i}": "v" for i in range(51)}}, "tags"),
    ("image shape 2 channels", {"hyperparameters": _hp(image_shape="2,28,28")}, "image_shape"),
    ("image shape 4 parts", {"hyperparameters": _hp(image_shape="1,28,28,1")}, "image_shape"),
    ("image shape spaces", {"hyperparameters": _hp(image_shape="1, 28, 28")}, "image_shape"),
    ("image shape zero", {"hyperparameters": _hp(image_shape="3,0,28")}, "image_shape"),
    ("num_layers 19", {"hyperparameters": _hp(num_layers=19)}, "num_layers"),
    ("num_classes 1", {"hyperparameters": _hp(num_classes=1)}, "num_classes"),
    ("learning_rate 0", {"hyperparameters": _hp(learning_rate=0)}, "learning_rate"),
    ("learning_rate > 1", {"hyperparameters": _hp(learning_rate=1.5)}, "learning_rate"),
    ("learning_rate str", {"hyperparameters": _hp(learning_rate="0.01")}, "learning_rate"),
    ("samples 0", {"hyperparameters": _hp(num_training_samples=0)}, "num_training_samples"),
    ("samples float", {"hyperparameters": _hp(num_training_samples=480.0)}, "num_training_samples"),
    ("batch 0", {"hyperparameters": _hp(mini_batch_size=0)}, "mini_batch_size"),
    ("epochs 0", {"hyperparameters": _hp(epochs=0)}, "epochs"),
    ("top_k 1", {"hyperparameters": _hp(top_k=1)}, "top_k"),
    ("precision", {"hyperparameters": _hp(precision_dtype="bfloat16")}, "precision_dtype"),
    ("hyperparameters dict", {"hyperparameters": {"epochs": 3}}, "hyperparameters"),
]


class TestTrainingValidation:
    @pytest.mark.parametrize(
        ("changes", "field"), [c[1:] for c in BAD_TRAINING_SPECS], ids=[c[0] for c in BAD_TRAINING_SPECS]
    )
    def test_error_names_the_field_and_the_fix(self, changes: dict[str, Any], field: str) -> None:
        with pytest.raises(TrainingSpecError) as caught:
            build_training_request(part01_spec(**changes))
        error = caught.value
        assert isinstance(error, ValueError) and isinstance(error, ParamError)
        assert str(error).startswith(f"{field}: "), str(error)
        assert ". Fix: " in str(error)
        assert [e.field for e in error.errors] == [field]

    def test_spot_messages_are_specific(self) -> None:
        less = r"max_wait_seconds: 1800 is less than max_runtime_seconds \(3600\)"
        with pytest.raises(TrainingSpecError, match=less):
            build_training_request(part01_spec(use_spot=True, max_runtime_seconds=3600, max_wait_seconds=1800))
        with pytest.raises(TrainingSpecError, match=r"max_wait_seconds: is required with use_spot=True"):
            build_training_request(part01_spec(use_spot=True))
        with pytest.raises(TrainingSpecError, match=r"use_spot is False.*Fix: set use_spot=True"):
            build_training_request(part01_spec(max_wait_seconds=3600))

    def test_all_problems_are_reported_together(self) -> None:
        spec = part01_spec(
            job_name="bad_name", bucket="BAD", instance_type="ml.c5.xlarge", hyperparameters=_hp(epochs=0)
        )
        with pytest.raises(TrainingSpecError) as caught:
            build_training_request(spec)
        fields = [e.field for e in caught.value.errors]
        assert fields == ["job_name", "bucket", "epochs", "instance_type"]
        message = str(caught.value)
        assert message.startswith("4 invalid parameters")
        assert all(f"  - {field}: " in message for field in fields)
        assert message.count("Fix: ") == 4

    def test_valid_spec_passes_validate_spec(self) -> None:
        assert training_config.validate_spec(part02_spec()) is None


# --------------------------------------------------------------------------------------------------- deploy
def _tags() -> dict[str, str]:
    return resource_tags("part01", "manual__2026-11-24T08:00:00+00:00", datetime(2026, 11, 24, 14, tzinfo=UTC))


class TestDeployRequests:
    def test_model_request(self) -> None:
        request = build_model_request("book-model", IMAGE, MODEL_URI, ROLE)
        assert request == {
            "ModelName": "book-model",
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": IMAGE, "Environment": {}, "ModelDataUrl": MODEL_URI},
            "EnableNetworkIsolation": True,
        }
        assert_api_valid("CreateModel", request)
        tagged = build_model_request("book-model", IMAGE, MODEL_URI, ROLE, tags=_tags(), network_isolation=False)
        assert tagged["EnableNetworkIsolation"] is False and tagged["Tags"] == as_tag_list(_tags())
        assert_api_valid("CreateModel", tagged)

    def test_endpoint_config_request_is_one_alltraffic_variant(self) -> None:
        request = build_endpoint_config_request("book-endpoint", "book-model")
        assert request == {
            "EndpointConfigName": "book-endpoint",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "book-model",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.xlarge",
                    "InitialVariantWeight": 1.0,
                }
            ],
        }
        assert_api_valid("CreateEndpointConfig", request)
        assert_api_valid("CreateEndpointConfig", build_endpoint_config_request("c", "m", "ml.c5.large", 2, _tags()))

    def test_default_inference_type_is_in_the_api_enum(self) -> None:
        enum = _service_model().shape_for("ProductionVariantInstanceType").enum
        assert deploy_config.DEFAULT_INFERENCE_INSTANCE_TYPE in enum
        # an invented type passes our shape check but not the API's enum: the tests catch it
        request = build_endpoint_config_request("c", "m", instance_type="ml.zz9.xlarge")
        assert any("ProductionVariantInstanceType" in p for p in api_problems("CreateEndpointConfig", request))

    def test_endpoint_request(self) -> None:
        assert build_endpoint_request("book-endpoint", "book-endpoint") == {
            "EndpointName": "book-endpoint",
            "EndpointConfigName": "book-endpoint",
        }
        assert_api_valid("CreateEndpoint", build_endpoint_request("e", "c", tags=_tags()))

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda: build_model_request("bad_model", IMAGE, MODEL_URI, ROLE), "model_name"),
            (lambda: build_model_request("m", "mxnet:1", MODEL_URI, ROLE), "image_uri"),
            (lambda: build_model_request("m", IMAGE, "file:///model.tar.gz", ROLE), "model_data_url"),
            (lambda: build_model_request("m", IMAGE, MODEL_URI, "role"), "role_arn"),
            (lambda: build_model_request("m", IMAGE, MODEL_URI, ROLE, {"aws:x": "y"}), "tags"),
            (lambda: build_model_request("m", IMAGE, MODEL_URI, ROLE, None, "yes"), "network_isolation"),
            (lambda: build_endpoint_config_request("c_1", "m"), "config_name"),
            (lambda: build_endpoint_config_request("c", "-m"), "model_name"),
            (lambda: build_endpoint_config_request("c", "m", "m5.xlarge"), "instance_type"),
            (lambda: build_endpoint_config_request("c", "m", instance_count=0), "instance_count"),
            (lambda: build_endpoint_request("e" * 64, "c"), "endpoint_name"),
            (lambda: build_endpoint_request("e", ""), "config_name"),
            (lambda: build_endpoint_request("e", "c", {"k": "v\n"}), "tags"),
        ],
    )
    def test_errors_name_the_field(self, call: Any, field: str) -> None:
        with pytest.raises(DeployConfigError) as caught:
            call()
        assert str(caught.value).startswith(f"{field}: ") and ". Fix: " in str(caught.value)


class TestTags:
    def test_resource_tags_keys_and_iso_utc(self) -> None:
        tags = resource_tags(
            "part01",
            "manual__2026-11-24T08:00:00+00:00",
            datetime(2026, 11, 24, 15, 30, 5, 999, tzinfo=timezone(timedelta(hours=1, minutes=30))),
        )
        assert tags == {
            "mlops:created-by": "airflow-sagemaker-mlops",
            "mlops:dag-id": "part01",
            "mlops:dag-run-id": "manual__2026-11-24T08:00:00+00:00",
            "mlops:run-token": run_token("part01", "manual__2026-11-24T08:00:00+00:00"),
            "mlops:expires-at": "2026-11-24T14:00:05Z",
        }

    @pytest.mark.parametrize("run_id", TRICKY_RUN_IDS)
    def test_tags_are_valid_for_any_run_id(self, run_id: str) -> None:
        tags = resource_tags("dag~with#odd chars", run_id, datetime(2026, 1, 1, tzinfo=UTC))
        for key, value in tags.items():
            assert _matches("TagKey", key), key
            assert _matches("TagValue", value), value
        assert_api_valid(
            "AddTags", {"ResourceArn": "arn:aws:sagemaker:us-west-2:123456789012:model/m", "Tags": as_tag_list(tags)}
        )

    def test_sanitize_keeps_allowed_unicode_and_truncates(self) -> None:
        assert sanitize_tag_value("München run~1#2") == "München run_1_2"
        assert len(sanitize_tag_value("a" * 1000)) == 256

    def test_naive_expiry_is_refused(self) -> None:
        with pytest.raises(DeployConfigError, match=r"^expires_at: .*Fix: "):
            resource_tags("d", "r", datetime(2026, 1, 1))

    def test_as_tag_list(self) -> None:
        assert as_tag_list({"a": "1", "b": ""}) == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}]
        assert as_tag_list(None) == [] and as_tag_list({}) == []
        with pytest.raises(DeployConfigError, match=r"^tags: "):
            as_tag_list({"": "x"})


# ---------------------------------------------------------------------------------------------------- names
class TestNaming:
    @pytest.mark.parametrize("run_id", TRICKY_RUN_IDS)
    def test_names_valid_short_stable_for_every_run_id(self, run_id: str) -> None:
        for dag_id in DAG_IDS:
            for kind in KINDS:
                name = resource_name(NAME_PREFIX, kind, dag_id, run_id)
                assert is_valid_sagemaker_name(name), name
                assert len(name) <= naming.DEFAULT_NAME_LENGTH <= 63
                assert name.startswith(f"{NAME_PREFIX}-{kind}-") and name.endswith(run_token(dag_id, run_id))
                assert name == resource_name(NAME_PREFIX, kind, dag_id, run_id)
                for shape in ("TrainingJobName", "ModelName", "EndpointConfigName", "EndpointName"):
                    assert _matches(shape, name), (shape, name)
                full = resource_name(NAME_PREFIX, kind, dag_id, run_id, max_length=63)
                assert is_valid_sagemaker_name(full) and len(full) <= 63

    def test_different_runs_and_dags_get_different_names(self) -> None:
        names = {resource_name(NAME_PREFIX, "train", d, r) for d in DAG_IDS for r in TRICKY_RUN_IDS}
        assert len(names) == len(DAG_IDS) * len(TRICKY_RUN_IDS)
        # runs that sanitise to the same text still differ (by token)
        spaces, underscores = "my custom run", "my_custom_run"
        assert resource_name("mlops", "train", "d", spaces) != resource_name("mlops", "train", "d", underscores)

    def test_readable_part(self) -> None:
        name = resource_name("mlops", "train", "part01", "manual__2026-11-24T08:00:00+00:00")
        assert re.fullmatch(r"mlops-train-manual-20261124t080000-[0-9a-f]{16}", name)
        scheduled = resource_name("mlops", "ep", "part01", "scheduled__2026-11-24T00:00:00+00:00")
        assert scheduled.startswith("mlops-ep-sched-20261124t000000-")
        assert re.fullmatch(r"mlops-model-[0-9a-f]{16}", resource_name("mlops", "model", "d", "~~~"))

    def test_provider_dedup_suffix_keeps_name_valid_and_token(self) -> None:
        # SageMakerTrainingOperator(action_if_job_exists="timestamp") renames to f"{name[:52]}-{epoch}"
        for run_id in TRICKY_RUN_IDS:
            name = resource_name("mlops", "endpoint-config", "d", run_id)
            renamed = f"{name[: 63 - 11]}-{1795505250}"
            assert is_valid_sagemaker_name(renamed) and run_token("d", run_id) in renamed

    def test_token(self) -> None:
        token = run_token("d", "r")
        assert re.fullmatch(r"[0-9a-f]{16}", token) and token == run_token("d", "r")
        assert run_token("d", "r") != run_token("e", "r") != run_token("d", "s")
        assert run_token("ab", "c") != run_token("a", "bc")

    @pytest.mark.parametrize(
        ("prefix", "kind", "max_length", "field"),
        [
            ("MLOPS", "train", 52, "prefix"),
            ("mlops", "train_job", 52, "kind"),
            ("mlops", "", 52, "kind"),
            ("mlops", "-train", 52, "kind"),
            ("mlops", "a" * 40, 52, "kind"),
            ("mlops", "train", 64, "max_length"),
            ("mlops", "train", 0, "max_length"),
        ],
    )
    def test_bad_arguments(self, prefix: str, kind: str, max_length: int, field: str) -> None:
        with pytest.raises(ValueError, match=f"^{field}: .*Fix: "):
            resource_name(prefix, kind, "d", "r", max_length=max_length)

    @pytest.mark.parametrize(
        ("name", "valid"),
        [
            ("a", True),
            ("a-b", True),
            ("a--b", True),
            ("A1", True),
            ("a" * 63, True),
            ("a" * 64, False),
            ("-a", False),
            ("a-", False),
            ("a_b", False),
            ("", False),
            ("a.b", False),
            (None, False),
            ("ä", False),
        ],
    )
    def test_is_valid_sagemaker_name(self, name: Any, valid: bool) -> None:
        assert is_valid_sagemaker_name(name) is valid


# --------------------------------------------------------------------------------------------------- images
class TestImages:
    def test_book_region(self, images_file: Path) -> None:
        assert images.training_image_uri(REGION, images_file=images_file) == IMAGE

    def test_every_mapped_uri_is_a_same_region_ecr_uri(self, images_file: Path) -> None:
        regions = images.supported_regions(images_file)
        assert REGION in regions
        for region in regions:
            uri = images.training_image_uri(region, images_file=images_file)
            assert images.is_ecr_image_uri(uri) and f".dkr.ecr.{region}." in uri
            assert uri.endswith("/image-classification:1")
            assert _matches("AlgorithmImage", uri) and _matches("ContainerImage", uri)

    def test_unknown_region_names_region_and_fix(self, images_file: Path) -> None:
        with pytest.raises(ValueError, match=r"^region: 'xx-nowhere-1' .*Fix: pass an explicit training image URI"):
            images.training_image_uri("xx-nowhere-1", images_file=images_file)

    def test_override(self, images_file: Path) -> None:
        mirror = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mirror/image-classification:1"
        assert images.training_image_uri(REGION, mirror, images_file=images_file) == mirror
        digest = f"123456789012.dkr.ecr.us-west-2.amazonaws.com/ic@sha256:{'a' * 64}"
        assert images.training_image_uri(REGION, digest) == digest
        china = "390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/image-classification:1"
        assert images.training_image_uri("cn-north-1", china) == china
        # an override needs no map file at all
        assert images.training_image_uri(REGION, mirror, images_file=Path("/nonexistent.json")) == mirror

    @pytest.mark.parametrize(
        "override",
        [
            "image-classification:1",
            "docker.io/library/mxnet:1.9",
            "433757028032.dkr.ecr.us-west-2.amazonaws.com/image-classification",
            "433757028032.dkr.ecr.us-west-2.amazonaws.com/Image-Classification:1",
            "43375702803.dkr.ecr.us-west-2.amazonaws.com/image-classification:1",
            "433757028032.dkr.ecr.us-west-2.example.com/image-classification:1",
            " 433757028032.dkr.ecr.us-west-2.amazonaws.com/image-classification:1",
        ],
    )
    def test_bad_override_names_the_field(self, override: str) -> None:
        with pytest.raises(ValueError, match=r"^training_image_uri: .*Fix: "):
            images.training_image_uri(REGION, override)

    def test_override_in_another_region_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"^training_image_uri: .*'eu-west-1' but the job runs in 'us-west-2'"):
            images.training_image_uri(REGION, "685385470294.dkr.ecr.eu-west-1.amazonaws.com/image-classification:1")

    def test_missing_or_malformed_map(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"^training_image_uri: .*missing. Fix: "):
            images.training_image_uri(REGION, images_file=tmp_path / "nope.json")
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"algorithm": "xgboost", "uris": {}}))
        with pytest.raises(ValueError, match=r"^training_image_uri: .*not an image-classification image map"):
            images.training_image_uri(REGION, images_file=bad)
        wrong_region = tmp_path / "wrong.json"
        wrong_region.write_text(json.dumps({"algorithm": "image-classification", "uris": {"us-east-1": IMAGE}}))
        with pytest.raises(ValueError, match=r"us-west-2.*us-east-1"):
            images.training_image_uri("us-east-1", images_file=wrong_region)

    def test_map_is_read_once(self, tmp_path: Path) -> None:
        path = tmp_path / "algorithm_images.json"
        path.write_text(json.dumps({"algorithm": "image-classification", "uris": {REGION: IMAGE}}))
        assert images.training_image_uri(REGION, images_file=path) == IMAGE
        path.unlink()
        assert images.training_image_uri(REGION, images_file=path) == IMAGE  # cached

    @pytest.mark.skipif(not REAL_IMAGES_FILE.exists(), reason="data/algorithm_images.json not generated yet")
    def test_real_map_matches_the_sdk_for_the_book_region(self) -> None:
        document = json.loads(REAL_IMAGES_FILE.read_text(encoding="utf-8"))
        assert document["algorithm"] == "image-classification" and document["version"] == "1"
        assert images.training_image_uri(REGION) == IMAGE


# -------------------------------------------------------------------------- comparison with the SDK's own output
def _load_fixture(name: str) -> Any:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"{path} not generated yet")
    return json.loads(path.read_text(encoding="utf-8"))


def _unwrap(document: Any, operation_key: str, marker: str) -> dict[str, Any]:
    """The request kwargs, whether the fixture stores them bare or under e.g. ``create_training_job``."""
    if marker in document:
        return document
    for key in (operation_key, "request", "kwargs", "params"):
        if isinstance(document.get(key), dict):
            return _unwrap(document[key], operation_key, marker)
    raise AssertionError(f"cannot find {marker} in fixture keys {sorted(document)}")


# Intentional differences: fit() adds these in Debugger regions; we leave them out (see training_config docstring).
SDK_ONLY_KEYS = ("DebugHookConfig", "ProfilerConfig")


class TestMatchesSdk:
    @pytest.mark.parametrize(
        ("fixture", "spec_factory"), [("training_part01.json", part01_spec), ("training_part02.json", part02_spec)]
    )
    def test_training_request_equals_sdk_fit(self, fixture: str, spec_factory: Any) -> None:
        sdk = copy.deepcopy(_unwrap(_load_fixture(fixture), "create_training_job", "TrainingJobName"))
        dropped = {key: sdk.pop(key) for key in SDK_ONLY_KEYS if key in sdk}
        for value in dropped.values():  # they only point at the output path; nothing else hides in them
            assert value.get("S3OutputPath", "").startswith("s3://")
        samples = int(sdk["HyperParameters"]["num_training_samples"])
        ours = build_training_request(spec_factory(samples, image_uri=sdk["AlgorithmSpecification"]["TrainingImage"]))
        assert ours == sdk
        assert_api_valid("CreateTrainingJob", ours)

    def test_deploy_requests_equal_sdk_deploy(self) -> None:
        document = _load_fixture("deploy_part01.json")
        sdk_model = dict(_unwrap(document, "create_model", "ModelName"))
        sdk_config = dict(_unwrap(document, "create_endpoint_config", "EndpointConfigName"))
        sdk_endpoint = dict(_unwrap(document, "create_endpoint", "EndpointName"))
        # Intentional difference: the SDK sends "Tags": [] to CreateEndpoint; we omit Tags when there are none
        # (same meaning for the API; the provider drops Tags anyway when it falls back to UpdateEndpoint).
        for request in (sdk_model, sdk_config, sdk_endpoint):
            if request.get("Tags") == []:
                del request["Tags"]
        container = sdk_model["PrimaryContainer"]
        ours_model = build_model_request(
            sdk_model["ModelName"],
            container["Image"],
            container["ModelDataUrl"],
            sdk_model["ExecutionRoleArn"],
            network_isolation=sdk_model.get("EnableNetworkIsolation", False),
        )
        assert ours_model == sdk_model
        variant = sdk_config["ProductionVariants"][0]
        ours_config = build_endpoint_config_request(
            sdk_config["EndpointConfigName"],
            variant["ModelName"],
            variant["InstanceType"],
            variant["InitialInstanceCount"],
        )
        assert ours_config == sdk_config  # 1 == 1.0 for InitialVariantWeight
        assert build_endpoint_request(sdk_endpoint["EndpointName"], sdk_endpoint["EndpointConfigName"]) == sdk_endpoint
