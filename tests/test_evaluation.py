"""The offline evaluation (evaluation/): the pinned holdout is verified before use, the transform request is what
botocore's model accepts, the scores are right, and — the issue's done-when — the batch transform's scores equal
the endpoint's predictions on the same images."""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.evaluation import baseline as bl
from sagemaker_mlops.evaluation import holdout as ho
from sagemaker_mlops.evaluation import scoring
from sagemaker_mlops.evaluation import transform_config as tc
from sagemaker_mlops.registry import registry_config as rc

SERVICE = botocore.session.get_session().get_service_model("sagemaker")


def pinned_for(data: bytes, uri: str = "s3://holdout-bucket/holdout/mnist.zip") -> ho.PinnedHoldout:
    return ho.PinnedHoldout(uri=uri, sha256=hashlib.sha256(data).hexdigest())


def test_pinned_needs_both_variables_and_a_zip():
    assert ho.pinned(None, "") is None  # unset: no holdout, promotion waits for a person
    with pytest.raises(ParamError, match=ho.SHA256_VARIABLE):
        ho.pinned("s3://b/h.zip", None)
    with pytest.raises(ParamError, match=ho.URI_VARIABLE):
        ho.pinned(None, "a" * 64)
    with pytest.raises(ParamError, match=r"not a \.zip"):
        ho.pinned("s3://bkt/holdout/", "a" * 64)
    assert ho.pinned("s3://bkt/h.zip", "A" * 64) == ho.PinnedHoldout("s3://bkt/h.zip", "a" * 64)


def test_the_digest_is_verified_before_use(batch1: Path):
    data = batch1.read_bytes()
    images = ho.read_images(data, pinned_for(data))
    with zipfile.ZipFile(batch1) as archive:
        lst = archive.read("validation_lst/validation.lst").decode().split("\n")
    assert len(images) == len([line for line in lst if line.strip()]) == 120
    assert {image.label for image in images} == set(range(10))
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(ParamError, match="not the pinned"):
        ho.read_images(tampered, pinned_for(data))


def test_png_statistics_read_the_digits(batch1: Path):
    data = batch1.read_bytes()
    images = ho.read_images(data, pinned_for(data))
    stats = ho.input_statistics([image.data for image in images] + [b"not a png"])
    assert stats["mean_width"] == stats["mean_height"] == 28.0
    assert 10 < stats["mean_intensity"] < 120  # MNIST: mostly black, white strokes
    assert stats["unreadable_fraction"] == pytest.approx(1 / 121)


def test_scores():
    probs = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]
    scores = scoring.score([0, 1, 1, 0], probs, 2)
    assert scores["accuracy"] == 0.5
    assert scores["confusion"] == [[1, 1], [1, 1]]
    assert scores["per_class"]["0"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert scores["class_mix"] == {"0": 0.5, "1": 0.5}
    assert scores["mean_top1_confidence"] == pytest.approx((0.9 + 0.8 + 0.6 + 0.7) / 4)
    assert scoring.parse_output(b'{"prediction": [0.1, 0.9]}') == [0.1, 0.9]
    with pytest.raises(scoring.OutputError):
        scoring.parse_output(b'{"error": "x"}', "s3://b/x.out")


def test_compare_needs_the_same_holdout():
    a = {"accuracy": 0.9, "holdout": {"sha256": "a" * 64, "images": 10}}
    b = {"accuracy": 0.5, "holdout": {"sha256": "b" * 64, "images": 10}}
    assert scoring.compare(a, b, 0.0)[0] is False
    assert scoring.compare(a, {**b, "holdout": a["holdout"]}, 0.0)[0] is True
    assert scoring.compare({**b, "holdout": a["holdout"]}, a, 0.0)[0] is False


def test_transform_request_is_valid_named_and_tagged():
    name = tc.transform_job_name("mnist_incremental_spot", "manual__2026-12-07T04:00:00+00:00", "challenger")
    champion = tc.transform_job_name("mnist_incremental_spot", "manual__2026-12-07T04:00:00+00:00", "champion")
    assert name.startswith("mlops-eval-") and champion.startswith("mlops-evalchamp-") and name != champion
    assert len(name) <= 52  # room for the provider's -<epoch> on a retry
    request = tc.build_transform_request(
        name,
        "mlops-model-x",
        "s3://b/p/holdout/x/images/",
        tc.output_prefix("b", "p", name),
        "ml.m5.large",
        {"mlops:package": "airflow-sagemaker-mlops"},
    )
    report = ParamValidator().validate(request, SERVICE.operation_model("CreateTransformJob").input_shape)
    assert not report.has_errors(), report.generate_report()
    assert request["Tags"] == [{"Key": "mlops:package", "Value": "airflow-sagemaker-mlops"}]
    with pytest.raises(ValueError, match="mlops-"):
        tc.build_transform_request("eval-x", "m", "s3://b/i/", "s3://b/o/", "ml.m5.large", {})


def test_cheapest_cpu_instance_of_the_algorithm():
    assert tc.cheapest_cpu_instance({"ml.g4dn.xlarge": 0.05, "ml.m5.xlarge": 0.23, "ml.c5.xlarge": 0.2}) == (
        "ml.c5.xlarge"
    )
    from sagemaker_mlops.core.report import prices

    chosen = tc.cheapest_cpu_instance(prices()["inference"])
    assert chosen in rc.TRANSFORM_INSTANCE_TYPES  # the package says the type it is evaluated on serves it


def test_model_metrics_point_at_the_baseline():
    spec = rc.PackageSpec(
        group="g",
        image_uri="i",
        model_data_url="s3://b/m.tar.gz",
        evaluation_s3_uri="s3://b/evaluation.json",
        training_job="j",
        dataset_sha256="",
        dag_id="d",
        dag_run="r",
        inference_instance_type="ml.m5.xlarge",
        tags={},
        baseline_uri="s3://b/baseline.json",
        holdout_sha256="a" * 64,
    )
    request = rc.build_package_request(spec)
    assert request["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": "s3://b/baseline.json",
    }
    assert request["CustomerMetadataProperties"][bl.METADATA_KEY] == "s3://b/baseline.json"
    assert rc.META_BASELINE_URI == bl.METADATA_KEY
    report = ParamValidator().validate(request, SERVICE.operation_model("CreateModelPackage").input_shape)
    assert not report.has_errors(), report.generate_report()


def test_a_decision_without_the_holdout_leaves_the_package_pending():
    pending = {"pending": True, "promote": False, "reason": "no pinned holdout"}
    assert rc.approval_for(rc.PENDING, pending, False, "g") is None
    assert rc.approval_for(rc.PENDING, {"promote": True, "reason": "x"}, False, "g")[0] == rc.APPROVED


# -- the done-when: the transform's evaluation equals the endpoint's predictions on the same images --------------
def test_transform_evaluation_equals_the_endpoints_predictions(aws: Any, batch1: Path):
    from aws_emulator.storage import S3Store

    from constants import ACCOUNT, REGION
    from emulator_helpers import completed_job, deploy, wait_endpoint

    sm, runtime, s3 = aws("sagemaker"), aws("sagemaker-runtime"), aws("s3")
    bucket = "mlops-eval-bucket"
    job = completed_job(aws, batch1, bucket, "ch06", "mlops-eval-train")
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    data = batch1.read_bytes()
    pinned = pinned_for(data, f"s3://{bucket}/holdout/batch1.zip")
    images = ho.read_images(data, pinned)
    prefix = ho.input_prefix("ch06", pinned)
    for image in images:
        s3.put_object(Bucket=bucket, Key=prefix + image.relpath, Body=image.data)
    deploy(sm, artifact, "mlops-eval-ep")  # model and endpoint named mlops-eval-ep: the same model serves both
    name = tc.transform_job_name("d", "r", "challenger")
    sm.create_transform_job(
        **tc.build_transform_request(
            name,
            "mlops-eval-ep",
            f"s3://{bucket}/{prefix}",
            tc.output_prefix(bucket, "ch06", name),
            "ml.m5.large",
            {"mlops:package": "airflow-sagemaker-mlops"},
        )
    )
    deadline = time.monotonic() + 60
    while sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "Completed"
    store = S3Store(ACCOUNT, REGION)
    output = tc.output_prefix(bucket, "ch06", name)
    batch = [scoring.parse_output(store.read(f"{output}{image.relpath}.out")) for image in images]
    assert wait_endpoint(sm, "mlops-eval-ep")["EndpointStatus"] == "InService"
    online = [
        json.loads(
            runtime.invoke_endpoint(EndpointName="mlops-eval-ep", ContentType="application/x-image", Body=image.data)[
                "Body"
            ].read()
        )
        for image in images
    ]
    assert batch == online
    labels = [image.label for image in images]
    assert scoring.score(labels, batch, 10) == scoring.score(labels, online, 10)
    assert scoring.score(labels, batch, 10)["accuracy"] > 0.5  # a trained stand-in, not noise
