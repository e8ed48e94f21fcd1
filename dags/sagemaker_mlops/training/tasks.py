"""The training tasks: the request, start or re-attach (one job per run, re-runs re-attach), the result and its
report, the guaranteed stop, and the provider's training operator and sensor, configured once."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import TriggerRule, setup, task

from sagemaker_mlops.core import fingerprint, lineage, naming, report
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
from sagemaker_mlops.training import job as training
from sagemaker_mlops.training.spec import MAX_WAIT_CAP, training_spec
from sagemaker_mlops.training.training_config import build_training_request

log = logging.getLogger(__name__)


@setup
@task
def training_request(
    config: dict[str, Any], summary: dict[str, Any], uploaded: dict[str, Any], incremental: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The CreateTrainingJob request the SDK's Estimator sends for the book's code (pure builder, validated), tagged
    with its fingerprint (a re-run re-attaches only to a job of the same request)."""
    cfg = RunConfig.from_dict(config)
    with bad_input_fails_fast():
        spec = training_spec(cfg, summary["num_training_samples"], incremental, data_prefix=uploaded["data_prefix"])
        request = build_training_request(spec)
    return fingerprint.tagged(request, summary["zip_sha256"])


def _attempts(params: Any) -> int:
    """How many deterministic job names a run may have: its own and one per capacity retry."""
    return 1 + int(params.get("capacity_retries") or 0)


def _job_name(cfg: RunConfig, ti: Any) -> str:
    """The job this run actually trained: the attempt ``train`` last started (XCom), else what start_or_attach
    found, else the run's name — never recomputed from the params."""
    for task_id in ("train", "start_or_attach"):
        name = ti.xcom_pull(task_ids=task_id, key="training_job_name")
        if name:
            return name
    return cfg.names["job"]


@task.branch
def start_or_attach(config: dict[str, Any], request: dict[str, Any], **context: Any) -> list[str]:
    """A re-run finds this run's job by its deterministic name: re-attach to it instead of paying for a second —
    only if it was started from the same request (its fingerprint tag), else fail naming what changed."""
    cfg = RunConfig.from_dict(config)
    sagemaker = sagemaker_client(cfg)
    with bad_input_fails_fast():
        job = training.latest_attempt(sagemaker, cfg.names["job"], _attempts(context["params"]))
        if job is not None:
            fingerprint.check_same_request(sagemaker, job, request)
        step = training.next_step(job)
    name = job["TrainingJobName"] if job else cfg.names["job"]
    context["ti"].xcom_push(key="training_job_name", value=name)
    log.info("Training job %s: %s", name, step)
    # training_result is always followed (a branch skips every direct downstream it does not name).
    return {
        training.CREATE: ["train", "training_result"],
        training.ATTACH: ["reattach_training", "training_result"],
        training.DONE: ["training_result"],
    }[step]


@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
def training_result(config: dict[str, Any], summary: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Describe the finished job (created or re-attached): log its lines; store the report next to the model."""
    cfg = RunConfig.from_dict(config)
    name = _job_name(cfg, context["ti"])
    job = training.describe_or_none(sagemaker_client(cfg), name)
    if job is None:
        raise RuntimeError(f"Training job {name} was never created: see the log of task 'train'.")
    for line in training.log_lines(aws_client(cfg, "logs"), job["TrainingJobName"]):
        log.info("%s", line)
    with bad_input_fails_fast():
        training.raise_for_status(job)
    counts = {k: summary[k] for k in ("num_training_samples", "num_validation_samples", "test_count") if k in summary}
    counts["data_prefix"] = naming.dataset_prefix(cfg.prefix, summary["zip_sha256"])  # the smoke test reads it
    result = report.training_report(job, region=cfg.region, dataset=counts, worst_case=cfg.extra.get("budget"))
    markdown = report.render_markdown(result)
    s3 = s3_hook(cfg)
    store_beside_model(s3, result, "report.json", result)
    store_beside_model(s3, result, "report.md", markdown)
    log.info("Training report:\n%s", markdown)
    _report_lineage(context, job)
    return result


def _report_lineage(context: dict[str, Any], job: dict[str, Any]) -> None:
    """OpenLineage, from the job SageMaker describes (also when the run re-attached and ``train`` never ran): its
    input channels in; the model artifact and the job itself (ARN) out, so the package registered from it links."""
    channels = [
        c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in job.get("InputDataConfig", [])
        if "S3DataSource" in c.get("DataSource", {})
    ]
    outputs = [job["ModelArtifacts"]["S3ModelArtifacts"], job["TrainingJobArn"]]
    lineage.report(context, inputs=channels, outputs=outputs, external_job=job["TrainingJobName"])


@task
def stop_training_if_running(config: dict[str, Any], **context: Any) -> bool:
    """Guaranteed: a failed or killed run never leaves this run's training job (any capacity attempt) billing. Only
    a job tagged as this run's is stopped: another run's job with the same name fails the task and keeps running."""
    cfg = RunConfig.from_dict(config)
    sagemaker = sagemaker_client(cfg)
    stopped = False
    for attempt in range(1, _attempts(context["params"]) + 1):
        name = naming.attempt_name(cfg.names["job"], attempt)
        if training.stop_if_running(sagemaker, name, owner=(cfg.dag_id, cfg.run_id)):
            log.warning("Stopped training job %s, still running when the run ended.", name)
            stopped = True
    return stopped


def _max_attempts() -> int:
    """Deferred waits give up after max_attempts polls (default 60 x 30 s): size them for the longest job the
    form allows (a spot job may wait up to max_wait_seconds)."""
    return MAX_WAIT_CAP // POLL_SECONDS + 10


def train_operator(config: Any, request: Any) -> Any:
    """SageMakerTrainingOperator (deferrable; fails explaining a Stopped job). ``action_if_job_exists="fail"``:
    never a renamed second job; a re-run re-attaches through ``start_or_attach`` instead, so this task does not
    retry by itself. ``config``/``request``: the set-up tasks' outputs, resolved at run time."""
    from sagemaker_mlops.training.operators import ExplainedTrainingOperator

    return ExplainedTrainingOperator(
        task_id="train",
        config=request,
        aws_conn_id=AWS_CONN_ID,
        region_name=config["region"],
        deferrable=True,
        check_interval=POLL_SECONDS,
        max_attempts=_max_attempts(),
        capacity_retries="{{ params.capacity_retries }}",
        print_log=True,
        check_if_job_exists=True,
        action_if_job_exists="fail",
        retries=0,
        execution_timeout=aws_wait_timeout(_max_attempts() * POLL_SECONDS),  # the longest MaxWait the form allows
    )


def reattach_sensor(config: Any) -> Any:
    """Waits for this run's already-running job without holding a worker slot (reschedule mode)."""
    from airflow.providers.amazon.aws.sensors.sagemaker import SageMakerTrainingSensor

    return SageMakerTrainingSensor(
        task_id="reattach_training",
        job_name="{{ ti.xcom_pull(task_ids='start_or_attach', key='training_job_name') }}",
        aws_conn_id=AWS_CONN_ID,
        region_name=config["region"],
        mode="reschedule",
        poke_interval=POLL_SECONDS,
        print_log=False,
        timeout=_max_attempts() * POLL_SECONDS,
        execution_timeout=aws_wait_timeout(_max_attempts() * POLL_SECONDS),
    )
