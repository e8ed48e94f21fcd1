"""The run's configuration: trigger-form Params, Airflow Variables as account defaults, validated in one place.

Pointing the package at a real account takes only the ``aws_default`` connection and a few Variables
(``sagemaker_mlops_bucket``, ``sagemaker_mlops_incremental_bucket`` for pipeline 2, ``sagemaker_mlops_role_arn``,
optionally ``sagemaker_mlops_region``); every Param left empty falls back to them. :func:`resolve` turns Params +
Variables into a :class:`RunConfig` — or raises one :class:`ParamError` listing every problem — before anything is
created or billed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sagemaker_mlops.core import ceilings, images, naming, prices, validation
from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.core.form import DEPLOYMENT, HYPERPARAMETERS, STORAGE, TRAINING
from sagemaker_mlops.core.form import param as _param
from sagemaker_mlops.core.tags import resource_tags
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.registry import registry_config
from sagemaker_mlops.run import budget
from sagemaker_mlops.training import incremental, training_config
from sagemaker_mlops.training.spec import MAX_WAIT_CAP, as_form_fields, check_training_spec, training_spec
from sagemaker_mlops.tuning import tuning_config

VARIABLE_PREFIX = "sagemaker_mlops_"
BOOK_BATCH1_URL = "https://bit.ly/37zmQeb"
BOOK_BATCH2_URL = "https://bit.ly/3KyonQE"
# The files the book's short links point at (raw.githubusercontent.com/.../chapter06/batch1.zip, batch2.zip).
BOOK_DATASET_FILES = {BOOK_BATCH1_URL: "batch1.zip", BOOK_BATCH2_URL: "batch2.zip"}
DATASET_MIRROR_VARIABLE = f"{VARIABLE_PREFIX}dataset_mirror"
# Admin Variables bounding where a run may read and write: the form may only choose within them.
ALLOWED_BUCKETS_VARIABLE = f"{VARIABLE_PREFIX}allowed_buckets"
ALLOWED_PREFIXES_VARIABLE = f"{VARIABLE_PREFIX}allowed_prefixes"
# Folders the package writes under a run's prefix: a form prefix reaching into them would mix in another run's
# data (a content-addressed dataset, another job's checkpoints).
RESERVED_PREFIX_PARTS = ("datasets", "checkpoints")
INFERENCE_TYPES = ["ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge", "ml.g4dn.xlarge"]
HYPERPARAMETER_NAMES = (
    "num_layers",
    "image_shape",
    "num_classes",
    "mini_batch_size",
    "epochs",
    "learning_rate",
    "top_k",
    "precision_dtype",
)


def common_params(
    *, dataset_url: str, prefix: str, bucket_variable: str = f"{VARIABLE_PREFIX}bucket"
) -> dict[str, Any]:
    """The trigger form shared by both pipelines (the book's values as defaults): on top the fields a user changes,
    the rest in collapsed sections."""
    return {
        "dataset_url": _param(
            dataset_url,
            "string",
            "Dataset URL",
            "Zip in the book's layout (train/, validation/, train_lst/, validation_lst/, test/). "
            "Streamed to disk, never held in memory.",
            minLength=8,
        ),
        "dataset_sha256": _param(
            None,
            ["null", "string"],
            "Dataset SHA-256",
            "Optional: the zip's SHA-256; the run stops before uploading when it differs.",
            pattern="^[0-9a-fA-F]{64}$",
        ),
        "training_instance_type": _param(
            "ml.p2.xlarge",
            "string",
            "Training instance type",
            "GPU types only (the algorithm's P2, P3, G4dn, G5). ml.p2 is retired in many "
            "accounts: ml.g4dn.xlarge or ml.g5.xlarge are supported substitutes.",
            enum=list(training_config.GPU_TRAINING_TYPES),
        ),
        "bucket": _param(
            None,
            ["null", "string"],
            "S3 bucket",
            f"Bucket for inputs and outputs. Empty: Variable {bucket_variable}; another bucket must be listed in "
            f"Variable {ALLOWED_BUCKETS_VARIABLE}.",
            STORAGE,
        ),
        "s3_prefix": _param(
            prefix,
            "string",
            "S3 prefix",
            f"Key prefix for this run's channels and outputs: {prefix} or below it, or one listed in Variable "
            f"{ALLOWED_PREFIXES_VARIABLE}.",
            STORAGE,
            minLength=1,
        ),
        "create_bucket": _param(
            True,
            "boolean",
            "Create the bucket if missing",
            "Created with Block Public Access and default encryption. Never emptied or deleted.",
            STORAGE,
        ),
        "role_arn": _param(
            None,
            ["null", "string"],
            "SageMaker execution role ARN",
            f"Role SageMaker assumes. Empty: Variable {VARIABLE_PREFIX}role_arn.",
            STORAGE,
        ),
        "region": _param(
            None,
            ["null", "string"],
            "AWS region",
            f"Empty: Variable {VARIABLE_PREFIX}region, else the AWS connection's region. Must be in the admin's list "
            f"(Variable {VARIABLE_PREFIX}allowed_regions; default: the priced regions).",
            STORAGE,
        ),
        "max_cost_usd": _param(
            None,
            ["null", "number"],
            "Budget (USD)",
            "The run fails before anything is created when its worst case (every job to its limit, their volumes, the "
            f"test endpoint) costs more. Empty: Variable {VARIABLE_PREFIX}max_cost_usd, else 200; may lower that "
            "ceiling, never raise it.",
            STORAGE,
            exclusiveMinimum=0,
        ),
        "training_image": _param(
            None,
            ["null", "string"],
            "Training image URI",
            "Empty: the region's built-in image-classification:1 image. Another image only from a repository the "
            f"admin allows (Variable {VARIABLE_PREFIX}allowed_image_repositories).",
            STORAGE,
        ),
        "training_instance_count": _param(
            2,
            "integer",
            "Training instance count",
            "Distributed training across this many instances.",
            TRAINING,
            minimum=1,
            maximum=20,
        ),
        "volume_size_gb": _param(
            30, "integer", "Training volume (GB)", "EBS volume per instance.", TRAINING, minimum=1, maximum=16384
        ),
        "max_runtime_seconds": _param(
            86400,
            "integer",
            "Max runtime (s)",
            "SageMaker stops the job after this long.",
            TRAINING,
            minimum=60,
            maximum=training_config.MAX_RUNTIME_LIMIT_SECONDS,
        ),
        "network_isolation": _param(
            True,
            "boolean",
            "Network isolation",
            "Run the training and inference containers without network access. Off only when the admin allows it "
            f"(Variable {VARIABLE_PREFIX}allow_network_access).",
            TRAINING,
        ),
        "capacity_retries": _param(
            2,
            "integer",
            "Capacity retries",
            "How often a job that finds no capacity (CapacityError, or ResourceLimitExceeded while other jobs hold "
            "the instances) is tried again, after a back-off, as <job>-a2, <job>-a3. Bad input is never retried.",
            TRAINING,
            minimum=0,
            maximum=5,
        ),
        "num_layers": _param(
            18,
            "integer",
            "num_layers",
            "Network depth.",
            HYPERPARAMETERS,
            enum=list(training_config.NUM_LAYERS_CHOICES),
        ),
        "image_shape": _param(
            "1,28,28",
            "string",
            "image_shape",
            "channels,height,width of the input.",
            HYPERPARAMETERS,
            pattern=r"^[13],\d+,\d+$",
        ),
        "num_classes": _param(10, "integer", "num_classes", "Number of labels.", HYPERPARAMETERS, minimum=2),
        "mini_batch_size": _param(100, "integer", "mini_batch_size", "Batch size.", HYPERPARAMETERS, minimum=1),
        "epochs": _param(
            3, "integer", "epochs", "Training passes over the data.", HYPERPARAMETERS, minimum=1, maximum=1000
        ),
        "learning_rate": _param(
            0.01, "number", "learning_rate", "SGD learning rate.", HYPERPARAMETERS, exclusiveMinimum=0, maximum=1
        ),
        "top_k": _param(5, "integer", "top_k", "Report top-k accuracy.", HYPERPARAMETERS, minimum=2),
        "precision_dtype": _param(
            "float32",
            "string",
            "precision_dtype",
            "Training precision.",
            HYPERPARAMETERS,
            enum=list(training_config.PRECISION_CHOICES),
        ),
        "inference_instance_type": _param(
            "ml.m5.xlarge",
            "string",
            "Inference instance type",
            "Instance type of the test endpoint.",
            DEPLOYMENT,
            enum=INFERENCE_TYPES,
        ),
        "inference_instance_count": _param(
            1, "integer", "Inference instance count", "Endpoint instances.", DEPLOYMENT, minimum=1, maximum=10
        ),
        "smoke_sample_size": _param(
            50,
            "integer",
            "Smoke-test sample size",
            "Labeled validation images sent to the endpoint to measure accuracy.",
            DEPLOYMENT,
            minimum=1,
            maximum=1000,
        ),
        "min_accuracy": _param(
            0.7,
            "number",
            "Minimum smoke-test accuracy",
            "The run fails (and still tears everything down) below this.",
            DEPLOYMENT,
            minimum=0,
            maximum=1,
        ),
        "keep_endpoint": _param(
            False,
            "boolean",
            "Keep the endpoint",
            "Skip the teardown of endpoint, endpoint config and model (they keep billing!).",
            DEPLOYMENT,
        ),
        "endpoint_ttl_hours": _param(
            24,
            "integer",
            "Expiry tag (hours)",
            "Resources are tagged mlops:expires-at = now + this, for janitors.",
            DEPLOYMENT,
            minimum=1,
            maximum=24 * 30,
        ),
        "model_package_group": _param(
            None,
            ["null", "string"],
            "Model package group",
            "Model Registry group the tested model is registered in. "
            f"Empty: Variable {VARIABLE_PREFIX}model_package_group, else mnist-image-classifier.",
            DEPLOYMENT,
            pattern="^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        ),
    }


def _pick(
    params: Mapping[str, Any], name: str, variable: Callable[[str], str | None], variable_name: str | None = None
) -> Any:
    value = params.get(name)
    if value in (None, ""):
        value = variable(variable_name or VARIABLE_PREFIX + name)
    return value


def _listed(value: str | None) -> list[str]:
    """A comma-separated Variable as a list (blanks dropped)."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def check_bucket_allowed(form_bucket: Any, admin_bucket: str | None, bucket_variable: str, allowed: str | None) -> None:
    """The form may name only the admin's bucket (``bucket_variable``) or one listed in
    ``sagemaker_mlops_allowed_buckets``; empty picks the admin's. Why: the role may write every bucket it can
    reach, and a triggerer should not choose where another team's data is overwritten."""
    if form_bucket in (None, ""):
        return
    try:
        validation.validate_bucket_name(form_bucket, "bucket")
    except ParamError:
        return  # the name's own check reports it
    permitted = {bucket for bucket in (admin_bucket, *_listed(allowed)) if bucket}
    if form_bucket not in permitted:
        shown = ", ".join(sorted(permitted)) or "none"
        raise ParamError(
            "bucket",
            f"{form_bucket!r} is not a bucket this DAG may use (allowed: {shown}; Variable {bucket_variable} and "
            f"Variable {ALLOWED_BUCKETS_VARIABLE})",
            f"leave bucket empty to use Variable {bucket_variable}, or ask an admin to add {form_bucket} to Variable "
            f"{ALLOWED_BUCKETS_VARIABLE} (comma-separated)",
        )


def check_prefix_allowed(prefix: Any, dag_prefix: str | None, allowed: str | None) -> None:
    """The form's ``s3_prefix`` must be this DAG's own prefix (its Param default) or below it — or, when an admin
    lists prefixes in ``sagemaker_mlops_allowed_prefixes``, one of those or below — and must not reach into the
    folders the package writes itself (``datasets/``, ``checkpoints/``). So a run cannot write into another DAG's
    prefix (or the base model's, under another DAG's prefix) or into another run's data."""
    try:
        text = validation.validate_s3_prefix(prefix, "s3_prefix")
    except ParamError:
        return  # the prefix's own check reports it
    roots = _listed(allowed) or ([dag_prefix] if dag_prefix else [])
    reserved = [part for part in text.split("/") if part in RESERVED_PREFIX_PARTS]
    if reserved:
        raise ParamError(
            "s3_prefix",
            f"{text!r} reaches into {reserved[0]}/, where the package keeps other runs' "
            f"{'datasets' if reserved[0] == 'datasets' else 'checkpoints'}",
            f"use {roots[0] if roots else 'a prefix'} or a folder below it without {reserved[0]!r} in its path",
        )
    if roots and not any(text == root or text.startswith(root.rstrip("/") + "/") for root in roots):
        source = f"Variable {ALLOWED_PREFIXES_VARIABLE}" if _listed(allowed) else "this DAG's default prefix"
        raise ParamError(
            "s3_prefix",
            f"{text!r} is outside the prefixes this DAG may write ({', '.join(roots)}: {source}); it could reach "
            "into another DAG's data or a base model",
            f"use {roots[0]} or a folder below it, or ask an admin to list the prefix in Variable "
            f"{ALLOWED_PREFIXES_VARIABLE} (comma-separated)",
        )


def mirrored_dataset_url(url: Any, mirror: str | None) -> Any:
    """The form's dataset URL, with a book default swapped for the mirror's file of the same name.

    Why: the trigger form defaults to the book's links, which a machine without internet (the local emulator,
    ``make airflow``) cannot fetch. Setting the Variable ``sagemaker_mlops_dataset_mirror`` (e.g. to the local
    dataset server's ``http://127.0.0.1:8765``) makes those defaults resolve to ``<mirror>/batch1.zip`` /
    ``batch2.zip``; any other URL is kept, and without the Variable (a real account) the book's URLs stay.
    """
    if not mirror or url not in BOOK_DATASET_FILES:
        return url
    base = validation.validate_url(mirror, DATASET_MIRROR_VARIABLE)
    return f"{base.rstrip('/')}/{BOOK_DATASET_FILES[url]}"


def resolve(
    params: Mapping[str, Any],
    *,
    dag_id: str,
    run_id: str,
    aws_conn_id: str,
    variable: Callable[[str], str | None],
    connection_region: Callable[[], str | None],
    now: datetime | None = None,
    bucket_variable: str | None = None,
    endpoint_variants: int = 1,
    declared: Collection[str] | None = None,
    dag_prefix: str | None = None,
) -> RunConfig:
    """Params + Variables → a validated RunConfig, or one ParamError listing every problem (nothing is created).

    Ranges and enums are the Params' schema (the form and the API refuse values outside them); this gathers what
    only the run can know — Variables, the region, the region's image — and the request builder's own rules
    (:func:`check_training_spec`) and the budget guard (:func:`check_budget`; ``endpoint_variants``: models served
    side by side on the test endpoint), the admin's ceilings (:func:`check_ceilings`), all through one
    :func:`validation.collect_errors`. ``declared``: the DAG's Param names; conf keys outside them are refused
    (Airflow merges undeclared conf into ``params`` unvalidated) and nothing here reads them. ``dag_prefix``: the
    DAG's own ``s3_prefix`` default, the root the form's prefix must stay under (unless an admin lists others).
    """
    undeclared = sorted(set(params) - set(declared)) if declared is not None else []
    if declared is not None:
        params = {name: value for name, value in params.items() if name in declared}
    region = _pick(params, "region", variable) or connection_region()
    found: dict[str, Any] = {}

    def check_region() -> None:
        if not region:
            raise ParamError(
                "region",
                "no region in the form, the Variable or the AWS connection",
                f"set the region field, Variable {VARIABLE_PREFIX}region, or the connection's region_name extra",
            )
        validation.validate_region(region)
        ceilings.one_of("region", region, variable, ceilings.REGIONS, default=prices.priced_regions())
        try:
            found["image"] = images.training_image_uri(region, params.get("training_image") or None)
        except ParamError as error:
            raise ParamError.combine(as_form_fields(error)) from None
        images.check_image_source(
            found["image"],
            region,
            ceilings.names(variable, ceilings.IMAGE_REPOSITORIES),
            variable=ceilings.IMAGE_REPOSITORIES.variable,
        )

    try:  # the form's book defaults resolve to a local mirror when the Variable is set (no internet there)
        dataset_url, mirror_error = (
            mirrored_dataset_url(params.get("dataset_url"), variable(DATASET_MIRROR_VARIABLE)),
            None,
        )
    except ParamError as error:
        dataset_url, mirror_error = params.get("dataset_url"), error

    def check_dataset_url() -> None:
        if mirror_error is not None:
            raise mirror_error
        validation.validate_url(dataset_url, "dataset_url")

    now = now or datetime.now(UTC)
    expires = now + timedelta(hours=int(params.get("endpoint_ttl_hours") or 24))
    kinds = {"job": "train", "model": "model", "base_model": "basemodel", "endpoint_config": "epc", "endpoint": "ep"}
    names = {key: naming.resource_name(naming.NAME_PREFIX, kind, dag_id, run_id) for key, kind in kinds.items()}
    names["tuning_job"] = tuning_config.tuning_job_name(dag_id, run_id)  # 32 characters at most (pipeline 3)
    cfg = RunConfig(
        dag_id=dag_id,
        run_id=run_id,
        aws_conn_id=aws_conn_id,
        region=region,
        bucket=_pick(params, "bucket", variable, bucket_variable),
        prefix=params.get("s3_prefix"),
        create_bucket=bool(params.get("create_bucket")),
        role_arn=_pick(params, "role_arn", variable),
        image_uri="",
        # Logged and passed through XCom: no query string (a pre-signed URL's signature). The download task reads
        # the full URL from the run's params (datasets.tasks._full_dataset_url).
        dataset_url=validation.redact_url(dataset_url) if isinstance(dataset_url, str) else dataset_url,
        dataset_sha256=params.get("dataset_sha256"),
        training_instance_type=params.get("training_instance_type"),
        training_instance_count=params.get("training_instance_count"),
        volume_size_gb=params.get("volume_size_gb"),
        max_runtime_seconds=params.get("max_runtime_seconds"),
        network_isolation=bool(params.get("network_isolation")),
        hyperparameters={name: params.get(name) for name in HYPERPARAMETER_NAMES},
        inference_instance_type=params.get("inference_instance_type"),
        inference_instance_count=params.get("inference_instance_count"),
        smoke_sample_size=params.get("smoke_sample_size"),
        min_accuracy=float(params.get("min_accuracy") or 0),
        keep_endpoint=bool(params.get("keep_endpoint")),
        expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        names=names,
        tags=resource_tags(dag_id, run_id, expires),
        extra={"model_package_group": _pick(params, "model_package_group", variable) or registry_config.DEFAULT_GROUP},
    )

    def check_spec() -> None:
        # The image is judged by check_region; a valid stand-in here keeps it from being reported twice.
        spec = training_spec(cfg, num_training_samples=1)
        check_training_spec(dataclasses.replace(spec, image_uri=found.get("image") or images.EXAMPLE_IMAGE_URI))

    admin_bucket_variable = bucket_variable or f"{VARIABLE_PREFIX}bucket"

    validation.collect_errors(
        [
            lambda: validation.refuse_undeclared(undeclared, (), dag_id),
            lambda: check_ceilings(cfg, params, variable),
            lambda: check_bucket_allowed(
                params.get("bucket"),
                variable(admin_bucket_variable),
                admin_bucket_variable,
                variable(ALLOWED_BUCKETS_VARIABLE),
            ),
            lambda: check_prefix_allowed(cfg.prefix, dag_prefix, variable(ALLOWED_PREFIXES_VARIABLE)),
            lambda: _check_resume_uri(cfg, params),
            check_region,
            check_dataset_url,
            lambda: validation.validate_sha256(cfg.dataset_sha256, "dataset_sha256"),
            check_spec,
            lambda: found.update(budget=check_budget(cfg, params, variable, endpoint_variants)),
            lambda: registry_config.validate_group_name(cfg.extra["model_package_group"]),
            lambda: incremental.check_base_training_job(params.get("base_training_job")),  # pipeline 2 only
        ]
    )
    return dataclasses.replace(
        cfg,
        image_uri=found["image"],
        dataset_sha256=validation.validate_sha256(cfg.dataset_sha256, "dataset_sha256"),
        extra={**cfg.extra, "budget": found["budget"]},
    )


def check_ceilings(cfg: RunConfig, params: Mapping[str, Any], variable: Callable[[str], str | None]) -> None:
    """The admin's ceilings (:mod:`sagemaker_mlops.core.ceilings`, Variables the form cannot raise): every value
    outside one is refused naming the field, the ceiling and the Variable."""
    checks: list[Callable[[], object]] = [
        lambda: ceilings.one_of(
            "training_instance_type", cfg.training_instance_type, variable, ceilings.TRAINING_TYPES
        ),
        lambda: ceilings.one_of(
            "inference_instance_type",
            cfg.inference_instance_type,
            variable,
            ceilings.INFERENCE_TYPES,
            default=sorted(prices.table()["inference"]),
        ),
        lambda: ceilings.at_most(
            "training_instance_count", cfg.training_instance_count, variable, ceilings.TRAINING_COUNT
        ),
        lambda: ceilings.at_most(
            "inference_instance_count", cfg.inference_instance_count, variable, ceilings.INFERENCE_COUNT
        ),
        lambda: ceilings.at_most("max_runtime_seconds", cfg.max_runtime_seconds, variable, ceilings.MAX_RUNTIME),
        lambda: ceilings.at_most("volume_size_gb", cfg.volume_size_gb, variable, ceilings.VOLUME),
        lambda: ceilings.at_most(
            "endpoint_ttl_hours", params.get("endpoint_ttl_hours"), variable, ceilings.ENDPOINT_TTL
        ),
        lambda: ceilings.at_most(
            "max_number_of_training_jobs", params.get("max_number_of_training_jobs"), variable, ceilings.TUNING_JOBS
        ),
        lambda: ceilings.at_most(
            "max_parallel_training_jobs", params.get("max_parallel_training_jobs"), variable, ceilings.TUNING_PARALLEL
        ),
    ]
    if not cfg.network_isolation:
        checks.append(lambda: _network_access_allowed(variable))
    validation.collect_errors(checks)


def _network_access_allowed(variable: Callable[[str], str | None]) -> None:
    if not ceilings.flag(variable, ceilings.ALLOW_NETWORK_ACCESS):
        raise ParamError(
            "network_isolation",
            "turning network isolation off is not allowed (the containers run as the execution role; Variable "
            f"{ceilings.ALLOW_NETWORK_ACCESS.variable} is not true)",
            "leave network_isolation on, or ask whoever may edit Variables to set "
            f"{ceilings.ALLOW_NETWORK_ACCESS.variable} to true",
        )


def _check_resume_uri(cfg: RunConfig, params: Mapping[str, Any]) -> None:
    """Pipeline 2's ``resume_checkpoint_uri`` lies under this DAG's checkpoint prefix (the base model is checked
    again once it is known, in resolve_base_model)."""
    if isinstance(cfg.bucket, str) and isinstance(cfg.prefix, str):
        errors = incremental.checkpoint_errors(cfg.bucket, cfg.prefix, params.get("resume_checkpoint_uri"))
        if errors:
            raise ParamError.combine(errors)


def check_budget(
    cfg: RunConfig, params: Mapping[str, Any], variable: Callable[[str], str | None], endpoint_variants: int = 1
) -> dict[str, Any]:
    """The run's worst case (:mod:`.budget`, every term) against max_cost_usd (the form may lower the Variable's
    ceiling, never raise it); raises a ParamError when over, before anything is created. ``params``: the DAG's
    declared, validated Params only. Spot is billed at most its max runtime."""
    spot = bool(params.get("use_spot"))
    family = str(cfg.training_instance_type).rsplit(".", 1)[0]
    numbers = {
        "training_instance_count": cfg.training_instance_count,
        "max_runtime_seconds": cfg.max_runtime_seconds,
        "inference_instance_count": cfg.inference_instance_count,
        "volume_size_gb": cfg.volume_size_gb,
        "endpoint_ttl_hours": params.get("endpoint_ttl_hours") or 24,
    }
    # Fail closed: Param(type="integer") passes 2.0 on, and a budget that prices nothing must never let a run by.
    not_integers = [name for name, n in numbers.items() if isinstance(n, bool) or not isinstance(n, int)]
    if not_integers:
        raise ParamError.combine(
            [
                ParamError(name, f"{numbers[name]!r} is not an integer, so the budget cannot price it", "use e.g. 2")
                for name in not_integers
            ]
        )
    if family not in training_config.GPU_TRAINING_FAMILIES or cfg.inference_instance_type not in INFERENCE_TYPES:
        return {}  # bad types: their own checks name them; nothing is priced until they pass
    try:  # a bad or refused region is named by the region check; an allowed region without a price fails closed
        validation.validate_region(cfg.region)
        ceilings.one_of("region", cfg.region, variable, ceilings.REGIONS, default=prices.priced_regions())
    except ParamError:
        return {}
    trials = params.get("max_number_of_training_jobs")  # the tuning pipeline's: every trial may run its max
    jobs = trials if isinstance(trials, int) and not isinstance(trials, bool) and trials >= 1 else 1
    limit, source = budget.budget_from(params.get(budget.PARAM), variable(budget.VARIABLE))
    worst = budget.worst_case(
        training=budget.TrainingLimits(
            cfg.training_instance_type,
            int(cfg.training_instance_count),
            int(cfg.max_runtime_seconds),
            use_spot=spot,
            max_wait_seconds=params.get("max_wait_seconds") if spot else None,
            jobs=jobs,
            volume_size_gb=int(cfg.volume_size_gb),
        ),
        endpoint=budget.EndpointLimits(
            cfg.inference_instance_type,
            int(cfg.inference_instance_count),
            variants=endpoint_variants,
            kept_hours=int(params.get("endpoint_ttl_hours") or 24) if cfg.keep_endpoint else None,
        ),
        region=str(cfg.region),
    )
    budget.check(worst, limit, source)
    return {**worst, "max_cost_usd": limit, "source": source}


def incremental_params() -> dict[str, Any]:
    """Pipeline 2's extra form fields: the base model, managed spot and checkpoints (the book's part 2 values); the
    base model, spot and resume fields join the top of the form."""
    return {
        "base_model_uri": _param(
            None,
            ["null", "string"],
            "Base model S3 URI",
            "model.tar.gz to start from. Empty: base_training_job, else the latest model "
            "Asset (pipeline 1's, or a promoted pipeline 2 model).",
        ),
        "base_training_job": _param(
            None,
            ["null", "string"],
            "Base training job",
            "A completed training job of this package (named mlops-*) whose model to start from (read like "
            "Estimator.attach).",
        ),
        "use_spot": _param(
            True,
            "boolean",
            "Managed spot training",
            "Train on spot capacity (cheaper, can be interrupted; resumes from checkpoints).",
        ),
        "max_runtime_seconds": _param(
            1800,
            "integer",
            "Max runtime (s)",
            "SageMaker stops the job after this long.",
            TRAINING,
            minimum=60,
            maximum=training_config.MAX_RUNTIME_LIMIT_SECONDS,
        ),
        "max_wait_seconds": _param(
            3600,
            "integer",
            "Max wait (s)",
            "Spot: runtime plus time waiting for capacity; must be >= max runtime.",
            TRAINING,
            minimum=60,
            maximum=MAX_WAIT_CAP,
        ),
        "resume_checkpoint_uri": _param(
            None,
            ["null", "string"],
            "Resume from checkpoints",
            "Checkpoint S3 URI of an interrupted earlier run to continue from, under "
            "s3://<bucket>/<s3_prefix>/checkpoints/. Empty: s3://<bucket>/<s3_prefix>/checkpoints/<job name>.",
        ),
        **champion_params(),
    }


def champion_params() -> dict[str, Any]:
    """The champion/challenger margin: pipeline 2 against its base model, the tuning DAG against the champion."""
    return {
        "min_improvement": _param(
            0.0,
            "number",
            "Minimum improvement to promote",
            "Promote (approve, publish) the new model only if its accuracy >= the base model's (the champion's) "
            "+ this, on the same labeled sample.",
            DEPLOYMENT,
            minimum=0,
            maximum=1,
        ),
    }
