"""The tasks of ``mnist_production_monitor``: measure the production endpoint's drift, then emit the drift Asset.

Two tasks because an Asset event is what a successful task with that outlet produces: ``measure_drift`` reads the
capture, scores it against the Approved package's baseline, writes the report and the CloudWatch metrics and
alarms; ``emit_drift_event`` (outlet: :data:`DRIFT_ASSET`) runs only on drift, and skips — no event — inside the
cooldown. The last emission is remembered where Airflow already keeps it: the Asset's own events, read through the
task's inlet (``inlet_events``), so no second record can disagree with what actually triggered pipeline 2.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, task

from sagemaker_mlops.core.metrics import metric_period, variant_sum_query
from sagemaker_mlops.core.naming import drift_alarm_name
from sagemaker_mlops.core.tags import CREATED_BY, TAG_CREATED_BY
from sagemaker_mlops.monitoring import capture, drift

log = logging.getLogger(__name__)

DRIFT_ASSET = Asset(name="sagemaker_mlops.production_drift")
AWS_CONN_ID = "aws_default"
NAMESPACE = "SageMakerMLOps/Drift"  # the IAM policy allows PutMetricData in this namespace only
PACKAGE_TAG = "mlops:model-package"  # production.production_config.TAG_MODEL_PACKAGE (monitoring may not import it)
# production.production_config's names (monitoring may not import production)
PRODUCTION_ENDPOINT_VARIABLE = "sagemaker_mlops_production_endpoint"
ENVIRONMENT_TAG = "mlops:environment"
REPORT_FOLDER = "_monitor"  # beside <DestinationS3Uri>/<endpoint>/: no endpoint name starts with "_"

# Variable -> default (docs/configuration.md explains each)
VARIABLES: dict[str, Any] = {
    "sagemaker_mlops_monitor_endpoint": "mnist-production",
    "sagemaker_mlops_monitor_max_records": 5000,
    "sagemaker_mlops_monitor_min_records": 50,
    "sagemaker_mlops_monitor_lookback_hours": 24,
    "sagemaker_mlops_drift_js_threshold": 0.1,
    "sagemaker_mlops_drift_confidence_drop": 0.1,
    "sagemaker_mlops_drift_intensity_shift": 25.0,
    "sagemaker_mlops_drift_unreadable_fraction": 0.05,
    "sagemaker_mlops_drift_error_rate": 0.05,
    "sagemaker_mlops_drift_cooldown_hours": 24,
}


def variable(name: str) -> Any:
    """A Variable as the type of its default; a value that does not convert fails naming the Variable."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException

    default = VARIABLES[name]
    raw = Variable.get(name, default=None)
    if raw in (None, ""):
        return default
    try:
        value = type(default)(raw)
    except (TypeError, ValueError):
        raise AirflowFailException(f"Variable {name}: {raw!r} is not a {type(default).__name__}") from None
    if isinstance(value, (int, float)) and value < 0:
        raise AirflowFailException(f"Variable {name}: {raw!r} is negative. Fix: use e.g. {default}")
    return value


def thresholds() -> drift.Thresholds:
    return drift.Thresholds(
        class_mix_js=variable("sagemaker_mlops_drift_js_threshold"),
        confidence_drop=variable("sagemaker_mlops_drift_confidence_drop"),
        intensity_shift=variable("sagemaker_mlops_drift_intensity_shift"),
        unreadable_fraction=variable("sagemaker_mlops_drift_unreadable_fraction"),
        error_rate=variable("sagemaker_mlops_drift_error_rate"),
    )


def _clients(region: str | None) -> tuple[Any, Any, Any]:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    sagemaker = SageMakerHook(aws_conn_id=AWS_CONN_ID, region_name=region).conn
    cloudwatch = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="cloudwatch", region_name=region).conn
    return sagemaker, cloudwatch, S3Hook(aws_conn_id=AWS_CONN_ID, region_name=region).conn


def monitored_endpoint(variable: Any) -> str:
    """The endpoint to watch: the admin's Variables only (``sagemaker_mlops_monitor_endpoint``, else the production
    endpoint's ``sagemaker_mlops_production_endpoint``, else ``mnist-production``), never the trigger form: the form
    would otherwise make the monitor read any endpoint's capture, write into its bucket and retrain on its drift."""
    return (
        (variable("sagemaker_mlops_monitor_endpoint") or "").strip()
        or (variable(PRODUCTION_ENDPOINT_VARIABLE) or "").strip()
        or VARIABLES["sagemaker_mlops_monitor_endpoint"]
    )


def check_production_endpoint(sagemaker: Any, endpoint: dict[str, Any]) -> None:
    """Fail unless the endpoint is tagged as this package's production (``mlops:created-by`` and
    ``mlops:environment=production``, what mnist_deploy_production writes): nothing else is monitored."""
    from airflow.sdk.exceptions import AirflowFailException

    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"]).get("Tags", [])}
    wanted = {TAG_CREATED_BY: CREATED_BY, ENVIRONMENT_TAG: "production"}
    differing = [f"{k}={tags.get(k)!r} (wanted {v!r})" for k, v in wanted.items() if tags.get(k) != v]
    if differing:
        raise AirflowFailException(
            f"Endpoint {endpoint['EndpointName']} is not this package's production endpoint: {'; '.join(differing)}. "
            "Nothing was read or written. Fix: point the Variable sagemaker_mlops_monitor_endpoint at the endpoint "
            "mnist_deploy_production deployed"
        )


def serving_package(sagemaker: Any, endpoint: dict[str, Any]) -> dict[str, Any]:
    """The Approved package the endpoint serves: its ``mlops:model-package`` tag (set by the production DAG)."""
    from airflow.sdk.exceptions import AirflowFailException

    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"]).get("Tags", [])}
    arn = tags.get(PACKAGE_TAG)
    if not arn:
        raise AirflowFailException(
            f"Endpoint {endpoint['EndpointName']} has no {PACKAGE_TAG} tag: deploy it with mnist_deploy_production."
        )
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    if package.get("ModelApprovalStatus") != "Approved":
        raise AirflowFailException(f"{arn} is {package.get('ModelApprovalStatus')}, not Approved: no baseline to trust")
    return package


def load_baseline(s3: Any, package: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(URI, baseline) from the package's CustomerMetadataProperties ``baseline_uri``, validated."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    uri = (package.get("CustomerMetadataProperties") or {}).get("baseline_uri")
    if not uri:
        raise AirflowSkipException(
            f"{package['ModelPackageArn']} has no baseline_uri in its CustomerMetadataProperties (packages evaluated "
            "on the pinned holdout carry one): nothing to compare production with."
        )
    try:
        bucket, key = capture.split_s3_uri(uri)
        baseline = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return uri, drift.validate_baseline(baseline)
    except (ValueError, drift.BaselineError) as error:
        raise AirflowFailException(f"Baseline {uri}: {error}") from error


def invocation_counts(
    cloudwatch: Any, endpoint: str, variants: list[str], start: datetime, end: datetime
) -> tuple[float, float]:
    """(Invocations, 4XX + 5XX errors) of the endpoint's variants over the window (GetMetricData, Sum, all pages).

    The period follows the window's age (:func:`~sagemaker_mlops.core.metrics.metric_period`): CloudWatch answers a
    StartTime over 15 days ago with no points unless the period is a multiple of 300 s (3,600 s past 63 days)."""
    period = metric_period(start, end, datetime.now(UTC))
    queries = [
        variant_sum_query(f"{metric.lower().replace('invocation', 'i')}{i}", endpoint, variant, metric, period, metric)
        for i, variant in enumerate(variants)
        for metric in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors")
    ]
    totals = {"Invocations": 0.0, "errors": 0.0}
    kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
    while True:
        page = cloudwatch.get_metric_data(**kwargs)
        for result in page.get("MetricDataResults", []):
            key = "Invocations" if result.get("Label") == "Invocations" else "errors"
            totals[key] += sum(result.get("Values", []))
        if not page.get("NextToken"):
            return totals["Invocations"], totals["errors"]
        kwargs["NextToken"] = page["NextToken"]


def metric_data(endpoint: str, figures: dict[str, float], when: datetime) -> list[dict[str, Any]]:
    """PutMetricData's MetricData: one datum per figure, dimension EndpointName."""
    return [
        {
            "MetricName": drift.FIGURES[name][0],
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
            "Timestamp": when,
            "Value": float(value),
            "Unit": drift.FIGURES[name][1],
        }
        for name, value in sorted(figures.items())
        if name in drift.FIGURES
    ]


def alarm_requests(endpoint: str, limits: dict[str, tuple[str, float]]) -> list[dict[str, Any]]:
    """PutMetricAlarm per figure with a limit, named ``<endpoint>-drift-<figure>`` (the IAM pattern)."""
    return [
        {
            "AlarmName": drift_alarm_name(endpoint, figure),
            "AlarmDescription": f"Production drift of {endpoint}: {figure} past the monitor's threshold.",
            "Namespace": NAMESPACE,
            "MetricName": drift.FIGURES[figure][0],
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
            "Statistic": "Maximum",
            "Period": 3600,
            "EvaluationPeriods": 1,
            "Threshold": float(threshold),
            "ComparisonOperator": operator,
            "TreatMissingData": "notBreaching",
        }
        for figure, (operator, threshold) in limits.items()
    ]


@task
def measure_drift(**context: Any) -> dict[str, Any]:
    """Capture since the watermark -> figures vs the baseline -> report (JSON + HTML), metrics, alarms."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from sagemaker_mlops.core.dag_params import declared_params
    from sagemaker_mlops.core.validation import ParamError, refuse_undeclared
    from sagemaker_mlops.monitoring import drift_html

    params, dag_run = context["params"], context["dag_run"]
    try:  # before anything else: Airflow passes undeclared conf keys on unvalidated
        refuse_undeclared(dag_run.conf or {}, declared_params(context), dag_run.dag_id)
    except ParamError as error:
        raise AirflowFailException(str(error)) from error
    region = Variable.get("sagemaker_mlops_region", default=None) or None
    endpoint_name = monitored_endpoint(lambda key: Variable.get(key, default=None))
    max_records = params.get("max_records") or variable("sagemaker_mlops_monitor_max_records")
    min_records = variable("sagemaker_mlops_monitor_min_records")
    sagemaker, cloudwatch, s3 = _clients(region)
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except sagemaker.exceptions.ClientError as error:
        if "Could not find" in str(error) or "ValidationException" in str(error):
            raise AirflowSkipException(f"No endpoint {endpoint_name}: nothing to monitor.") from error
        raise
    check_production_endpoint(sagemaker, endpoint)  # before reading its capture or writing beside it
    destination = (endpoint.get("DataCaptureConfig") or {}).get("DestinationS3Uri")
    if not destination:
        raise AirflowSkipException(f"Endpoint {endpoint_name} has no data capture configured: nothing to read.")
    variants = sorted({v["VariantName"] for v in endpoint.get("ProductionVariants", [])}) or ["AllTraffic"]

    bucket, key = capture.split_s3_uri(destination)
    folder = "/".join(p for p in (key, REPORT_FOLDER, endpoint_name) if p)
    watermark_key = f"{folder}/watermark.json"
    try:
        state = json.loads(s3.get_object(Bucket=bucket, Key=watermark_key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        state = {}
    watermarks, read_keys = state.get("variants", {}), state.get("read_keys", {})
    now = datetime.now(UTC)
    since = capture.first_run_since(now, variable("sagemaker_mlops_monitor_lookback_hours"))
    batch = capture.read_capture(s3, destination, endpoint_name, variants, watermarks, max_records, since, read_keys)
    if not batch.records:
        raise AirflowSkipException(f"No new capture under {destination}/{endpoint_name}/ since the last run.")
    if len(batch.records) < min_records:
        raise AirflowSkipException(
            f"Only {len(batch.records)} new captured records (< sagemaker_mlops_monitor_min_records={min_records}): "
            "too few to judge drift; they are read again, with more, next run."
        )

    package = serving_package(sagemaker, endpoint)
    baseline_uri, baseline = load_baseline(s3, package)
    start = datetime.fromisoformat(batch.first_time.replace("Z", "+00:00")) if batch.first_time else since
    invocations, errors = invocation_counts(cloudwatch, endpoint_name, variants, start - timedelta(minutes=1), now)
    limits = thresholds()
    summary = drift.summarise(batch.records)
    verdict = drift.evaluate(baseline, summary, limits, invocations=invocations, errors=errors)
    report = {
        "endpoint": endpoint_name,
        "package_arn": package["ModelPackageArn"],
        "baseline_uri": baseline_uri,
        "baseline": {k: baseline[k] for k in ("class_mix", "mean_top1_confidence", "input", "accuracy")},
        "capture": {
            "destination": destination,
            "objects": batch.objects,
            "records": len(batch.records),
            "malformed_lines": batch.malformed,
            "capped_at": max_records if batch.capped else None,
            "first_inference": batch.first_time,
            "last_inference": batch.last_time,
        },
        "summary": summary,
        "thresholds": limits.__dict__,
        **verdict,
        "created_at": now.isoformat(),
        "dag_run": context["dag_run"].run_id,
    }
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    json_key, html_key = f"{folder}/{stamp}/drift-report.json", f"{folder}/{stamp}/drift-report.html"
    s3.put_object(Bucket=bucket, Key=json_key, Body=json.dumps(report, indent=2, default=str).encode())
    s3.put_object(Bucket=bucket, Key=html_key, Body=drift_html.render(report).encode(), ContentType="text/html")

    cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=metric_data(endpoint_name, verdict["figures"], now))
    for alarm in alarm_requests(endpoint_name, drift.alarm_thresholds(baseline, limits)):
        cloudwatch.put_metric_alarm(**alarm)
    # last: a run that failed before here reads the same capture again
    s3.put_object(
        Bucket=bucket,
        Key=watermark_key,
        Body=json.dumps(
            {"variants": batch.watermarks, "read_keys": batch.read_keys, "updated_at": now.isoformat()}
        ).encode(),
    )
    for reason in verdict["reasons"]:
        log.warning("Drift: %s", reason)
    log.info("Drift report: s3://%s/%s (JSON: s3://%s/%s)", bucket, html_key, bucket, json_key)
    return {
        "endpoint": endpoint_name,
        "package_arn": package["ModelPackageArn"],
        "drift": verdict["drift"],
        "reasons": verdict["reasons"],
        "figures": verdict["figures"],
        "report_uri": f"s3://{bucket}/{json_key}",
        "html_uri": f"s3://{bucket}/{html_key}",
    }


def in_cooldown(last_emitted: datetime | None, now: datetime, cooldown_hours: float) -> bool:
    return last_emitted is not None and now - last_emitted < timedelta(hours=cooldown_hours)


@task(inlets=[DRIFT_ASSET], outlets=[DRIFT_ASSET])
def emit_drift_event(measured: dict[str, Any], **context: Any) -> dict[str, Any]:
    """The drift Asset event (reasons in its extra), at most one per cooldown window; skipped otherwise."""
    from airflow.sdk.exceptions import AirflowSkipException

    if not measured.get("drift"):
        raise AirflowSkipException("No figure past its threshold: no drift event.")
    cooldown = variable("sagemaker_mlops_drift_cooldown_hours")
    events = list(context["inlet_events"][DRIFT_ASSET][-1:])
    last = events[-1].timestamp if events else None
    now = datetime.now(UTC)
    if in_cooldown(last, now, cooldown):
        raise AirflowSkipException(
            f"Drift again ({'; '.join(measured['reasons'])}), but the last drift event was at {last}, inside the "
            f"{cooldown} h cooldown (sagemaker_mlops_drift_cooldown_hours): no new event, no second retrain."
        )
    extra = {k: measured[k] for k in ("endpoint", "package_arn", "reasons", "figures", "report_uri", "html_uri")}
    context["outlet_events"][DRIFT_ASSET].extra = extra
    log.warning("Drift event emitted: %s", "; ".join(measured["reasons"]))
    return extra
