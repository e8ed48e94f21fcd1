"""Pipeline 3's own tasks (hyperparameter tuning); set-up, deploy, smoke test, teardown and publish are tasks.py's.

The tuning job replaces the training job of pipeline 1: its best training job's artifact is what the shared
deploy and smoke-test tasks receive, in the same ``result`` shape as ``training_result``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import TriggerRule, task

from sagemaker_mlops.core import naming, report
from sagemaker_mlops.core.airflow_tasks import (
    AWS_CONN_ID,
    POLL_SECONDS,
    aws_client,
    aws_wait_timeout,
    bad_input_fails_fast,
    s3_hook,
    sagemaker_client,
    store_beside_model,
)
from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.core.form import TRAINING
from sagemaker_mlops.core.form import param as _param
from sagemaker_mlops.training import job as training
from sagemaker_mlops.training import training_config
from sagemaker_mlops.training.spec import training_spec
from sagemaker_mlops.tuning import job as tuning_job
from sagemaker_mlops.tuning import tuning_config, tuning_report

log = logging.getLogger(__name__)

TUNING = "Tuning (the book's HyperparameterTuner)"
# Before the dataset is counted, the mini_batch_size cap is unknown: validate with the algorithm's own maximum.
PLACEHOLDER_SAMPLES = int(tuning_config.TUNABLE_LIMITS["mini_batch_size"][2])


def tuning_params() -> dict[str, Any]:
    """The trigger form's tuning fields: the book's limits on top, the ranges (the guide's) in their section."""
    continuous = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    return {
        "max_number_of_training_jobs": _param(
            20, "integer", "Max training jobs", "Trials in total (the book's max_jobs).", minimum=1, maximum=500
        ),
        # Per trial: the budget guard prices max_number_of_training_jobs x this, so 24 h (pipeline 1's) would make
        # the default worst case 20 x 2 x 24 instance-hours; a trial of the book's size takes minutes.
        "max_runtime_seconds": _param(
            3600,
            "integer",
            "Max runtime per trial (s)",
            "SageMaker stops a trial after this long; the budget guard counts it for every trial.",
            TRAINING,
            minimum=60,
            maximum=training_config.MAX_RUNTIME_LIMIT_SECONDS,
        ),
        "max_parallel_training_jobs": _param(
            3,
            "integer",
            "Max parallel training jobs",
            "Trials at once (the book's max_parallel_jobs); at most 10, AWS's default per tuning job; x instance "
            "count must fit the training quota.",
            minimum=1,
            maximum=tuning_config.MAX_PARALLEL_LIMIT,
        ),
        "tuning_strategy": _param(
            "Bayesian", "string", "Strategy", "Search strategy.", TUNING, enum=list(tuning_config.STRATEGIES)
        ),
        "early_stopping": _param(
            "Auto",
            "string",
            "Early stopping",
            "Auto: SageMaker stops trials unlikely to beat the best.",
            TUNING,
            enum=list(tuning_config.EARLY_STOPPING_TYPES),
        ),
        "tune_learning_rate_min": _param(
            0.001, ["null", "number"], "learning_rate min", "Algorithm range 1e-6..0.5.", TUNING, minimum=1e-6
        ),
        "tune_learning_rate_max": _param(
            0.1, ["null", "number"], "learning_rate max", "Empty min or max: not tuned.", TUNING, maximum=0.5
        ),
        "learning_rate_scaling": _param(
            "Logarithmic",
            "string",
            "learning_rate scaling",
            "How the range is searched.",
            TUNING,
            enum=list(tuning_config.SCALING_TYPES),
        ),
        "tune_mini_batch_size_min": _param(
            16, ["null", "integer"], "mini_batch_size min", "Algorithm range 8..512.", TUNING, minimum=8
        ),
        "tune_mini_batch_size_max": _param(
            128,
            ["null", "integer"],
            "mini_batch_size max",
            "Capped at the number of training images. Empty min or max: not tuned.",
            TUNING,
            maximum=512,
        ),
        "tune_optimizer": _param(
            list(tuning_config.CATEGORICAL_CHOICES["optimizer"]),
            "array",
            "optimizer choices",
            "Empty: not tuned.",
            TUNING,
            items={"type": "string", "enum": list(tuning_config.CATEGORICAL_CHOICES["optimizer"])},
            uniqueItems=True,
        ),
        "tune_optimizer_ranges": _param(
            {},
            "object",
            "Optimizer-specific ranges",
            'e.g. {"momentum": [0.0, 0.99]}; names: ' + ", ".join(tuning_config.OPTIMIZER_RANGE_NAMES) + ".",
            TUNING,
            properties={name: continuous for name in tuning_config.OPTIMIZER_RANGE_NAMES},
            additionalProperties=False,
        ),
    }


def _spec(
    cfg: RunConfig, params: dict[str, Any], samples: int, cap: bool, data_prefix: str | None = None
) -> tuning_config.TuningSpec:
    return tuning_config.spec_from_form(
        params, cfg.names["tuning_job"], training_spec(cfg, samples, data_prefix=data_prefix), samples if cap else None
    )


@task(multiple_outputs=True)
def validate_tuning(config: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Set-up: limits, strategy and every range checked against the algorithm before anything is billed."""
    cfg = RunConfig.from_dict(config)
    params = dict(context["params"])
    with bad_input_fails_fast():
        tuning_config.validate_spec(_spec(cfg, params, PLACEHOLDER_SAMPLES, cap=False))
    form = {name: params.get(name) for name in sorted(tuning_params())}  # only the tuning fields travel on
    settings = {"job_name": cfg.names["tuning_job"], "form": form}
    log.info("Tuning: %s", json.dumps(settings, sort_keys=True))
    return settings


@task
def tuning_request(
    config: dict[str, Any], summary: dict[str, Any], uploaded: dict[str, Any], tuning: dict[str, Any]
) -> dict[str, Any]:
    """CreateHyperParameterTuningJob, with the counted samples (mini_batch_size capped at them)."""
    cfg = RunConfig.from_dict(config)
    with bad_input_fails_fast():
        spec = _spec(cfg, tuning["form"], summary["num_training_samples"], True, uploaded["data_prefix"])
        request = tuning_config.build_tuning_request(spec)
    log.info("Tuning request: %s", json.dumps(request, indent=2, sort_keys=True))
    return request


@task.branch
def start_or_attach_tuning(config: dict[str, Any], **context: Any) -> list[str]:
    """A re-run finds this run's tuning job by its deterministic name and re-attaches instead of paying twice; the
    name is pushed as XCom ``tuning_job_name`` for the re-attach sensor."""
    cfg = RunConfig.from_dict(config)
    name = cfg.names["tuning_job"]
    with bad_input_fails_fast():
        step = tuning_job.next_step(tuning_job.describe_or_none(sagemaker_client(cfg), name))
    log.info("Tuning job %s: %s", name, step)
    context["ti"].xcom_push(key="tuning_job_name", value=name)
    return {
        training.CREATE: ["tune", "tuning_result"],
        training.ATTACH: ["reattach_tuning", "tuning_result"],
        training.DONE: ["tuning_result"],
    }[step]


def tune_operator(config: Any, request: Any) -> Any:
    """SageMakerTuningOperator, deferrable, polling the run's region; no retries (a re-run re-attaches)."""
    from sagemaker_mlops.tuning.operators import ExplainedTuningOperator

    return ExplainedTuningOperator(
        task_id="tune",
        config=request,
        aws_conn_id=AWS_CONN_ID,
        region_name=config["region"],
        deferrable=True,
        check_interval=POLL_SECONDS,
        max_attempts=_max_attempts(),
        retries=0,
        execution_timeout=aws_wait_timeout(_max_attempts() * POLL_SECONDS),  # a tuning job's 28-day limit
    )


def _max_attempts() -> int:
    """Polls of the deferred wait (the trigger's default, 480, is 4 hours at 30 s): 30 days, the longest a tuning
    job runs (:data:`tuning_job.MAX_TUNING_RUNTIME_SECONDS`)."""
    return tuning_job.MAX_TUNING_RUNTIME_SECONDS // POLL_SECONDS + 10


def reattach_sensor(config: Any) -> Any:
    from airflow.providers.amazon.aws.sensors.sagemaker import SageMakerTuningSensor

    # The name from XCom key tuning_job_name: config["names"]["tuning_job"] on an XComArg reads XCom *key*
    # "tuning_job", which no task pushes (the re-attach failed, and its teardown stopped the healthy tuning job).
    return SageMakerTuningSensor(
        task_id="reattach_tuning",
        job_name="{{ ti.xcom_pull(task_ids='start_or_attach_tuning', key='tuning_job_name') }}",
        aws_conn_id=AWS_CONN_ID,
        region_name=config["region"],
        mode="reschedule",
        poke_interval=POLL_SECONDS,
        timeout=_max_attempts() * POLL_SECONDS,
        execution_timeout=aws_wait_timeout(_max_attempts() * POLL_SECONDS),
    )


@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
def tuning_result(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The best training job as pipeline 1's training result, plus every trial (sorted by objective) and the cost;
    the tuning report is stored next to the best model."""
    cfg = RunConfig.from_dict(config)
    sagemaker = sagemaker_client(cfg)
    name = cfg.names["tuning_job"]
    job = tuning_job.describe_or_none(sagemaker, name)
    if job is None:
        raise RuntimeError(f"Tuning job {name} was never created: see the log of task 'tune'.")
    summaries = tuning_job.trials(sagemaker, name)
    jobs = {
        s["TrainingJobName"]: sagemaker.describe_training_job(TrainingJobName=s["TrainingJobName"]) for s in summaries
    }
    objective = job["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective", {})
    rows = tuning_report.trial_rows(summaries, jobs, cfg.region, maximize=objective.get("Type") != "Minimize")
    outcome = tuning_report.tuning_summary(job, rows)
    log.info("Tuning report:\n%s", tuning_report.render_markdown(outcome))
    with bad_input_fails_fast():
        tuning_job.raise_for_status(job)
    best = jobs.get(outcome["best_training_job"]) or sagemaker.describe_training_job(
        TrainingJobName=outcome["best_training_job"]
    )
    for line in training.log_lines(aws_client(cfg, "logs"), best["TrainingJobName"]):
        log.info("%s", line)
    counts = {k: summary[k] for k in ("num_training_samples", "num_validation_samples", "test_count") if k in summary}
    counts["data_prefix"] = naming.dataset_prefix(cfg.prefix, summary["zip_sha256"])  # the smoke test reads it
    result = report.training_report(best, region=cfg.region, dataset=counts, worst_case=cfg.extra.get("budget"))
    result["hyperparameters"] = dict(best.get("HyperParameters", {}))
    result["tuning"] = outcome
    s3 = s3_hook(cfg)
    store_beside_model(s3, result, "tuning_report.json", outcome)
    store_beside_model(s3, result, "tuning_report.md", tuning_report.render_markdown(outcome))
    store_beside_model(s3, result, "report.json", result)
    return result


# -- the best model against the champion (the registry's latest Approved package), on the same labeled sample -----
@task
def resolve_champion(config: dict[str, Any]) -> dict[str, Any] | None:
    """Set-up: the group's current champion, read from the registry now (a package a person rejected is never
    used), to be served beside the best trial and scored on the same sample as pipeline 2 scores its base model;
    None when the group has no Approved package (the best model is then the first champion, as in pipeline 1).
    Its artifact must still exist: a champion that cannot be deployed fails here, before anything is billed."""
    from sagemaker_mlops.registry import tasks as registry_tasks
    from sagemaker_mlops.training.incremental import BaseModel

    cfg = RunConfig.from_dict(config)
    group = registry_tasks.group_of(cfg)
    base = registry_tasks.champion_of(cfg)
    if base is None:
        log.info("Group %s has no Approved package: the best model will be its first champion", group)
        return None
    champion = BaseModel(
        model_uri=base["model_data_url"],
        source=f"model registry {base['model_package_arn']}",
        training_job_name=base["training_job_name"],
    )
    log.info("Champion of %s: %s", group, champion.to_dict())
    return {"base": champion.to_dict(), "base_model_package_arn": base["model_package_arn"], "compared_as": "champion"}


@task
def create_champion_model(config: dict[str, Any], requests: dict[str, Any]) -> str | None:
    """The champion's SageMaker Model, which its batch transform on the pinned holdout runs (pipeline 2's
    ``create_base_model``); with no champion there is nothing to create. A retry finds the model it created."""
    request = requests.get("base_model")
    if request is None:
        log.info("No champion: only the best trial is deployed")
        return None
    from botocore.exceptions import ClientError

    try:
        sagemaker_client(RunConfig.from_dict(config)).create_model(**request)
    except ClientError as err:
        if "already existing" not in err.response.get("Error", {}).get("Message", ""):
            raise
        log.info("Model %s exists already (an earlier try)", request["ModelName"])
    else:
        log.info("Created the champion's model %s", request["ModelName"])
    return request["ModelName"]


@task
def stop_tuning_if_running(config: dict[str, Any]) -> bool:
    """Guaranteed: a failed or killed run never leaves its tuning job (and its training jobs) billing."""
    cfg = RunConfig.from_dict(config)
    stopped = tuning_job.stop_if_running(sagemaker_client(cfg), cfg.names["tuning_job"], owner=(cfg.dag_id, cfg.run_id))
    if stopped:
        log.warning("Stopped tuning job %s, still running when the run ended.", cfg.names["tuning_job"])
    return stopped
