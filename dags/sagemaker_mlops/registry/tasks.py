"""The Model Registry tasks: register each smoke-tested model as a version of its group, decide its approval, and
read the latest Approved package back (pipeline 2's default base model).

The registry is the truth: approval is read at run time (a package a person rejected in the console or with the
CLI is never used), and only a Pending package is decided here. Requests come from :mod:`registry_config`.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import task

from sagemaker_mlops.core import lineage
from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.registry import registry_config as rc

log = logging.getLogger(__name__)


def group_of(cfg: RunConfig) -> str:
    """This run's model package group (param, Variable ``sagemaker_mlops_model_package_group``, default)."""
    return cfg.extra.get("model_package_group") or rc.DEFAULT_GROUP


def _is_missing(err: Exception) -> bool:
    code = getattr(err, "response", {}).get("Error", {})
    return code.get("Code") in ("ValidationException", "ResourceNotFound") and "does not exist" in code.get(
        "Message", ""
    )


def ensure_group(client: Any, request: dict[str, Any]) -> bool:
    """Create the group when missing; True if created. Another run creating it at the same time is fine."""
    from botocore.exceptions import ClientError

    name = request["ModelPackageGroupName"]
    try:
        client.describe_model_package_group(ModelPackageGroupName=name)
        return False
    except ClientError as err:
        if not _is_missing(err):
            raise
    try:
        client.create_model_package_group(**request)
    except ClientError as err:
        if "already exists" not in err.response.get("Error", {}).get("Message", ""):
            raise
        return False
    log.info("Created model package group %s", name)
    return True


def _package_summaries(client: Any, group: str, **filters: Any) -> list[dict[str, Any]]:
    """The group's versions, newest first; an absent group has none."""
    from botocore.exceptions import ClientError

    summaries: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending", **filters
        ):
            summaries.extend(page["ModelPackageSummaryList"])
    except ClientError as err:
        if not _is_missing(err):
            raise
    return summaries


def find_package(client: Any, group: str, training_job: str) -> dict[str, Any] | None:
    """This training job's package, if a previous try already registered it (CustomerMetadataProperties)."""
    for summary in _package_summaries(client, group):
        package = client.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if (package.get("CustomerMetadataProperties") or {}).get(rc.META_TRAINING_JOB) == training_job:
            return package
    return None


def latest_approved(client: Any, group: str) -> dict[str, Any] | None:
    """The newest Approved package of the group (described), or None."""
    approved = _package_summaries(client, group, ModelApprovalStatus=rc.APPROVED)
    if not approved:
        return None
    return client.describe_model_package(ModelPackageName=approved[0]["ModelPackageArn"])


def champion_of(cfg: RunConfig) -> dict[str, Any] | None:
    """The group's current champion (its newest Approved package, read now) as :func:`rc.package_base`, or None
    when the group has none. Its ``model.tar.gz`` must still exist: a champion that cannot be scored or deployed
    fails here, naming the fix, before anything is billed."""
    from sagemaker_mlops.core.airflow_tasks import bad_input_fails_fast, s3_hook, sagemaker_client
    from sagemaker_mlops.core.validation import ParamError

    package = latest_approved(sagemaker_client(cfg), group_of(cfg))
    if package is None:
        return None
    found = rc.package_base(package)
    bucket, _, key = found["model_data_url"][5:].partition("/")
    with bad_input_fails_fast():
        if not s3_hook(cfg).check_for_key(key, bucket):
            raise ParamError(
                "model_package_group",
                f"the champion {found['model_package_arn']} serves {found['model_data_url']}, which does not exist",
                "restore that model.tar.gz, or reject the package so the previous Approved one is the champion",
            )
    return found


def group_is_empty(client: Any, group: str) -> bool:
    return not _package_summaries(client, group)


def registry_packages(client: Any, group: str) -> list[dict[str, Any]]:
    """Every version of the group, described (the run summary)."""
    return [
        client.describe_model_package(ModelPackageName=s["ModelPackageArn"]) for s in _package_summaries(client, group)
    ]


@task
def register_model(
    config: dict[str, Any],
    summary: dict[str, Any],
    result: dict[str, Any],
    smoke: dict[str, Any],
    evaluation: dict[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any]:
    """A smoke-tested model becomes a new PendingManualApproval version of its group. ModelMetrics: its baseline
    on the pinned holdout (``evaluation``), whose URI also goes in CustomerMetadataProperties ``baseline_uri`` for
    the drift monitor; without a holdout, the smoke test's record. A cleared task finds the version it registered
    before: never a second."""
    from sagemaker_mlops.core.airflow_tasks import s3_hook, sagemaker_client, store_beside_model

    cfg = RunConfig.from_dict(config)
    client, group = sagemaker_client(cfg), group_of(cfg)
    ensure_group(client, rc.build_group_request(group, cfg.tags))
    job = result["training_job_name"]
    existing = find_package(client, group, job)
    if existing is not None:
        log.info("Training job %s is already registered as %s", job, existing["ModelPackageArn"])
        _report_lineage(context, result, existing["ModelPackageArn"])
        return {"group": group, "model_package_arn": existing["ModelPackageArn"], "created": False}
    evaluation_uri = store_beside_model(
        s3_hook(cfg), result, "evaluation.json", rc.evaluation_record(result, smoke, evaluation)
    )
    pinned = bool(evaluation and evaluation.get("pinned"))
    spec = rc.PackageSpec(
        group=group,
        image_uri=cfg.image_uri,
        model_data_url=result["model_artifact"],
        evaluation_s3_uri=evaluation_uri,  # store_beside_model returns the object's s3:// URI
        training_job=job,
        dataset_sha256=summary.get("zip_sha256") or "",
        dag_id=cfg.dag_id,
        dag_run=cfg.run_id,
        inference_instance_type=cfg.inference_instance_type,
        tags=cfg.tags,
        description=rc.package_description(result),
        baseline_uri=evaluation["challenger"]["uri"] if pinned else "",
        holdout_sha256=evaluation["holdout"]["sha256"] if pinned else "",
    )
    arn = client.create_model_package(**rc.build_package_request(spec))["ModelPackageArn"]
    log.info("Registered %s (%s) in group %s", arn, rc.PENDING, group)
    _report_lineage(context, result, arn)
    return {"group": group, "model_package_arn": arn, "created": True}


def _report_lineage(context: dict[str, Any], result: dict[str, Any], package_arn: str) -> None:
    """OpenLineage: the model artifact and its training job (ARN) in, the package version (ARN) out."""
    inputs = [result["model_artifact"], *([result["training_job_arn"]] if result.get("training_job_arn") else [])]
    lineage.report(context, inputs=inputs, outputs=[package_arn])


@task
def decide_approval(
    config: dict[str, Any],
    package: dict[str, Any],
    decision: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Approved/Rejected by the champion/challenger decision on the pinned holdout (pipeline 2, tuning); pipeline
    1's model is the first champion of an empty group, else it waits for a person. Without a pinned holdout
    (``evaluation["pinned"]`` false) nothing is decided: the package waits for a person. A package already
    decided keeps its status."""
    from sagemaker_mlops.core.airflow_tasks import sagemaker_client

    cfg = RunConfig.from_dict(config)
    client, arn = sagemaker_client(cfg), package["model_package_arn"]
    current = client.describe_model_package(ModelPackageName=arn)
    status = current["ModelApprovalStatus"]
    has_approved = decision is None and latest_approved(client, package["group"]) is not None
    if evaluation is not None and not evaluation.get("pinned"):
        decision = {"pending": True, "promote": False, "reason": evaluation.get("reason", "no pinned holdout")}
    choice = rc.approval_for(status, decision, has_approved, package["group"])
    reason = current.get("ApprovalDescription", "")
    if choice is not None:
        status, reason = choice
        client.update_model_package(**rc.build_approval_request(arn, status, reason))
        log.info("%s: %s (%s)", arn, status, reason)
    else:
        log.info("%s stays %s%s", arn, status, " (awaits a person)" if status == rc.PENDING else "")
    return {**package, "status": status, "reason": reason}
