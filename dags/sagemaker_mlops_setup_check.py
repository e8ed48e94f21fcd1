"""
### Setup check — run this first, on MWAA or locally

Spends nothing (read-only calls) and reports, as a checklist with the fix for each line: the connection and the
region; the SageMaker execution role (exists, trusts `sagemaker.amazonaws.com`, the permissions the pipelines
need — IAM's policy simulator); the buckets (exist, default encryption, Block Public Access, versioning on MWAA's
source bucket when given); the Service Quotas of the configured instance types (training, spot training, test
endpoint, production endpoint); the region's `image-classification:1` image; every Variable and which DAGs it
enables; and whether the reaper `sagemaker_mlops_reaper` is unpaused.

The task log shows the checklist (`OK` / `FIX` / `WARN` / `INFO` lines), the XCom `setup_check` holds it as data,
and `setup_check.html` / `.json` are stored under `s3://<sagemaker_mlops_bucket>/setup-check/<run>/`. The run
**fails** when a required line says `FIX`, listing all of them at once. Manual trigger only; safe to unpause.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from sagemaker_mlops.core.dag_params import keep_params_on_dag
from sagemaker_mlops.setup_check.tasks import setup_check

with DAG(
    dag_id="sagemaker_mlops_setup_check",
    description="Checks the set-up: connection, role, buckets, quotas, image, Variables, reaper (spends nothing)",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "region": Param(
            None,
            type=["null", "string"],
            title="AWS region",
            description="Empty: Variable sagemaker_mlops_region, else the connection's.",
        ),
        "training_instance_type": Param(
            "ml.p2.xlarge",
            type="string",
            title="Training instance type",
            description="Checked for on-demand and spot training quotas (the training DAGs' default).",
        ),
        "inference_instance_type": Param(
            "ml.m5.xlarge",
            type="string",
            title="Test endpoint instance type",
            description="The pipelines' test endpoint.",
        ),
        "production_instance_type": Param(
            "ml.m5.xlarge",
            type="string",
            title="Production instance type",
            description="Required only when sagemaker_mlops_production_enabled is on.",
        ),
        "source_bucket": Param(
            None,
            type=["null", "string"],
            title="MWAA source bucket",
            description="Optional: also check MWAA's source bucket (versioning is required there).",
        ),
    },
    # A FIX line fails the run at once (AirflowFailException is never retried); a retry covers a transient error.
    default_args={
        "owner": "ml-platform",
        "retries": 1,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(hours=1),
    },
    tags=["sagemaker", "setup"],
) as dag:
    setup_check()

keep_params_on_dag(dag)  # the form's Params stay on the DAG; tasks read them from it at run time
