"""Pipeline 2's base model (param, registry or Asset, checked before any spend), the champion/challenger decision,
and publishing a tested model as an Asset event for the next pipeline."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowSkipException

from sagemaker_mlops.core.airflow_tasks import (
    CHAMPION_ASSET,
    MODEL_ASSET,
    bad_input_fails_fast,
    s3_hook,
    sagemaker_client,
    store_beside_model,
)
from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.core.validation import ParamError, validate_s3_uri
from sagemaker_mlops.registry import registry_config
from sagemaker_mlops.training import incremental
from sagemaker_mlops.training import job as training
from sagemaker_mlops.training.spec import check_training_spec, training_spec

log = logging.getLogger(__name__)


# How many of an Asset's newest events publish_model reads to find an earlier announcement of the same model.
PUBLISHED_LOOKBACK = 50


@task(outlets=[MODEL_ASSET], inlets=[MODEL_ASSET, CHAMPION_ASSET])
def publish_model(
    config: dict[str, Any],
    result: dict[str, Any],
    smoke: dict[str, Any],
    decision: dict[str, Any] | None = None,
    package: dict[str, Any] | None = None,
    **context: Any,
) -> dict:
    """Announce the tested model as an Asset event (job, artifact, accuracy, registry package in its extra) for
    the next pipeline; skipped when a champion/challenger decision says not to promote, and a champion event
    also when the registry's package is not Approved (a person rejected it, or it awaits one): the registry is
    the truth, and mnist_deploy_production deploys only an Approved package."""
    cfg = RunConfig.from_dict(config)
    if decision is not None and not decision["promote"]:
        raise AirflowSkipException(f"Not promoted: {decision['reason']}")
    status = (package or {}).get("status")
    champion = any(asset.name == CHAMPION_ASSET.name for asset in context["task"].outlets)
    if champion and package is not None and status != registry_config.APPROVED:
        raise AirflowSkipException(
            f"Package {package['model_package_arn']} is {status}, not {registry_config.APPROVED}: "
            f"no {CHAMPION_ASSET.name} event."
        )
    for asset in context["task"].outlets:
        events = context["inlet_events"][asset][-PUBLISHED_LOOKBACK:]
        if incremental.already_published([event.extra or {} for event in events], result["training_job_name"]):
            raise AirflowSkipException(
                f"{asset.name} already has an event for training job {result['training_job_name']} (a cleared or "
                "re-run run): not announcing the same model twice, so no second downstream run starts."
            )
    extra = {
        "training_job_name": result["training_job_name"],
        "model_artifact": result["model_artifact"],
        "validation_accuracy": result["validation_accuracy"],
        "smoke_accuracy": smoke["accuracy"],
        "region": cfg.region,
        "bucket": cfg.bucket,
        "prefix": cfg.prefix,
        "dag_id": cfg.dag_id,
        "run_id": cfg.run_id,
        "hyperparameters": result.get("hyperparameters", cfg.hyperparameters),  # a tuned model's own
        "model_package_arn": (package or {}).get("model_package_arn"),
    }
    for asset in context["task"].outlets:
        context["outlet_events"][asset].extra = extra
        log.info("Published %s: %s", asset.name, extra)
    return extra


@task(inlets=[MODEL_ASSET, CHAMPION_ASSET])
def resolve_base_model(config: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Pick the base model (param URI, param job, the latest Approved package of the registry group, or — the
    group being empty — the latest model Asset), check it exists and is compatible, and validate the spot
    settings — all before anything is created or billed."""
    cfg = RunConfig.from_dict(config)
    params = context["params"]
    package_arn = None
    with bad_input_fails_fast():
        if params.get("base_model_uri"):
            uri = validate_s3_uri(params["base_model_uri"], "base_model_uri", require_key=True)
            base = incremental.BaseModel(model_uri=uri, source="base_model_uri")
            log.warning(
                "Base model given as a URI: its num_classes/image_shape/num_layers cannot be read before "
                "training; give base_training_job instead to have them checked first."
            )
        else:
            job_name, source = params.get("base_training_job"), "base_training_job"
            if not job_name:
                job_name, package_arn = _registry_base(cfg, context["dag_run"])
                source = f"model registry {package_arn}" if package_arn else source
            if not job_name:
                events = [
                    (event.timestamp, event.extra or {})
                    for asset in (MODEL_ASSET, CHAMPION_ASSET)
                    for event in context["inlet_events"][asset][-1:]
                ]
                latest = incremental.latest_event_extra(events)
                if latest is None:
                    _skip_if_automatic(context["dag_run"])
                    raise ParamError(
                        "base_model_uri",
                        "no base model given and no model Asset event exists yet",
                        incremental.NO_BASE_FIX,
                    )
                job_name, source = latest["training_job_name"], "latest model Asset event"
            # A name from the registry or an Asset event is checked too: the role reads mlops-* jobs only.
            incremental.check_base_training_job(job_name)
            job = training.describe_or_none(sagemaker_client(cfg), job_name)
            if job is None:
                if source == "latest model Asset event":  # e.g. the local emulator restarted empty
                    log.warning("The latest model Asset event names %s: not in %s", job_name, cfg.region)
                    _skip_if_automatic(context["dag_run"])
                raise ParamError(
                    "base_training_job",
                    f"training job {job_name!r} does not exist in {cfg.region}",
                    "name a completed training job of this account and region",
                )
            base = incremental.from_job(job, source)
        bucket, _, key = base.model_uri[5:].partition("/")
        if not s3_hook(cfg).check_for_key(key, bucket):
            raise ParamError("base_model_uri", f"{base.model_uri} does not exist", "point at an existing model.tar.gz")
        errors = incremental.compatibility_errors(
            base.hyperparameters or {}, cfg.hyperparameters, base.training_job_name or base.model_uri
        )
        errors += incremental.protection_errors(cfg.bucket, cfg.prefix, base.model_uri)
        errors += incremental.checkpoint_errors(
            cfg.bucket, cfg.prefix, params.get("resume_checkpoint_uri"), base.model_uri
        )
        settings = {
            "model_uri": base.model_uri,
            "use_spot": bool(params.get("use_spot")),
            "max_wait_seconds": params.get("max_wait_seconds") if params.get("use_spot") else None,
            "checkpoint_s3_uri": incremental.checkpoint_uri(
                cfg.bucket, cfg.prefix, cfg.names["job"], None if errors else params.get("resume_checkpoint_uri")
            ),
        }
        try:  # the whole request, with a placeholder sample count: spot/max-wait/URI rules fail here, not later
            check_training_spec(training_spec(cfg, 1, settings))
        except ParamError as err:
            errors.append(err)
        if errors:
            raise ParamError.combine(errors)
    log.info("Base model: %s", base.to_dict())
    return {"base": base.to_dict(), "base_model_package_arn": package_arn, **settings}


@task
def resolve_champion(config: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """What the new model must beat: the group's current Approved package (read now), whatever base the form
    named. A base named in the form (``base_training_job``/``base_model_uri``) or by an Asset event only seeds
    training: a triggerer could otherwise name a weak base to get a model Approved over a better champion. When
    the base already is that package, or the group has no Approved package yet (nothing to protect), the base is
    what it is compared with. Same shape as ``resolve_base_model``'s result (and the tuning DAG's champion), so
    the deploy, holdout evaluation and decision read it unchanged; its artifact must exist (checked here)."""
    from sagemaker_mlops.registry import tasks as registry_tasks

    cfg = RunConfig.from_dict(config)
    if base.get("base_model_package_arn"):
        return base  # the registry's champion is the base
    group = registry_tasks.group_of(cfg)
    found = registry_tasks.champion_of(cfg)
    if found is None:
        log.info("Group %s has no Approved package: the new model is compared with its base", group)
        return base
    champion = incremental.BaseModel(
        model_uri=found["model_data_url"],
        source=f"model registry {found['model_package_arn']}",
        training_job_name=found["training_job_name"],
    )
    log.info("Champion of %s (the base %s only seeds training): %s", group, base["base"], champion.to_dict())
    return {"base": champion.to_dict(), "base_model_package_arn": found["model_package_arn"], "compared_as": "champion"}


def _registry_base(cfg: RunConfig, dag_run: Any) -> tuple[str | None, str | None]:
    """(training job, package ARN) of the group's latest Approved package, read now (a package a person rejected
    is never used); (None, None) when the group is empty, so the Asset event decides. A group with versions but
    none Approved has no base: the run skips (automatic) or fails (manual) rather than use a rejected model."""
    from sagemaker_mlops.registry import tasks as registry_tasks

    client, group = sagemaker_client(cfg), registry_tasks.group_of(cfg)
    package = registry_tasks.latest_approved(client, group)
    if package is None:
        if registry_tasks.group_is_empty(client, group):
            return None, None
        _skip_if_automatic(dag_run)
        raise ParamError(
            "base_training_job",
            f"model package group {group} has no Approved package (a person may have rejected them)",
            "approve a package in the SageMaker console or with aws sagemaker update-model-package, "
            "or name base_training_job",
        )
    base = registry_config.package_base(package)
    if not base["training_job_name"]:
        raise ParamError(
            "base_training_job",
            f"Approved package {base['model_package_arn']} names no training job in CustomerMetadataProperties",
            "name base_training_job or base_model_uri",
        )
    return base["training_job_name"], base["model_package_arn"]


def _skip_if_automatic(dag_run: Any) -> None:
    """A scheduled or asset-triggered run with no base model yet (a fresh install) skips everything downstream,
    saying why; a manual trigger without one fails, naming the fix."""
    from airflow.exceptions import AirflowSkipException

    from sagemaker_mlops.training import incremental

    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    if incremental.skips_without_base(run_type):
        raise AirflowSkipException(
            f"No base model yet for this {run_type} run: nothing to train "
            f"incrementally, so nothing is created. To start: {incremental.NO_BASE_FIX}."
        )


@task
def decide_promotion(
    config: dict[str, Any],
    result: dict[str, Any],
    smoke: dict[str, Any],
    incremental: dict[str, Any] | None,
    evaluation: dict[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any] | None:
    """Champion/challenger on the admin-pinned holdout: promote only if the new model's batch-transform accuracy
    is at least the champion's plus the margin, both scored on the very same pinned images (never on data the
    triggering run brought). Without a pinned holdout nothing is promoted: ``pending``, the package waits for a
    person and no champion event is emitted. The decision and its reason are kept next to the model.

    ``incremental``: pipeline 2's base model, or the tuning DAG's champion (``compared_as: "champion"``); with
    none (the tuning DAG on an empty group) there is nothing to compare: None, and the registry's first-champion
    rule decides."""
    from sagemaker_mlops.evaluation import scoring

    if not incremental:
        log.info("Champion/challenger: no champion to compare with")
        return None
    cfg = RunConfig.from_dict(config)
    margin = float(context["params"].get("min_improvement") or 0.0)
    label = incremental.get("compared_as", "base model")
    if not evaluation or not evaluation.get("pinned") or not evaluation.get("champion"):
        reason = (
            f"{(evaluation or {}).get('reason', 'no pinned holdout')}: promotion is decided only on the "
            "admin-pinned holdout, so this package waits for a person (PendingManualApproval)"
        )
        decision = {
            "promote": False,
            "pending": True,
            "reason": reason,
            "base": incremental["base"],
            "challenger_job": result["training_job_name"],
            "min_improvement": margin,
        }
    else:
        challenger, champion = evaluation["challenger"], evaluation["champion"]
        promote, reason = scoring.compare(challenger, champion, margin)
        decision = {
            "promote": promote,
            "challenger_accuracy": challenger["accuracy"],
            "base_accuracy": champion["accuracy"],
            "min_improvement": margin,
            "reason": reason.replace("champion", label) if label != "champion" else reason,
            "holdout": evaluation["holdout"],
            "base": incremental["base"],
            "challenger_job": result["training_job_name"],
        }
    store_beside_model(s3_hook(cfg), result, "promotion.json", decision)
    log.info("Champion/challenger: %s", decision["reason"])
    return decision
