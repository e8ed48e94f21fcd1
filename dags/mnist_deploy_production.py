"""
### The production endpoint (opt-in) — it bills around the clock

**Off unless the Variable `sagemaker_mlops_production_enabled` is `true`**; otherwise each run skips, saying so.
Once on, the endpoint runs until a person deletes it: an `ml.m5.xlarge` costs
about 5.5 USD a day (us-east-1 list price), and each run's report shows the cost per day of what it left serving.

Runs when a model is promoted (the champion Asset, whose event carries the approved `model_package_arn`) or by hand
with a package ARN. The package must be **Approved** in the Model Registry.

* First deployment: model (the package's image and artifact), endpoint config with **data capture** on (requests
  and answers, *Capture sampling %*, into `s3://<package's bucket>/production/<endpoint>/data-capture`), endpoint.
* Later deployments: **blue/green with deployment guardrails** — `UpdateEndpoint` with a bake time and
  `AutoRollbackConfiguration` on the two CloudWatch alarms this DAG creates on the *new* fleet (`Invocation5XXErrors`,
  `ModelLatency`, dimension `EndpointConfigName` of the new config): a bad model rolls back on its own. One instance
  (the default): ALL_AT_ONCE, then the bake. 2+ instances (AWS's advice for availability): a CANARY of *Canary %*
  of the fleet in whole instances (at most half, as SageMaker requires), a bake, then the rest.
* Then it confirms what actually serves: SageMaker rolls back **silently** (the endpoint is InService on the old
  config, only `FailureReason` tells). A rollback fails the run saying so and sets the package **Rejected** with
  the reason; the new model and config are removed, the live ones stay. After a successful update the previous
  model and config are deleted.
* The endpoint is tagged `mlops:environment=production` with no `mlops:expires-at`: the reaper never deletes it.
* **The endpoint's name is the admin's**: the Variable `sagemaker_mlops_production_endpoint` (default
  `mnist-production`); the form cannot choose another. An existing endpoint of that name that is not tagged as
  production's own is refused; only a package of the registry's group (Variable
  `sagemaker_mlops_model_package_group`) is deployed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from sagemaker_mlops.core.airflow_tasks import CHAMPION_ASSET, TASK_TIMEOUT
from sagemaker_mlops.core.dag_params import keep_params_on_dag
from sagemaker_mlops.production import tasks as production_tasks

with DAG(
    dag_id="mnist_deploy_production",
    description="Deploys the approved champion to the production endpoint behind a canary and alarms (opt-in)",
    doc_md=__doc__,
    schedule=CHAMPION_ASSET,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "model_package_arn": Param(
            None,
            type=["null", "string"],
            title="Model package ARN",
            description="An Approved package to deploy. Empty: the champion Asset event's model_package_arn.",
        ),
        "instance_type": Param("ml.m5.xlarge", type="string", title="Instance type"),
        "instance_count": Param(
            1,
            type="integer",
            minimum=1,
            maximum=10,
            title="Instance count",
            description="1: updates go ALL_AT_ONCE, then a bake behind the alarms. 2+ (AWS's advice for "
            "availability): a canary of Canary % of the fleet, in whole instances, at most half.",
        ),
        "capture_percent": Param(
            20, type="integer", minimum=0, maximum=100, title="Capture sampling %", description="Data capture."
        ),
        "canary_percent": Param(
            10,
            type="integer",
            minimum=1,
            maximum=50,
            title="Canary %",
            description="Of the new fleet's instances, rounded up to whole ones; used when Instance count >= 2.",
        ),
        "bake_seconds": Param(
            300, type="integer", minimum=0, maximum=3600, title="Bake time (s)", description="After the canary."
        ),
        "termination_wait_seconds": Param(
            60, type="integer", minimum=0, maximum=3600, title="Old fleet kept (s)", description="After full shift."
        ),
        "latency_alarm_ms": Param(500, type="integer", minimum=1, title="ModelLatency alarm (ms)"),
        "region": Param(None, type=["null", "string"], title="AWS region", description="Empty: Variable/connection."),
        "role_arn": Param(None, type=["null", "string"], title="Role ARN", description="Empty: Variable."),
    },
    # A retry finds this run's model/config by name and an update already serving them; a rollback or bad input
    # (AirflowFailException) is never retried.
    default_args={
        "owner": "ml-platform",
        "retries": 1,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": TASK_TIMEOUT,
    },
    tags=["sagemaker", "production", "bills-continuously"],
) as dag:
    plan = production_tasks.plan_deployment()
    result = production_tasks.deploy(plan)
    removed = production_tasks.clean_previous(plan, result)
    production_tasks.report(plan, result, removed)

keep_params_on_dag(dag)  # the form's Params stay on the DAG; tasks read them from it at run time
