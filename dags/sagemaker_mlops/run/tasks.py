"""The pipeline's tasks, shared by both DAGs (pipeline 2 reuses pipeline 1's, no copies).

Each task is thin: it reads the run's config from XCom, calls the pure builders and checks in this package, and
talks to AWS only through the amazon provider's hooks, so the connection's ``endpoint_url`` (the emulator) and
credentials apply everywhere.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, TriggerRule, Variable, get_current_context, setup, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

# The package's own modules are stdlib-only and cheap to import; the provider's hooks and operators (boto3) are
# imported inside the functions that use them, so parsing a DAG file stays fast.
from sagemaker_mlops import (
    dataset,
    deploy_config,
    fingerprint,
    incremental,
    naming,
    preflight,
    registry_config,
    report,
    run_config,
    training,
    upload,
)
from sagemaker_mlops import smoke_test as smoke
from sagemaker_mlops import teardown as td
from sagemaker_mlops.incremental import BASE_VARIANT
from sagemaker_mlops.run_config import MAX_WAIT_CAP, RunConfig
from sagemaker_mlops.training import TrainingJobEnded
from sagemaker_mlops.training_config import build_training_request
from sagemaker_mlops.validation import ParamError, validate_s3_uri

log = logging.getLogger(__name__)

AWS_CONN_ID = "aws_default"
# Poll interval of every SageMaker wait (deferred triggers and sensors). 30 s suits real AWS; the emulator run
# sets it to a few seconds.
POLL_SECONDS = int(os.environ.get("SAGEMAKER_MLOPS_POLL_SECONDS", "30"))
# Where a worker keeps downloaded datasets (re-used by a later task on the same worker, re-fetched elsewhere).
DATA_DIR = Path(os.environ.get("SAGEMAKER_MLOPS_DATA_DIR", Path(tempfile.gettempdir()) / "sagemaker_mlops"))
# Pipeline 1 publishes MODEL_ASSET (which starts pipeline 2); pipeline 2 publishes a promoted model as
# CHAMPION_ASSET (a separate Asset, so a promotion does not re-trigger pipeline 2 itself).
MODEL_ASSET = Asset(name="sagemaker_mlops.mnist_image_classifier")
CHAMPION_ASSET = Asset(name="sagemaker_mlops.mnist_image_classifier_champion")
CONFIG_TASK = "validate_and_preflight"


def _sagemaker_client(cfg: RunConfig) -> Any:
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    return SageMakerHook(aws_conn_id=cfg.aws_conn_id, region_name=cfg.region).conn


def _aws_client(cfg: RunConfig, client_type: str) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=cfg.aws_conn_id, client_type=client_type, region_name=cfg.region).conn


def _s3_hook(cfg: RunConfig) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=cfg.aws_conn_id, region_name=cfg.region)


def store_beside_model(s3: Any, result: dict[str, Any], name: str, content: Any) -> str:
    """Writes a run's record (report, smoke test, promotion decision) next to its model.tar.gz; JSON unless text."""
    key = f"{result['model_artifact'].rsplit('/', 1)[0]}/{name}"
    text = content if isinstance(content, str) else json.dumps(content, indent=2, default=str)
    s3.load_string(text, key, replace=True)
    return key


@contextmanager
def bad_input_fails_fast() -> Iterator[None]:
    """Bad input, or a job that already ended Failed/Stopped, is not transient: fail at once (no retries), with
    the field or reason and the fix in the message."""
    try:
        yield
    except (ParamError, TrainingJobEnded) as err:
        raise AirflowFailException(str(err)) from err


# -- set-up: validate before anything is created or billed ---------------------------------------------------------
@task(task_id=CONFIG_TASK, multiple_outputs=True)
def validate_and_preflight(
    bucket_variable: str = "sagemaker_mlops_bucket",
    endpoint_variants: int = 1,
    parallel_jobs_param: str | None = None,
    **context: Any,
) -> dict[str, Any]:
    """Params + Variables → the run config; names, role, bucket, image, quotas checked before any spend.

    ``endpoint_variants``: models served side by side on the test endpoint (pipeline 2 adds its base model), each
    on its own instances, so the endpoint quota must cover all of them. ``parallel_jobs_param``: the Param saying
    how many training jobs run at once (pipeline 3's tuning), each on ``training_instance_count`` instances.
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    params = context["params"]
    dag_run = context["dag_run"]

    def connection_region() -> str | None:
        return AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="sts").conn_region_name

    with bad_input_fails_fast():
        cfg = run_config.resolve(
            params,
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            aws_conn_id=AWS_CONN_ID,
            variable=lambda key: Variable.get(key, default=None),
            connection_region=connection_region,
            bucket_variable=bucket_variable,
            endpoint_variants=endpoint_variants,
        )  # includes the budget guard (max_cost_usd), before any Create call
        spot = bool(params.get("use_spot", False))
        needs = [
            (
                "training_instance_type",
                preflight.training_quota_name(cfg.training_instance_type, spot=spot),
                cfg.training_instance_count * (int(params.get(parallel_jobs_param) or 1) if parallel_jobs_param else 1),
            ),
            (
                "inference_instance_type",
                preflight.endpoint_quota_name(cfg.inference_instance_type),
                cfg.inference_instance_count * endpoint_variants,
            ),
        ]
        preflight.check_quotas(_aws_client(cfg, "service-quotas"), needs, cfg.region)
    worst = cfg.extra["budget"]
    log.info(
        "Worst case %.2f USD within the budget of %g USD (%s): %s",
        worst["usd"],
        worst["max_cost_usd"],
        worst["source"],
        "; ".join(worst["how"]),
    )
    log.info("Run config: %s", json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    return cfg.to_dict()


@task
def download_dataset(config: dict[str, Any]) -> dict[str, Any]:
    """Stream the zip to disk, check it, extract it safely and validate the book's layout; count the samples."""
    cfg = RunConfig.from_dict(config)
    with bad_input_fails_fast():
        zip_path = dataset.ensure_dataset(
            cfg.dataset_url, cfg.dataset_sha256, DATA_DIR / "downloads", allowed_hosts=_allowed_dataset_hosts()
        )
        summary = _extract_and_validate(cfg, zip_path)
    log.info("Dataset %s: %s", cfg.dataset_url, json.dumps(summary, sort_keys=True))
    return summary


def _allowed_dataset_hosts() -> frozenset[str]:
    """Hosts a dataset may come from although they are not public (Variable; empty on a real account)."""
    from airflow.sdk import Variable

    from sagemaker_mlops import egress

    return egress.parse_allowed_hosts(Variable.get(egress.ALLOWED_HOSTS_VARIABLE, default=None))


def _extract_and_validate(cfg: RunConfig, zip_path: Path) -> dict[str, Any]:
    digest = dataset.sha256_file(zip_path)
    root = DATA_DIR / "extracted" / digest  # keyed by content: a re-downloaded, changed zip never reuses old files
    if not root.exists():
        staging = Path(tempfile.mkdtemp(dir=DATA_DIR, prefix="extract-"))
        dataset.safe_extract(zip_path, staging)
        root.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(root)
    summary = dataset.validate_layout(
        root, num_classes=cfg.hyperparameters["num_classes"], image_shape=cfg.hyperparameters["image_shape"]
    )
    as_dict = summary.to_dict()
    as_dict.pop("files")  # hundreds of paths: the upload walks the validated folder instead of XCom
    return {**as_dict, "zip_sha256": digest, "local_root": str(root)}


@task
def upload_dataset(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """Upload train/, validation/, train_lst/, validation_lst/, test/ concurrently; unchanged objects are skipped."""
    cfg = RunConfig.from_dict(config)
    # This worker's copy, keyed by content: summary["local_root"] is a path on the disk of the worker that ran the
    # download (under CeleryExecutor, as on MWAA, usually another machine; on one machine it would be read silently).
    root = DATA_DIR / "extracted" / summary["zip_sha256"]
    with bad_input_fails_fast():
        if not root.exists():  # another worker downloaded it: fetch (verified by SHA-256) and validate again here
            zip_path = dataset.ensure_dataset(
                cfg.dataset_url, summary["zip_sha256"], DATA_DIR / "downloads", allowed_hosts=_allowed_dataset_hosts()
            )
            root = Path(_extract_and_validate(cfg, zip_path)["local_root"])
        client = upload.s3_client(cfg.aws_conn_id, max_pool_connections=upload.MAX_WORKERS, region_name=cfg.region)
        created = upload.ensure_bucket(client, cfg.bucket, cfg.region, create=cfg.create_bucket)
    report = upload.upload_tree(client, root, cfg.bucket, cfg.prefix)
    result = {"bucket_created": created, **report.to_dict()}
    log.info("Upload to s3://%s/%s: %s", cfg.bucket, cfg.prefix, result)
    return result


# -- body: training ------------------------------------------------------------------------------------------------
@setup
@task
def training_request(
    config: dict[str, Any], summary: dict[str, Any], uploaded: dict[str, Any], incremental: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The CreateTrainingJob request the SDK's Estimator sends for the book's code (pure builder, validated), tagged
    with its fingerprint (a re-run re-attaches only to a job of the same request)."""
    cfg = RunConfig.from_dict(config)
    with bad_input_fails_fast():
        request = build_training_request(cfg.training_spec(summary["num_training_samples"], incremental))
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
    sagemaker = _sagemaker_client(cfg)
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
    job = training.describe_or_none(_sagemaker_client(cfg), name)
    if job is None:
        raise RuntimeError(f"Training job {name} was never created: see the log of task 'train'.")
    for line in training.log_lines(_aws_client(cfg, "logs"), job["TrainingJobName"]):
        log.info("%s", line)
    with bad_input_fails_fast():
        training.raise_for_status(job)
    counts = {k: summary[k] for k in ("num_training_samples", "num_validation_samples", "test_count") if k in summary}
    result = report.training_report(job, region=cfg.region, dataset=counts, worst_case=cfg.extra.get("budget"))
    markdown = report.render_markdown(result)
    s3 = _s3_hook(cfg)
    store_beside_model(s3, result, "report.json", result)
    store_beside_model(s3, result, "report.md", markdown)
    log.info("Training report:\n%s", markdown)
    return result


@task
def stop_training_if_running(config: dict[str, Any], **context: Any) -> bool:
    """Guaranteed: a failed or killed run never leaves this run's training job (any capacity attempt) billing."""
    cfg = RunConfig.from_dict(config)
    sagemaker = _sagemaker_client(cfg)
    stopped = False
    for attempt in range(1, _attempts(context["params"]) + 1):
        name = naming.attempt_name(cfg.names["job"], attempt)
        if training.stop_if_running(sagemaker, name):
            log.warning("Stopped training job %s, still running when the run ended.", name)
            stopped = True
    return stopped


# -- body: deploy and smoke test ----------------------------------------------------------------------------------
@setup
@task(multiple_outputs=True)
def deploy_requests(
    config: dict[str, Any], result: dict[str, Any], incremental: dict[str, Any] | None = None
) -> dict[str, Any]:
    """CreateModel / CreateEndpointConfig / CreateEndpoint requests, from the job's real artifact (XCom).

    With a base model (pipeline 2) it is deployed beside the new one as a weight-0 variant, so both are scored
    on the same labeled sample through one endpoint.
    """
    cfg = RunConfig.from_dict(config)
    names = cfg.names
    requests = {
        "model": deploy_config.build_model_request(
            names["model"], cfg.image_uri, result["model_artifact"], cfg.role_arn, cfg.tags, cfg.network_isolation
        ),
        "endpoint": deploy_config.build_endpoint_request(names["endpoint"], names["endpoint_config"], cfg.tags),
    }
    shadow = {}
    if incremental:
        requests["base_model"] = deploy_config.build_model_request(
            names["base_model"],
            cfg.image_uri,
            incremental["base"]["model_uri"],
            cfg.role_arn,
            cfg.tags,
            cfg.network_isolation,
        )
        shadow = {BASE_VARIANT: names["base_model"]}
    requests["endpoint_config"] = deploy_config.build_endpoint_config_request(
        names["endpoint_config"],
        names["model"],
        cfg.inference_instance_type,
        cfg.inference_instance_count,
        cfg.tags,
        shadow_variants=shadow,
    )
    return requests


@task
def smoke_test(
    config: dict[str, Any], result: dict[str, Any], incremental: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Predict every test/ image (ZERO…NINE, as the book prints) and score a labeled sample against min_accuracy."""
    cfg = RunConfig.from_dict(config)
    s3 = _s3_hook(cfg)
    client = s3.get_conn()

    def read(key: str) -> bytes:
        return client.get_object(Bucket=cfg.bucket, Key=key)["Body"].read()

    def list_keys(prefix: str) -> list[str]:
        return s3.list_keys(bucket_name=cfg.bucket, prefix=prefix)

    outcome = smoke.run(
        smoke.endpoint_invoker(_aws_client(cfg, "sagemaker-runtime"), cfg.names["endpoint"]),
        read,
        list_keys,
        prefix=cfg.prefix,
        sample_size=cfg.smoke_sample_size,
        min_accuracy=cfg.min_accuracy,
        other_variants=(BASE_VARIANT,) if incremental else (),
    )
    outcome["endpoint"] = cfg.names["endpoint"]
    for name, label in sorted(outcome["test_predictions"].items()):
        log.info("%s -> %s", name, label)
    log.info(
        "Smoke accuracy %.3f on %d labeled images (min %.2f); latency p50 %.1f ms, p95 %.1f ms",
        outcome["accuracy"],
        outcome["sample_size"],
        cfg.min_accuracy,
        outcome["latency_ms"]["p50"],
        outcome["latency_ms"]["p95"],
    )
    store_beside_model(s3, result, "smoke_test.json", outcome)
    if not outcome["passed"]:
        get_current_context()["ti"].xcom_push(key="return_value", value=outcome)
        raise AirflowFailException(
            f"min_accuracy: the endpoint scored {outcome['accuracy']:.3f} on {outcome['sample_size']} labeled images, "
            f"below {cfg.min_accuracy}. Fix: retrain (more epochs/data) or lower min_accuracy deliberately."
        )
    return outcome


def teardown_of(task_output: Any, setups: Any) -> Any:
    """Make a task a teardown of ``setups``: it runs after success, failure or upstream failure, and its own failure
    (a resource that could not be deleted) fails the run. Applied in the DAG file rather than with ``@teardown``,
    whose decorator cannot be called twice (Airflow 3.3 keeps the forced trigger rule), as two DAGs do here."""
    return task_output.as_teardown(setups=setups, on_failure_fail_dagrun=True)


@task(task_id="run_outcome")
def run_outcome(**context: Any) -> str:
    """Fails the run if any of its tasks failed — also when a person marked the run failed (see outcome.py)."""
    from sagemaker_mlops import outcome

    ti, dag_run = context["ti"], context["dag_run"]
    states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id, {})
    failed = outcome.failed_tasks(states, ignore=ti.task_id)
    if failed:
        raise AirflowFailException(f"The run failed or was cancelled: failed tasks {', '.join(failed)}.")
    return "success"


def end_with_run_outcome(dag: Any) -> Any:
    """The run's last task, downstream of every other task's end: its state is the run's (outcome.py)."""
    leaves = [t for t in dag.tasks if not t.downstream_list]
    watcher = run_outcome().as_teardown(on_failure_fail_dagrun=True)
    leaves >> watcher
    return watcher


def _skip_if_kept(cfg: RunConfig, what: str) -> None:
    """keep_endpoint: the teardown task is skipped (shown as such in the UI) and the resource stays."""
    if cfg.keep_endpoint:
        raise AirflowSkipException(f"keep_endpoint is on: {what} is kept (and keeps billing).")


@task
def delete_endpoint(config: dict[str, Any]) -> bool:
    """Delete this run's endpoint and wait until it is gone (its instances bill until then); idempotent."""
    cfg = RunConfig.from_dict(config)
    _skip_if_kept(cfg, "the endpoint")
    try:
        return td.delete_endpoint(_sagemaker_client(cfg), cfg.names["endpoint"], poll_seconds=POLL_SECONDS)
    except td.EndpointBusy as busy:  # still Creating/Updating: give the worker slot back, look again later
        from datetime import UTC, datetime, timedelta

        from airflow.exceptions import AirflowRescheduleException

        log.info("%s", busy)
        raise AirflowRescheduleException(datetime.now(UTC) + timedelta(seconds=POLL_SECONDS)) from None


@task
def delete_endpoint_config(config: dict[str, Any]) -> bool:
    """Delete this run's endpoint config; idempotent."""
    cfg = RunConfig.from_dict(config)
    _skip_if_kept(cfg, "the endpoint config")
    return td.delete_endpoint_config(_sagemaker_client(cfg), cfg.names["endpoint_config"])


@task
def delete_model(config: dict[str, Any], which: str = "model") -> bool:
    """Delete this run's model (or, with ``which="base_model"``, its copy of the base model); idempotent."""
    cfg = RunConfig.from_dict(config)
    _skip_if_kept(cfg, f"the {which.replace('_', ' ')}")
    return td.delete_model(_sagemaker_client(cfg), cfg.names[which])


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


# -- the provider's operators and sensors, configured once -------------------------------------------------------
def _max_attempts() -> int:
    """Deferred waits give up after max_attempts polls (default 60 x 30 s): size them for the longest job the
    form allows (a spot job may wait up to max_wait_seconds)."""
    return MAX_WAIT_CAP // POLL_SECONDS + 10


def train_operator(config: Any, request: Any) -> Any:
    """SageMakerTrainingOperator (deferrable; fails explaining a Stopped job). ``action_if_job_exists="fail"``:
    never a renamed second job; a re-run re-attaches through ``start_or_attach`` instead, so this task does not
    retry by itself. ``config``/``request``: the set-up tasks' outputs, resolved at run time."""
    from sagemaker_mlops.operators import ExplainedTrainingOperator

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
    )


def base_model_operator(config: Any, requests: Any) -> Any:
    """Pipeline 2: the base model, served beside the new one for the comparison."""
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerModelOperator

    return SageMakerModelOperator(
        task_id="create_base_model",
        config=requests["base_model"],
        aws_conn_id=AWS_CONN_ID,
        region_name=config["region"],
    )


def deploy_operators(config: Any, requests: Any) -> tuple[Any, Any, Any]:
    """Model, endpoint config and endpoint (deferrable wait for InService, polled in the run's region)."""
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerEndpointConfigOperator, SageMakerModelOperator

    from sagemaker_mlops.operators import RegionalEndpointOperator

    region = config["region"]
    model = SageMakerModelOperator(
        task_id="create_model", config=requests["model"], aws_conn_id=AWS_CONN_ID, region_name=region
    )
    endpoint_config = SageMakerEndpointConfigOperator(
        task_id="create_endpoint_config",
        config=requests["endpoint_config"],
        aws_conn_id=AWS_CONN_ID,
        region_name=region,
    )
    endpoint = RegionalEndpointOperator(
        task_id="create_endpoint",
        config=requests["endpoint"],
        aws_conn_id=AWS_CONN_ID,
        region_name=region,
        deferrable=True,
        check_interval=POLL_SECONDS,
        max_ingestion_time=3600,
    )
    return model, endpoint_config, endpoint


# -- pipeline 2: the base model and the champion/challenger decision ------------------------------------------------
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
            job = training.describe_or_none(_sagemaker_client(cfg), job_name)
            if job is None:
                raise ParamError(
                    "base_training_job",
                    f"training job {job_name!r} does not exist in {cfg.region}",
                    "name a completed training job of this account and region",
                )
            base = incremental.from_job(job, source)
        bucket, _, key = base.model_uri[5:].partition("/")
        if not _s3_hook(cfg).check_for_key(key, bucket):
            raise ParamError("base_model_uri", f"{base.model_uri} does not exist", "point at an existing model.tar.gz")
        errors = incremental.compatibility_errors(
            base.hyperparameters or {}, cfg.hyperparameters, base.training_job_name or base.model_uri
        )
        errors += incremental.protection_errors(cfg.bucket, cfg.prefix, base.model_uri)
        settings = {
            "model_uri": base.model_uri,
            "use_spot": bool(params.get("use_spot")),
            "max_wait_seconds": params.get("max_wait_seconds") if params.get("use_spot") else None,
            "checkpoint_s3_uri": incremental.checkpoint_uri(
                cfg.bucket, cfg.names["job"], params.get("resume_checkpoint_uri")
            ),
        }
        try:  # the whole request, with a placeholder sample count: spot/max-wait/URI rules fail here, not later
            run_config.check_training_spec(cfg.training_spec(1, settings))
        except ParamError as err:
            errors.append(err)
        if errors:
            raise ParamError.combine(errors)
    log.info("Base model: %s", base.to_dict())
    return {"base": base.to_dict(), "base_model_package_arn": package_arn, **settings}


def _registry_base(cfg: RunConfig, dag_run: Any) -> tuple[str | None, str | None]:
    """(training job, package ARN) of the group's latest Approved package, read now (a package a person rejected
    is never used); (None, None) when the group is empty, so the Asset event decides. A group with versions but
    none Approved has no base: the run skips (automatic) or fails (manual) rather than use a rejected model."""
    from sagemaker_mlops import registry_tasks

    client, group = _sagemaker_client(cfg), registry_tasks.group_of(cfg)
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

    from sagemaker_mlops import incremental

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
    **context: Any,
) -> dict[str, Any] | None:
    """Champion/challenger: promote only if the new model scores at least the base model's accuracy plus the
    margin, on the very same labeled sample. The decision and its reason are kept next to the model.

    ``incremental``: pipeline 2's base model, or the tuning DAG's champion (``compared_as: "champion"``); with
    none (the tuning DAG on an empty group) there is nothing to compare: None, and the registry's first-champion
    rule decides."""
    if not incremental:
        log.info("Champion/challenger: no champion to compare with")
        return None
    cfg = RunConfig.from_dict(config)
    margin = float(context["params"].get("min_improvement") or 0.0)
    label = incremental.get("compared_as", "base model")
    challenger = smoke["accuracy"]
    champion = smoke["other_variants"][BASE_VARIANT]["accuracy"]
    promote = challenger >= champion + margin
    reason = (
        f"new model {challenger:.3f} vs {label} {champion:.3f} on the same {smoke['sample_size']} labeled "
        f"images; promotion needs >= {label.split()[0]} + {margin:g}: {'promoted' if promote else f'kept the {label}'}"
    )
    decision = {
        "promote": promote,
        "challenger_accuracy": challenger,
        "base_accuracy": champion,
        "min_improvement": margin,
        "reason": reason,
        "base": incremental["base"],
        "challenger_job": result["training_job_name"],
    }
    store_beside_model(_s3_hook(cfg), result, "promotion.json", decision)
    log.info("Champion/challenger: %s", reason)
    return decision
