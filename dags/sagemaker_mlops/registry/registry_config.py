"""SageMaker Model Registry requests: one model package group per model family, one version per tested model.

Why not the provider's ``SageMakerRegisterModelVersionOperator``: it hard-codes ``text/csv`` in and out (this
image model takes ``application/x-image``/``image/png``/``image/jpeg`` and answers ``application/json``). Its
``extras`` could replace the whole InferenceSpecification, but it would still create the group without tags
(``SageMakerHook.create_model_package_group`` sends none; the group is what carries tags, AWS refuses them on a
version), delete a group it just created when the package fails,
and register a second version when a cleared task runs again. So the requests are built here (pure, typed,
checked against botocore's model in the tests) and sent through ``SageMakerHook(...).conn``.

Also here: the approval decision (:func:`approval_for`) and reading a package back (:func:`package_base`). Stdlib
only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sagemaker_mlops.core.naming import is_valid_sagemaker_name
from sagemaker_mlops.core.tags import TAG_CREATED_BY, TAG_EXPIRES_AT, TAG_RUN_TOKEN, as_tag_list
from sagemaker_mlops.core.validation import ParamError

DEFAULT_GROUP = "mnist-image-classifier"
GROUP_VARIABLE = "sagemaker_mlops_model_package_group"

PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"

CONTENT_TYPES = ("application/x-image", "image/png", "image/jpeg")
RESPONSE_TYPES = ("application/json",)
# Instance types a deployer may pick for this package (the algorithm serves on CPU and GPU); the run's own
# inference type is always added. Transform: CPU types of the algorithm's batch-transform list.
REALTIME_INSTANCE_TYPES = ("ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge", "ml.c5.2xlarge", "ml.g4dn.xlarge")
TRANSFORM_INSTANCE_TYPES = ("ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge", "ml.c5.2xlarge")

# CustomerMetadataProperties keys: the package says where it came from, and a cleared task finds its own package.
META_TRAINING_JOB = "training_job"
META_DATASET_SHA256 = "dataset_sha256"
META_DAG_ID = "dag_id"
META_DAG_RUN = "dag_run"
# What the run's tags said of the version, kept in its metadata: AWS refuses Tags on a version (below).
META_CREATED_BY = "created_by"
META_RUN_TOKEN = "run_token"
# The package's baseline on the pinned holdout (evaluation/baseline.py's schema): the drift monitor reads it.
META_BASELINE_URI = "baseline_uri"
META_HOLDOUT_SHA256 = "holdout_sha256"
# botocore's CustomerMetadataMap: 1-50 entries, keys <= 128 and values <= 256 characters (_metadata_value cuts).

_MAX_DESCRIPTION = 1024


def validate_group_name(name: Any, field: str = "model_package_group") -> str:
    """A group name SageMaker accepts (1-63 letters, digits, hyphens), or a ParamError naming the fix."""
    if not isinstance(name, str) or not is_valid_sagemaker_name(name):
        raise ParamError(
            field,
            f"{name!r} is not a valid model package group name",
            "use 1-63 letters, digits and hyphens, starting with a letter or digit (e.g. mnist-image-classifier)",
        )
    return name


def registry_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """The run's tags, without the expiry: a registry entry is kept on purpose (the reaper's expiry is for
    endpoints and models that bill or clutter), so it must not look expired to a janitor."""
    return as_tag_list({key: value for key, value in tags.items() if key != TAG_EXPIRES_AT})


def build_group_request(group: str, tags: Mapping[str, str]) -> dict[str, Any]:
    """CreateModelPackageGroup for the model family."""
    return {
        "ModelPackageGroupName": validate_group_name(group),
        "ModelPackageGroupDescription": "MNIST digits, built-in image-classification (airflow-sagemaker-mlops)",
        "Tags": registry_tags(tags),
    }


@dataclass(frozen=True)
class PackageSpec:
    """One tested model, as the registry records it."""

    group: str
    image_uri: str
    model_data_url: str
    evaluation_s3_uri: str
    training_job: str
    dataset_sha256: str
    dag_id: str
    dag_run: str
    inference_instance_type: str
    tags: Mapping[str, str]
    description: str = ""
    baseline_uri: str = ""  # the evaluation on the pinned holdout; empty: not evaluated (no holdout pinned)
    holdout_sha256: str = ""


def _metadata_value(value: str) -> str:
    """CustomerMetadataValue allows letters, digits, spaces and ``_.:/=+-@`` (run ids can hold anything)."""
    cleaned = "".join(c if c.isalnum() or c in " _.:/=+-@" else "_" for c in str(value))
    return (cleaned or "_")[:256]


def package_metadata(spec: PackageSpec) -> dict[str, str]:
    """A version's provenance as CustomerMetadataProperties (a version takes no tags): the training job (a cleared
    task finds its package by it), the dataset, the DAG run, and the run's created-by and run-token tags."""
    metadata = {
        META_TRAINING_JOB: _metadata_value(spec.training_job),
        META_DATASET_SHA256: _metadata_value(spec.dataset_sha256 or "unknown"),
        META_DAG_ID: _metadata_value(spec.dag_id),
        META_DAG_RUN: _metadata_value(spec.dag_run),
    }
    if spec.baseline_uri:
        metadata[META_BASELINE_URI] = _metadata_value(spec.baseline_uri)
        metadata[META_HOLDOUT_SHA256] = _metadata_value(spec.holdout_sha256)
    for key, tag in ((META_CREATED_BY, TAG_CREATED_BY), (META_RUN_TOKEN, TAG_RUN_TOKEN)):
        if spec.tags.get(tag):
            metadata[key] = _metadata_value(spec.tags[tag])
    return metadata


def build_package_request(spec: PackageSpec) -> dict[str, Any]:
    """CreateModelPackage: a new version in the group, PendingManualApproval until a decision or a person."""
    realtime = list(dict.fromkeys([spec.inference_instance_type, *REALTIME_INSTANCE_TYPES]))
    return {
        "ModelPackageGroupName": validate_group_name(spec.group),
        "ModelPackageDescription": (spec.description or f"Trained by {spec.training_job}")[:_MAX_DESCRIPTION],
        "InferenceSpecification": {
            "Containers": [{"Image": spec.image_uri, "ModelDataUrl": spec.model_data_url}],
            "SupportedContentTypes": list(CONTENT_TYPES),
            "SupportedResponseMIMETypes": list(RESPONSE_TYPES),
            "SupportedRealtimeInferenceInstanceTypes": realtime,
            "SupportedTransformInstanceTypes": list(TRANSFORM_INSTANCE_TYPES),
        },
        "ModelMetrics": {
            # The baseline on the pinned holdout when there is one (accuracy, per-class scores, confusion
            # matrix), else the smoke test's record.
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": spec.baseline_uri or spec.evaluation_s3_uri}
            }
        },
        "CustomerMetadataProperties": package_metadata(spec),
        "ModelApprovalStatus": PENDING,
        # No Tags: botocore's CreateModelPackage.Tags, "If you supply ModelPackageGroupName ... you cannot supply a
        # tag argument" (AWS: "Tags are not supported in Model Package versions"). The group carries the tags.
    }


def build_approval_request(package_arn: str, status: str, reason: str) -> dict[str, Any]:
    """UpdateModelPackage: Approved or Rejected, with the reason shown in the console."""
    if status not in (APPROVED, REJECTED, PENDING):
        raise ValueError(f"ModelApprovalStatus {status!r}: use {APPROVED}, {REJECTED} or {PENDING}")
    return {
        "ModelPackageArn": package_arn,
        "ModelApprovalStatus": status,
        "ApprovalDescription": reason[:_MAX_DESCRIPTION],
    }


def evaluation_record(
    result: Mapping[str, Any], smoke: Mapping[str, Any], evaluation: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The evaluation JSON ModelMetrics points at. A tuned model (``result["tuning"]``, the tuning DAG's) also
    says which search chose it and by what: the objective metric and the value the tuning job ranked it by (the
    trial's final validation:accuracy, the same number as ``validation_accuracy``), out of how many trials."""
    record = {
        "training_job": result["training_job_name"],
        "validation_accuracy": result.get("validation_accuracy"),
        "smoke_accuracy": smoke["accuracy"],
        "sample_size": smoke["sample_size"],
        "latency_ms": smoke.get("latency_ms"),
    }
    if evaluation and evaluation.get("pinned"):
        challenger = evaluation["challenger"]
        record["holdout"] = {**evaluation["holdout"], "accuracy": challenger["accuracy"], "baseline": challenger["uri"]}
    tuning = result.get("tuning")
    if tuning:
        record["tuning"] = {
            "tuning_job": tuning["tuning_job_name"],
            "objective": tuning["objective"],
            "best_objective_value": tuning["best_objective"],
            "trials": len(tuning.get("trials", [])),
            "hyperparameters": dict(tuning.get("best_hyperparameters", {})),
        }
    return record


def package_description(result: Mapping[str, Any]) -> str:
    """ModelPackageDescription: the training job, and for a tuned model the tuning job and objective too."""
    tuning = result.get("tuning")
    if not tuning:
        return f"Trained by {result['training_job_name']}"
    return (
        f"Best training job {result['training_job_name']} of tuning job {tuning['tuning_job_name']} "
        f"({tuning['objective']} = {tuning['best_objective']}, {len(tuning.get('trials', []))} trials)"
    )


def approval_for(
    current_status: str, decision: Mapping[str, Any] | None, group_has_approved: bool, group: str
) -> tuple[str, str] | None:
    """The status to set and why, or None to leave the package as it is.

    Only a Pending package is decided: one a person (or an earlier try of this task) approved or rejected keeps
    that status — the registry is the truth, not what Airflow last thought. With a champion/challenger decision
    (pipeline 2) the comparison decides; without one (pipeline 1) the first model of an empty group becomes the
    first champion, any later one waits for a person. A decision made without the pinned holdout
    (``decision["pending"]``) decides nothing: the triggerer chose that data, so a person must.
    """
    if current_status != PENDING:
        return None
    if decision is not None and decision.get("pending"):
        return None
    if decision is not None:
        return (APPROVED if decision["promote"] else REJECTED), str(decision["reason"])
    if not group_has_approved:
        return APPROVED, f"first champion: group {group} had no Approved package yet"
    return None


def package_base(package: Mapping[str, Any]) -> dict[str, Any]:
    """What pipeline 2 needs from an Approved package: its model artifact, training job and ARN."""
    container = package["InferenceSpecification"]["Containers"][0]
    metadata = package.get("CustomerMetadataProperties") or {}
    return {
        "model_package_arn": package["ModelPackageArn"],
        "model_data_url": container["ModelDataUrl"],
        "training_job_name": metadata.get(META_TRAINING_JOB),
        "status": package.get("ModelApprovalStatus"),
    }


def summarize(packages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Version, status, job and reason per package, oldest first (the run summary's table)."""
    rows = [
        {
            "version": p.get("ModelPackageVersion"),
            "status": p.get("ModelApprovalStatus"),
            "training_job": (p.get("CustomerMetadataProperties") or {}).get(META_TRAINING_JOB),
            "reason": p.get("ApprovalDescription", ""),
            "arn": p["ModelPackageArn"],
        }
        for p in packages
    ]
    return sorted(rows, key=lambda row: row["version"] or 0)
