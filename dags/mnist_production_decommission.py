"""
### Decommission the production endpoint — the off-switch of `mnist_deploy_production`

Deletes, together, what the production DAG created for an endpoint (`mnist-production` by default): the endpoint
(waiting until it is gone: its instances stop billing then), its endpoint configs and models (also the leftovers
of failed or interrupted deployments) and its two CloudWatch alarms. Pieces already gone are skipped, so a re-run
finishes a half-done decommission. Another production endpoint's configs and models are left alone.

**Type the endpoint's name into *Confirm: endpoint name*** — otherwise the run fails and deletes nothing. Manual
trigger only. It is not refused when `sagemaker_mlops_production_enabled` is off (removing production only stops
billing); when that Variable is still `true` the log warns that the next promotion deploys the endpoint again:
set it to `false` or pause `mnist_deploy_production`. Buckets, data capture, the history file and the registry's
packages are kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from sagemaker_mlops.core.dag_params import keep_params_on_dag
from sagemaker_mlops.production import production_config
from sagemaker_mlops.production.decommission_tasks import decommission

with DAG(
    dag_id="mnist_production_decommission",
    description="Deletes the production endpoint with its configs, models and alarms (typed confirmation)",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "endpoint_name": Param(
            production_config.DEFAULT_ENDPOINT_NAME,
            type="string",
            pattern="^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
            title="Endpoint name",
        ),
        "confirm_endpoint_name": Param(
            "",
            type="string",
            title="Confirm: endpoint name",
            description="Type the endpoint's name again: anything else deletes nothing.",
        ),
        "region": Param(None, type=["null", "string"], title="AWS region", description="Empty: Variable/connection."),
    },
    # Every step tolerates a piece already gone, so a retry finishes the job; a refused confirmation is not retried.
    default_args={
        "owner": "ml-platform",
        "retries": 1,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(hours=1),
    },
    tags=["sagemaker", "production"],
) as dag:
    decommission()

keep_params_on_dag(dag)  # the form's Params stay on the DAG; tasks read them from it at run time
