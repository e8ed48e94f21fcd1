"""The task that builds the utilisation report after a training job (both pipelines).

It reads the job's CloudWatch instance metrics over the job's own time window through the connection-aware hook,
builds the report (:mod:`.utilisation`), renders it (:mod:`.utilisation_html`) and stores ``utilisation.json`` and
``utilisation.html`` next to the model; the task's extra link opens the HTML in the S3 console.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import task

from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.monitoring import utilisation
from sagemaker_mlops.training import job as training

log = logging.getLogger(__name__)

TASK_ID = "utilisation_report"


def _window(job: dict[str, Any]) -> tuple[Any, Any]:
    """The job's instance time, one minute wider on each side (metrics are 1-minute buckets)."""
    start = job.get("TrainingStartTime") or job["CreationTime"]
    ends = [t for t in (job.get("TrainingEndTime"), job.get("LastModifiedTime")) if t is not None]
    end = max(ends) if ends else start
    return start.replace(second=0, microsecond=0) - timedelta(minutes=1), end + timedelta(minutes=2)


def read_series(cloudwatch: Any, job: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """GetMetricData (all pages) for every host and metric of the job, at a period CloudWatch still answers for
    data that old (:func:`utilisation.period_for`: a long spot job's first weeks need 5-minute or 1-hour points)."""
    count = int(job.get("ResourceConfig", {}).get("InstanceCount", 1))
    start, end = _window(job)
    now = now or datetime.now(UTC)
    period = utilisation.period_for(start, end, now, count * len(utilisation.METRICS))
    if period != utilisation.PERIOD_SECONDS:
        log.info("Metrics from %s are read at %d s points (CloudWatch's retention for data that old).", start, period)
    queries = utilisation.metric_queries(job["TrainingJobName"], count, period)
    results: list[dict[str, Any]] = []
    for first in range(0, len(queries), 500):  # GetMetricData takes at most 500 queries
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries[first : first + 500],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            page = cloudwatch.get_metric_data(**kwargs)
            results += page.get("MetricDataResults", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return utilisation.series_from_results(results)


@task(task_id=TASK_ID)
def utilisation_report(config: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Per host and metric min/mean/p95/max, phase times and a right-sizing verdict; JSON + HTML next to the model."""
    from sagemaker_mlops.core.airflow_tasks import aws_client, s3_hook, sagemaker_client, store_beside_model
    from sagemaker_mlops.monitoring import utilisation_html

    cfg = RunConfig.from_dict(config)
    job = training.describe_or_none(sagemaker_client(cfg), result["training_job_name"])
    if job is None:
        raise RuntimeError(f"Training job {result['training_job_name']} not found in {cfg.region}.")
    report = utilisation.build_report(job, read_series(aws_client(cfg, "cloudwatch"), job))
    s3 = s3_hook(cfg)
    json_uri = store_beside_model(s3, result, "utilisation.json", report)
    html_uri = store_beside_model(s3, result, "utilisation.html", utilisation_html.render(report))
    for finding in report["verdict"]["findings"]:
        log.info("Utilisation: %s", finding)
    log.info("Utilisation report: %s (JSON: %s)", html_uri, json_uri)
    return {
        "training_job_name": job["TrainingJobName"],
        "rating": report["verdict"]["rating"],
        "verdict": report["verdict"]["text"],
        "findings": report["verdict"]["findings"],
        "html_uri": html_uri,
        "json_uri": json_uri,
    }
