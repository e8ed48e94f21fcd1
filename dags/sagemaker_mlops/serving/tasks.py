"""The serving tasks: model / endpoint config / endpoint requests and the provider's operators, the smoke test,
and the teardown tasks (skipped when keep_endpoint is on)."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context, setup, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from sagemaker_mlops.core.airflow_tasks import (
    AWS_CONN_ID,
    POLL_SECONDS,
    aws_client,
    aws_wait_timeout,
    s3_hook,
    sagemaker_client,
    store_beside_model,
)
from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.serving import deploy_config
from sagemaker_mlops.serving import smoke_test as smoke
from sagemaker_mlops.serving import teardown as td
from sagemaker_mlops.training.incremental import BASE_VARIANT

log = logging.getLogger(__name__)

ENDPOINT_WAIT_SECONDS = 3600  # CreateEndpoint to InService (the budget's ENDPOINT_CREATE_TIMEOUT_SECONDS)
# A teardown waits for a busy endpoint, then for Deleting to end, each Describe retried through an outage.
TEARDOWN_WAIT_SECONDS = td.BUSY_WAIT_SECONDS + td.DELETING_SECONDS + 4 * td.OUTAGE_SECONDS


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
    s3 = s3_hook(cfg)
    client = s3.get_conn()

    def read(key: str) -> bytes:
        return client.get_object(Bucket=cfg.bucket, Key=key)["Body"].read()

    def list_keys(prefix: str) -> list[str]:
        return s3.list_keys(bucket_name=cfg.bucket, prefix=prefix)

    data_prefix = result.get("dataset", {}).get("data_prefix")
    if not data_prefix:  # never fall back to the DAG's whole prefix: it holds every other zip's labels too
        raise AirflowFailException(
            "smoke_test: the training result names no data_prefix (this run's dataset), so there are no labels "
            "that are only this run's. Fix: re-run the whole DAG run (clear it from download_dataset)."
        )
    outcome = smoke.run(
        smoke.endpoint_invoker(aws_client(cfg, "sagemaker-runtime"), cfg.names["endpoint"]),
        read,
        list_keys,
        prefix=data_prefix,
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


def _skip_if_kept(cfg: RunConfig, what: str) -> None:
    """keep_endpoint: the teardown task is skipped (shown as such in the UI) and the resource stays."""
    if cfg.keep_endpoint:
        raise AirflowSkipException(f"keep_endpoint is on: {what} is kept (and keeps billing).")


@task(execution_timeout=aws_wait_timeout(TEARDOWN_WAIT_SECONDS))
def delete_endpoint(config: dict[str, Any]) -> bool:
    """Delete this run's endpoint and wait until it is gone (its instances bill until then); idempotent. Only an
    endpoint tagged as this run's is deleted: one of another run with the same name fails the task, untouched."""
    cfg = RunConfig.from_dict(config)
    _skip_if_kept(cfg, "the endpoint")
    try:
        return td.delete_endpoint(
            sagemaker_client(cfg), cfg.names["endpoint"], poll_seconds=POLL_SECONDS, owner=(cfg.dag_id, cfg.run_id)
        )
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
    return td.delete_endpoint_config(
        sagemaker_client(cfg), cfg.names["endpoint_config"], owner=(cfg.dag_id, cfg.run_id)
    )


@task
def delete_model(config: dict[str, Any], which: str = "model") -> bool:
    """Delete this run's model (or, with ``which="base_model"``, its copy of the base model); idempotent."""
    cfg = RunConfig.from_dict(config)
    _skip_if_kept(cfg, f"the {which.replace('_', ' ')}")
    return td.delete_model(sagemaker_client(cfg), cfg.names[which], owner=(cfg.dag_id, cfg.run_id))


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

    from sagemaker_mlops.serving.operators import RegionalEndpointOperator

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
        max_ingestion_time=ENDPOINT_WAIT_SECONDS,
        execution_timeout=aws_wait_timeout(ENDPOINT_WAIT_SECONDS),
    )
    return model, endpoint_config, endpoint
