"""Incremental training (the book's part 2): which base model, whether it is compatible, where checkpoints go.

The built-in algorithm warm-starts only from a model with the same ``num_classes``, ``image_shape`` and
``num_layers``; finding that out from a failed job costs a spot wait and a launch, so it is checked here first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sagemaker_mlops.core.naming import NAME_PREFIX, is_valid_sagemaker_name
from sagemaker_mlops.core.validation import ParamError, validate_s3_uri
from sagemaker_mlops.training.training_config import OUTPUT_FOLDER

MUST_MATCH = ("num_classes", "image_shape", "num_layers")
BASE_VARIANT = "BaseModel"
# Runs nobody asked for by hand: on a fresh install, unpausing pipeline 2 starts its cron run at once, before
# pipeline 1 has published a model. Such a run without a base model skips (with the reason) instead of failing.
AUTOMATIC_RUN_TYPES = frozenset({"scheduled", "asset_triggered"})
NO_BASE_FIX = "run pipeline 1 (mnist_train_deploy) first, or set base_model_uri or base_training_job"


def skips_without_base(run_type: object) -> bool:
    """Whether a run of this type (DagRun.run_type) that finds no base model ends skipped rather than failed."""
    return str(getattr(run_type, "value", run_type)) in AUTOMATIC_RUN_TYPES


@dataclass(frozen=True)
class BaseModel:
    """The model this run starts from, and where that choice came from (param, job, or Asset event)."""

    model_uri: str
    source: str
    training_job_name: str | None = None
    hyperparameters: dict[str, str] | None = None
    validation_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_base_training_job(name: object, field: str = "base_training_job") -> str | None:
    """A base training job the Airflow role may read, or None (none given). Why: the role's IAM policy scopes
    DescribeTrainingJob to the package's ``mlops-*`` names, so another job would fail as a raw AccessDenied in
    ``resolve_base_model``; refused here, before any AWS call, naming the field and the fix."""
    if name is None or name == "":
        return None
    if not is_valid_sagemaker_name(name):
        raise ParamError(
            field,
            f"{name!r} is not a SageMaker training job name",
            "give the name of a completed training job (letters, digits and hyphens, at most 63 characters)",
        )
    if not str(name).startswith(f"{NAME_PREFIX}-"):
        raise ParamError(
            field,
            f"training job {name!r} is not one of this package's: the Airflow role may read only training jobs "
            f"named {NAME_PREFIX}-* (include/iam/airflow-execution-role-policy-*.json)",
            f"name a completed training job a run of this package trained (its name starts with {NAME_PREFIX}-), "
            "or copy that job's model.tar.gz into the data bucket and give its S3 URI as base_model_uri",
        )
    return str(name)


def from_job(job: Mapping[str, Any], source: str) -> BaseModel:
    """A base model read from DescribeTrainingJob, the way the SDK's ``Estimator.attach`` reads a job."""
    if job["TrainingJobStatus"] != "Completed":
        raise ParamError(
            "base_training_job",
            f"job {job['TrainingJobName']} is {job['TrainingJobStatus']}, not Completed, so it has no model",
            "name a completed image-classification training job",
        )
    metrics = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
    return BaseModel(
        model_uri=job["ModelArtifacts"]["S3ModelArtifacts"],
        source=source,
        training_job_name=job["TrainingJobName"],
        hyperparameters=dict(job.get("HyperParameters", {})),
        validation_accuracy=metrics.get("validation:accuracy"),
    )


def latest_event_extra(events: list[tuple[datetime, Mapping[str, Any]]]) -> Mapping[str, Any] | None:
    """events: (timestamp, extra) from the model Assets; the newest extra naming a training job, or None."""
    usable = [(stamp, extra) for stamp, extra in events if extra.get("training_job_name")]
    return max(usable, key=lambda item: item[0])[1] if usable else None


def already_published(extras: list[Mapping[str, Any]], training_job_name: str) -> bool:
    """Whether an Asset event already announced this training job's model (a cleared run publishing it again
    would start pipeline 2 a second time on the same model)."""
    return any(extra.get("training_job_name") == training_job_name for extra in extras)


def compatibility_errors(
    base_hyperparameters: Mapping[str, str], run_hyperparameters: Mapping[str, Any], base_name: str
) -> list[ParamError]:
    """num_classes, image_shape and num_layers must equal the base job's (incremental-training rule)."""
    errors = []
    for name in MUST_MATCH:
        base, ours = base_hyperparameters.get(name), run_hyperparameters.get(name)
        if base is None:
            continue  # the base job relied on the algorithm's default; SageMaker itself will judge
        if str(base).replace(" ", "") != str(ours).replace(" ", ""):
            errors.append(
                ParamError(
                    name,
                    f"base model {base_name} was trained with {name}={base}, this run asks "
                    f"for {ours}; incremental training needs them equal",
                    f"set {name} to {base}, or train from scratch with pipeline 1",
                )
            )
    return errors


CHECKPOINTS_FOLDER = "checkpoints"


def checkpoint_prefix(bucket: str, prefix: str) -> str:
    """``s3://<bucket>/<prefix>/checkpoints/``: this DAG's checkpoints, one folder per training job under it."""
    return f"s3://{bucket}/{prefix.strip('/')}/{CHECKPOINTS_FOLDER}/"


def checkpoint_errors(bucket: str, prefix: str, resume_uri: object, base_uri: str | None = None) -> list[ParamError]:
    """A resume URI must lie under this DAG's checkpoint prefix (SageMaker writes the job's checkpoints back there),
    never under the base model's folder: a triggerer must not make a job read or overwrite what it does not own."""
    if resume_uri in (None, ""):
        return []
    try:
        uri = validate_s3_uri(resume_uri, "resume_checkpoint_uri", require_key=True)
    except ParamError as error:
        return list(error.errors)
    own = checkpoint_prefix(bucket, prefix)
    errors = []
    if not uri.rstrip("/").startswith(own) or uri.rstrip("/") + "/" == own:
        errors.append(
            ParamError(
                "resume_checkpoint_uri",
                f"{uri} is not under this DAG's checkpoint prefix {own}",
                f"name an earlier run's folder under {own} (e.g. {own}<its training job name>), or leave it empty",
            )
        )
    if base_uri:
        base_folder = base_uri.rsplit("/", 1)[0].rstrip("/") + "/"
        if (uri.rstrip("/") + "/").startswith(base_folder) or base_folder.startswith(uri.rstrip("/") + "/"):
            errors.append(
                ParamError(
                    "resume_checkpoint_uri",
                    f"{uri} overlaps the base model's folder {base_folder}; the job would write checkpoints there",
                    f"name a folder under {own}, or leave it empty",
                )
            )
    return errors


def checkpoint_uri(bucket: str, prefix: str, job_name: str, resume_uri: str | None) -> str:
    """Where this job syncs /opt/ml/checkpoints: a given URI (checked by :func:`checkpoint_errors`) resumes an
    interrupted run, else this job's own folder under the DAG's checkpoint prefix."""
    if resume_uri:
        return validate_s3_uri(resume_uri, "resume_checkpoint_uri", require_key=True)
    return f"{checkpoint_prefix(bucket, prefix)}{job_name}"


def protection_errors(bucket: str, prefix: str, base_uri: str) -> list[ParamError]:
    """This run writes under s3://bucket/prefix/ (its data, checkpoints, its own job's output): the base model must
    not lie there (never overwrite it) — except in an earlier training job's output folder
    ``<prefix>/output/<job>/``, which SageMaker wrote for that job alone and no later job writes (each writes only
    under its own, unique job name). That is where pipeline 2's own promoted models live: once one is the registry's
    champion, the next run (cron, drift, a new model Asset) retrains from it."""
    base_bucket, _, base_key = base_uri[5:].partition("/")
    root = prefix.strip("/")
    if base_bucket != bucket or not (base_key == root or base_key.startswith(f"{root}/")):
        return []
    earlier_job, _, inside = base_key.removeprefix(f"{root}/{OUTPUT_FOLDER}/").partition("/")
    if base_key.startswith(f"{root}/{OUTPUT_FOLDER}/") and earlier_job and inside:
        return []
    return [
        ParamError(
            "s3_prefix",
            f"s3://{bucket}/{root}/ holds the base model {base_uri}; uploading this "
            "run's data there could overwrite what the base model came from",
            "use another bucket (the book uses a second one) or another prefix",
        )
    ]
