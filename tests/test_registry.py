"""The Model Registry: request builders (botocore's service model), the approval decision, and the registry reads
pipeline 2's base selection relies on (over real HTTP on the emulator)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from aws_emulator.service_model_validation import validation_errors
from sagemaker_mlops.core.tags import TAG_EXPIRES_AT
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.registry import registry_config as rc
from sagemaker_mlops.registry import tasks as registry_tasks

from constants import REGION
from emulator_helpers import IC_IMAGE

MODEL_URI = "s3://registry-bucket/ch06/output/job-a/output/model.tar.gz"
TAGS = {
    "mlops:created-by": "airflow-sagemaker-mlops",
    "mlops:dag-run-id": "manual__x",
    "mlops:run-token": "r0123456789abcdef",
    TAG_EXPIRES_AT: "2026-01-01",
}
SERVICE = botocore.session.get_session().get_service_model("sagemaker")


def assert_valid(operation: str, request: dict[str, Any]) -> None:
    """botocore's own validator (types, required, ranges) and the pattern walk botocore skips."""
    report = ParamValidator().validate(request, SERVICE.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()
    assert validation_errors("sagemaker", operation, request) == []


def spec(**overrides: Any) -> rc.PackageSpec:
    values = {
        "group": rc.DEFAULT_GROUP,
        "image_uri": IC_IMAGE,
        "model_data_url": MODEL_URI,
        "evaluation_s3_uri": "s3://registry-bucket/ch06/output/job-a/output/evaluation.json",
        "training_job": "job-a",
        "dataset_sha256": "ab" * 32,
        "dag_id": "mnist_train_deploy",
        "dag_run": "manual__2026-11-24T08:00:00+00:00",
        "inference_instance_type": "ml.m5.xlarge",
        "tags": TAGS,
    }
    return rc.PackageSpec(**{**values, **overrides})


# -- builders -------------------------------------------------------------------------------------------------------
def test_group_request_is_valid_and_tagged_without_the_expiry():
    request = rc.build_group_request("mnist-image-classifier", TAGS)
    assert_valid("CreateModelPackageGroup", request)
    keys = {tag["Key"] for tag in request["Tags"]}
    assert "mlops:created-by" in keys and TAG_EXPIRES_AT not in keys


def test_package_request_is_valid_and_says_what_the_image_model_takes():
    request = rc.build_package_request(spec())
    assert_valid("CreateModelPackage", request)
    inference = request["InferenceSpecification"]
    assert inference["SupportedContentTypes"] == ["application/x-image", "image/png", "image/jpeg"]
    assert inference["SupportedResponseMIMETypes"] == ["application/json"]
    assert "text/csv" not in str(request)
    assert inference["Containers"] == [{"Image": IC_IMAGE, "ModelDataUrl": MODEL_URI}]
    assert request["ModelApprovalStatus"] == rc.PENDING
    assert request["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("/evaluation.json")
    assert request["CustomerMetadataProperties"][rc.META_TRAINING_JOB] == "job-a"


def test_package_metadata_keeps_the_versions_provenance_within_its_limits():
    """AWS refuses Tags on a versioned package (botocore's CreateModelPackage.Tags): the request carries none, and
    what the run's tags said of the version is in CustomerMetadataProperties, within CustomerMetadataMap's limits."""
    request = rc.build_package_request(spec())
    assert "Tags" not in request
    metadata = request["CustomerMetadataProperties"]
    assert metadata[rc.META_CREATED_BY] == TAGS["mlops:created-by"]
    assert metadata[rc.META_RUN_TOKEN] == TAGS["mlops:run-token"]
    assert 1 <= len(metadata) <= 50
    assert all(1 <= len(k) <= 128 and 1 <= len(v) <= 256 for k, v in metadata.items())


@pytest.mark.parametrize("run_id", ["my custom run!", "emoji 🚀 run", "東京", "tab\tand\nnewline", "z" * 400])
def test_any_run_id_gives_valid_metadata(run_id):
    assert_valid("CreateModelPackage", rc.build_package_request(spec(dag_run=run_id)))


def test_an_instance_type_outside_the_list_is_allowed_too():
    request = rc.build_package_request(spec(inference_instance_type="ml.g5.xlarge"))
    assert "ml.g5.xlarge" in request["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"]
    assert_valid("CreateModelPackage", request)


@pytest.mark.parametrize("status", [rc.APPROVED, rc.REJECTED])
def test_approval_request_is_valid(status):
    arn = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/mnist-image-classifier/3"
    assert_valid("UpdateModelPackage", rc.build_approval_request(arn, status, "new model 0.9 vs 0.8"))


@pytest.mark.parametrize("name", ["", "bad name", "-leading", "a" * 64, None, "under_score"])
def test_bad_group_name_names_the_field_and_fix(name):
    with pytest.raises(ParamError) as err:
        rc.validate_group_name(name)
    assert err.value.field == "model_package_group" and "letters, digits and hyphens" in str(err.value)


# A tuning job's best trial, as tuning_result returns it (its "tuning" outcome from tuning_report.tuning_summary).
TUNED = {
    "training_job_name": "tuning-a-003-4f2c",
    "validation_accuracy": 0.93,
    "tuning": {
        "tuning_job_name": "tuning-a",
        "objective": "validation:accuracy (Maximize)",
        "best_training_job": "tuning-a-003-4f2c",
        "best_objective": 0.93,
        "best_hyperparameters": {"learning_rate": "0.02", "optimizer": "nag"},
        "trials": [{"objective": 0.93}, {"objective": 0.9}, {"objective": None}],
    },
}
SMOKE = {"accuracy": 0.95, "sample_size": 40, "latency_ms": {"p50": 3.0, "p95": 5.0}}


def test_a_tuned_model_says_which_search_chose_it_and_by_what():
    record = rc.evaluation_record(TUNED, SMOKE)
    assert record["validation_accuracy"] == record["tuning"]["best_objective_value"] == 0.93
    assert record["tuning"] == {
        "tuning_job": "tuning-a",
        "objective": "validation:accuracy (Maximize)",
        "best_objective_value": 0.93,
        "trials": 3,
        "hyperparameters": {"learning_rate": "0.02", "optimizer": "nag"},
    }
    assert record["smoke_accuracy"] == 0.95 and record["sample_size"] == 40
    description = rc.package_description(TUNED)
    assert "tuning-a-003-4f2c" in description and "tuning job tuning-a " in description and "0.93" in description
    request = rc.build_package_request(spec(training_job=TUNED["training_job_name"], description=description))
    assert_valid("CreateModelPackage", request)
    assert request["ModelPackageDescription"] == description


def test_a_trained_model_keeps_the_plain_record():
    trained = {"training_job_name": "job-a", "validation_accuracy": 0.9}
    assert "tuning" not in rc.evaluation_record(trained, SMOKE)
    assert rc.package_description(trained) == "Trained by job-a"


# -- the approval decision ------------------------------------------------------------------------------------------
PROMOTE = {"promote": True, "reason": "new 0.95 vs base 0.90: promoted"}
KEEP = {"promote": False, "reason": "new 0.85 vs base 0.90: kept the base model"}


@pytest.mark.parametrize(
    ("status", "decision", "has_approved", "expected"),
    [
        (rc.PENDING, None, False, rc.APPROVED),  # pipeline 1, empty group: the first champion
        (rc.PENDING, None, True, None),  # pipeline 1, a champion exists: waits for a person
        (rc.PENDING, PROMOTE, True, rc.APPROVED),
        (rc.PENDING, KEEP, True, rc.REJECTED),
        (rc.PENDING, KEEP, False, rc.REJECTED),
        (rc.REJECTED, PROMOTE, True, None),  # a person rejected it (or an earlier try did): kept
        (rc.APPROVED, KEEP, True, None),
    ],
)
def test_approval_follows_the_comparison_and_never_overrides_a_decided_package(
    status, decision, has_approved, expected
):
    choice = rc.approval_for(status, decision, has_approved, rc.DEFAULT_GROUP)
    assert (choice[0] if choice else None) == expected
    if decision and choice:
        assert choice[1] == decision["reason"]
    if choice and decision is None:
        assert "first champion" in choice[1]


# -- the registry on the emulator ----------------------------------------------------------------------------------
@pytest.fixture()
def registry(aws) -> Any:
    s3, sm = aws("s3"), aws("sagemaker")
    s3.create_bucket(Bucket="registry-bucket")
    for job in ("job-a", "job-b", "job-c"):
        s3.put_object(Bucket="registry-bucket", Key=f"ch06/output/{job}/output/model.tar.gz", Body=b"x")
    assert registry_tasks.ensure_group(sm, rc.build_group_request(rc.DEFAULT_GROUP, TAGS)) is True
    assert registry_tasks.ensure_group(sm, rc.build_group_request(rc.DEFAULT_GROUP, TAGS)) is False
    return sm


def register(sm: Any, job: str, status: str | None = None) -> str:
    request = rc.build_package_request(spec(training_job=job, model_data_url=MODEL_URI.replace("job-a", job)))
    arn = sm.create_model_package(**request)["ModelPackageArn"]
    if status:
        sm.update_model_package(**rc.build_approval_request(arn, status, f"{status} in the test"))
    return arn


def test_empty_group_has_no_base_and_the_asset_decides(registry):
    assert registry_tasks.latest_approved(registry, rc.DEFAULT_GROUP) is None
    assert registry_tasks.group_is_empty(registry, rc.DEFAULT_GROUP)
    assert registry_tasks.group_is_empty(registry, "no-such-group")  # never created: empty too


def test_latest_approved_skips_a_package_a_person_rejected(registry):
    first = register(registry, "job-a", rc.APPROVED)
    second = register(registry, "job-b", rc.APPROVED)
    register(registry, "job-c")  # Pending: never a base
    assert registry_tasks.latest_approved(registry, rc.DEFAULT_GROUP)["ModelPackageArn"] == second
    registry.update_model_package(ModelPackageArn=second, ModelApprovalStatus="Rejected")  # the console/CLI
    base = rc.package_base(registry_tasks.latest_approved(registry, rc.DEFAULT_GROUP))
    assert base["model_package_arn"] == first and base["training_job_name"] == "job-a"


def test_a_registered_job_is_found_again_so_a_retry_registers_no_second_version(registry):
    arn = register(registry, "job-a", rc.APPROVED)
    register(registry, "job-b")
    found = registry_tasks.find_package(registry, rc.DEFAULT_GROUP, "job-a")
    assert found["ModelPackageArn"] == arn
    assert registry_tasks.find_package(registry, rc.DEFAULT_GROUP, "job-z") is None


def test_the_summary_lists_versions_oldest_first_with_status_and_reason(registry):
    register(registry, "job-a", rc.APPROVED)
    register(registry, "job-b", rc.REJECTED)
    rows = rc.summarize(registry_tasks.registry_packages(registry, rc.DEFAULT_GROUP))
    assert [(r["version"], r["status"], r["training_job"]) for r in rows] == [
        (1, rc.APPROVED, "job-a"),
        (2, rc.REJECTED, "job-b"),
    ]
    assert rows[1]["reason"] == "Rejected in the test"
