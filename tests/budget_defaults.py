"""Each DAG's worst case with its form's defaults and no Variables, term by term, from the code (for docs/budget.md
and the test that keeps it true)."""

from __future__ import annotations

from typing import Any

from constants import ROLE_ARN

DAGS = ("mnist_train_deploy", "mnist_incremental_spot", "mnist_tuning")


def _form(dag_id: str) -> tuple[dict[str, Any], int]:
    """The DAG's form defaults, and its holdout evaluation's transform jobs (as its DAG file passes them to
    validate_and_preflight: the champion is scored too where there is one). One test endpoint variant each."""
    from sagemaker_mlops.run import run_config
    from sagemaker_mlops.tuning import tasks as tuning_tasks

    params = {
        n: p.value for n, p in run_config.common_params(dataset_url="https://example.com/b.zip", prefix="p").items()
    }
    if dag_id == "mnist_incremental_spot":
        params.update({n: p.value for n, p in run_config.incremental_params().items()})
        return params, 2
    if dag_id == "mnist_tuning":
        params.update({n: p.value for n, p in tuning_tasks.tuning_params().items()})
        return params, 2
    return params, 1


def worst_case(dag_id: str, **changes: Any) -> dict[str, Any]:
    """The budget dict ``validate_and_preflight`` returns for ``dag_id`` with its defaults (plus ``changes``)."""
    from sagemaker_mlops.run import run_config

    params, evaluation_jobs = _form(dag_id)
    known = {"sagemaker_mlops_bucket": "mlops-test-bucket", "sagemaker_mlops_role_arn": ROLE_ARN}
    cfg = run_config.resolve(
        {**params, **changes},
        dag_id=dag_id,
        run_id="manual__2026-03-01T12:00:00+00:00",
        aws_conn_id="aws_default",
        variable=known.get,
        connection_region=lambda: "us-east-1",
        evaluation_jobs=evaluation_jobs,
        declared=set(params),
    )
    return cfg.extra["budget"]


def production_worst_day() -> dict[str, Any]:
    """mnist_deploy_production's worst day with its defaults (one ml.m5.xlarge, a 300 s bake, 60 s old fleet)."""
    from sagemaker_mlops.production import production_config as pc

    return pc.worst_per_day("ml.m5.xlarge", 1, "us-east-1", bake_seconds=300, termination_wait_seconds=60)
