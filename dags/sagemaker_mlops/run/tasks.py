"""The run's own tasks: validate everything and check quotas before anything is created or billed, and the last
task, whose state is the run's."""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import Variable, task
from airflow.sdk.exceptions import AirflowFailException

from sagemaker_mlops.core.airflow_tasks import (
    AWS_CONN_ID,
    CONFIG_TASK,
    aws_client,
    bad_input_fails_fast,
)
from sagemaker_mlops.core.dag_params import declared_params
from sagemaker_mlops.run import run_config
from sagemaker_mlops.training import preflight

log = logging.getLogger(__name__)


@task(task_id=CONFIG_TASK, multiple_outputs=True)
def validate_and_preflight(
    bucket_variable: str = "sagemaker_mlops_bucket",
    endpoint_variants: int = 1,
    parallel_jobs_param: str | None = None,
    dag_prefix: str | None = None,
    **context: Any,
) -> dict[str, Any]:
    """Params + Variables → the run config; names, role, bucket, image, quotas checked before any spend.

    ``endpoint_variants``: models served side by side on the test endpoint (pipeline 2 adds its base model), each
    on its own instances, so the endpoint quota must cover all of them. ``parallel_jobs_param``: the Param saying
    how many training jobs run at once (pipeline 3's tuning), each on ``training_instance_count`` instances.
    ``dag_prefix``: the DAG's own ``s3_prefix`` (set in the DAG file, not by the triggerer; the run's Params carry
    the conf's value), the root the form's prefix must stay under.
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
            declared=declared_params(context),
            dag_prefix=dag_prefix,
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
        tuning = (
            (int(params.get(parallel_jobs_param) or 1), cfg.training_instance_count) if parallel_jobs_param else None
        )
        preflight.check_quotas(aws_client(cfg, "service-quotas"), needs, cfg.region, tuning=tuning)
    worst = cfg.extra["budget"]
    log.info(
        "Worst case %.2f USD within the budget of %g USD (%s), per term %s: %s",
        worst["usd"],
        worst["max_cost_usd"],
        worst["source"],
        json.dumps(worst["terms"], sort_keys=True),
        "; ".join(worst["how"]),
    )
    log.info("Run config: %s", json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    return cfg.to_dict()


@task(task_id="run_outcome")
def run_outcome(**context: Any) -> str:
    """Fails the run if any of its tasks failed — also when a person marked the run failed (see outcome.py)."""
    from sagemaker_mlops.run import outcome

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
