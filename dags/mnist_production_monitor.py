"""
### The production endpoint's drift monitor — data-aware retraining

Hourly (`SAGEMAKER_MLOPS_MONITOR_CRON`), no catch-up, one run at a time. Reads the data capture the production
endpoint (`sagemaker_mlops_monitor_endpoint`, default `mnist-production`) wrote since the last run — SageMaker's
JSON Lines under the endpoint config's `DataCaptureConfig.DestinationS3Uri`, from a watermark (the last object
read, kept in S3 beside the capture), all pages, at most `sagemaker_mlops_monitor_max_records` per run — and
compares it with the **baseline** of the Approved package the endpoint serves (its `baseline_uri` metadata):

* the predictions' class mix (Jensen–Shannon divergence; PSI shown beside it), mean top-1 confidence;
* the inputs: image size, mean intensity, fraction unreadable; invocations and error rate (CloudWatch).

Each run writes `drift-report.json` and a self-contained `drift-report.html` beside the capture, publishes the
figures as CloudWatch metrics (namespace `SageMakerMLOps/Drift`) with one alarm per limited figure
(`<endpoint>-drift-<figure>`). Past a threshold it emits the Asset `sagemaker_mlops.production_drift`, with the
reasons in the event's extra, at most once per `sagemaker_mlops_drift_cooldown_hours`; `mnist_incremental_spot`
retrains on it. No capture, or fewer than `sagemaker_mlops_monitor_min_records` new records, skips the run, saying so.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, CronTriggerTimetable, Param

from sagemaker_mlops.core.dag_params import keep_params_on_dag
from sagemaker_mlops.monitoring import monitor_tasks

MONITOR_CRON = os.environ.get("SAGEMAKER_MLOPS_MONITOR_CRON", "0 * * * *")

with DAG(
    dag_id="mnist_production_monitor",
    description="Drift of the production endpoint against its package's baseline; emits the drift Asset",
    doc_md=__doc__,
    schedule=CronTriggerTimetable(MONITOR_CRON, timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "max_records": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=100000,
            title="Max records",
            description="Captured records read at most in this run. Empty: the Variable "
            "sagemaker_mlops_monitor_max_records (default 5000).",
        ),
    },
    default_args={
        "owner": "ml-platform",
        "retries": 1,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": timedelta(hours=1),  # reads a bounded amount of capture (max_records)
    },
    tags=["sagemaker", "production", "monitoring", "drift"],
) as dag:
    monitor_tasks.emit_drift_event(monitor_tasks.measure_drift())

keep_params_on_dag(dag)  # the form's Params stay on the DAG; tasks read them from it at run time
