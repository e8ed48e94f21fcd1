"""The production drift monitor: the statistics on known inputs, the capture format, the requests against botocore's
model; then the DAG on the emulator — injected drift emits exactly one drift Asset event (and queues exactly one
pipeline-2 run), a second run inside the cooldown emits none, no capture or too few records skip the run."""

from __future__ import annotations

import base64
import io
import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from sagemaker_mlops.core import naming
from sagemaker_mlops.monitoring import capture, drift
from sagemaker_mlops.monitoring import monitor_tasks as mt

from constants import DATA_BUCKET
from dag_runs import run_dag, sync_dags_to_db, xcom
from emulator_helpers import approved_packages, capturing_model_and_config, first_png, wait_endpoint

DAG_ID = "mnist_production_monitor"
ENDPOINT = "mnist-production"
DESTINATION = f"s3://{DATA_BUCKET}/production/{ENDPOINT}/data-capture"
UNIFORM = {str(i): 0.1 for i in range(10)}


def _png(value: int, size: int = 28) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (size, size), color=value).save(buffer, format="PNG")
    return buffer.getvalue()


def baseline(**changes: Any) -> dict[str, Any]:
    return {
        "schema": "sagemaker_mlops.baseline/1",
        "holdout": {"uri": "s3://holdout/h.zip", "sha256": "0" * 64, "images": 100},
        "training_job": "mlops-train-x",
        "model_data_url": "s3://b/out/model.tar.gz",
        "accuracy": 0.95,
        "per_class": {str(i): {"precision": 0.9, "recall": 0.9, "support": 10} for i in range(10)},
        "confusion": [[10 if i == j else 0 for j in range(10)] for i in range(10)],
        "class_mix": dict(UNIFORM),
        "mean_top1_confidence": 0.9,
        "input": {"mean_intensity": 40.0, "mean_width": 28.0, "mean_height": 28.0, "unreadable_fraction": 0.0},
        "created_at": "2026-12-01T00:00:00Z",
        **changes,
    }


def _valid(service: str, operation: str, request: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


# -- statistics ------------------------------------------------------------------------------------------------------
def test_jensen_shannon_on_known_inputs() -> None:
    assert drift.js_divergence(UNIFORM, UNIFORM) == pytest.approx(0.0)
    assert drift.js_divergence({"0": 1.0}, {"1": 1.0}) == pytest.approx(1.0)  # disjoint: the bound, no epsilon
    # m = (.75, .25): KL(p||m) = .5 log2(2/3) + .5 log2(2) = .20752, KL(q||m) = log2(4/3) = .41504
    assert drift.js_divergence({"0": 0.5, "1": 0.5}, {"0": 1.0}) == pytest.approx(0.311278, abs=1e-6)
    assert drift.js_divergence({"0": 2, "1": 2}, {"0": 0.5, "1": 0.5}) == pytest.approx(0.0)  # counts normalise
    assert drift.js_divergence({"0": 0.5, "1": 0.5}, {"0": 1.0}) == pytest.approx(
        drift.js_divergence({"0": 1.0}, {"0": 0.5, "1": 0.5})
    )


def test_psi_on_known_inputs() -> None:
    assert drift.psi(UNIFORM, UNIFORM) == pytest.approx(0.0)
    # (.6-.5) ln(.6/.5) + (.4-.5) ln(.4/.5) = .018232 + .022314
    assert drift.psi({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4}) == pytest.approx(0.040546, abs=1e-6)
    # a class absent on one side is floored at epsilon: finite, and dependent on it (why PSI never decides)
    assert drift.psi({"a": 1.0}, {"b": 1.0}) == pytest.approx(2 * (1 - 1e-4) * math.log(1 / 1e-4))


def test_summary_of_images_and_answers() -> None:
    records = [
        drift.Record(_png(20), [0.9, 0.1]),
        drift.Record(_png(60, size=32), [0.3, 0.7]),
        drift.Record(b"not an image", [0.2, 0.8]),
        drift.Record(None, None),
    ]
    summary = drift.summarise(records)
    assert summary["records"] == 4
    assert summary["class_mix"] == {"0": pytest.approx(1 / 3), "1": pytest.approx(2 / 3)}
    assert summary["mean_top1_confidence"] == pytest.approx((0.9 + 0.7 + 0.8) / 3)
    assert summary["input"]["mean_intensity"] == pytest.approx(40.0)
    assert summary["input"]["mean_width"] == pytest.approx(30.0)
    assert summary["input"]["unreadable_fraction"] == pytest.approx(1 / 3)


def test_evaluate_names_each_figure_past_its_threshold() -> None:
    same = drift.summarise(
        [drift.Record(_png(40), [1.0 if j == i % 10 else 0.0 for j in range(10)]) for i in range(50)]
    )
    calm = drift.evaluate(baseline(), same, drift.Thresholds(), invocations=50, errors=0)
    assert calm["drift"] is False and calm["reasons"] == [] and calm["figures"]["class_mix_js"] == pytest.approx(0)
    skewed = [0.05] * 10
    skewed[3] = 0.55
    drifted = drift.summarise([drift.Record(_png(120), skewed) for _ in range(50)])
    verdict = drift.evaluate(baseline(), drifted, drift.Thresholds(), invocations=50, errors=5)
    text = " | ".join(verdict["reasons"])
    assert verdict["drift"] is True
    for words in ("class mix: Jensen-Shannon", "confidence 0.550", "mean intensity 120.0", "error rate 10.0%"):
        assert words in text, text


def test_a_baseline_off_the_contract_is_refused_naming_the_field() -> None:
    assert drift.validate_baseline(baseline())["accuracy"] == 0.95
    for broken, field in [
        ({**baseline(), "schema": "other/1"}, "baseline.schema"),
        ({k: v for k, v in baseline().items() if k != "class_mix"}, "missing class_mix"),
        (baseline(class_mix={"0": 0.5, "1": 0.2}), "sum to 0.7"),
        (baseline(mean_top1_confidence=1.5), "mean_top1_confidence"),
        (baseline(input={"mean_intensity": 1.0}), "input.mean_width"),
        (baseline(holdout={"uri": "s3://h"}), "baseline.holdout"),
    ]:
        with pytest.raises(drift.BaselineError, match=re.escape(field)):
            drift.validate_baseline(broken)


def test_capture_lines_as_the_emulator_writes_them_parse() -> None:
    line = json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "image/png",
                    "mode": "INPUT",
                    "data": base64.b64encode(_png(10)).decode(),
                    "encoding": "BASE64",
                },
                "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": "[0.2, 0.8]"},
            },
            "eventMetadata": {"eventId": "e", "inferenceTime": "2026-12-07T04:00:00Z"},
            "eventVersion": "0",
        }
    )
    record = capture.parse_line(line)
    assert record is not None and record.probabilities == [0.2, 0.8] and record.body == _png(10)
    base64_answer = json.loads(line)
    base64_answer["captureData"]["endpointOutput"].update(
        data=base64.b64encode(b"[0.6, 0.4]").decode(), encoding="BASE64"
    )
    assert capture.parse_line(json.dumps(base64_answer)).probabilities == [0.6, 0.4]
    assert capture.parse_line("{not json") is None
    assert capture.variant_prefix(DESTINATION, ENDPOINT, "AllTraffic") == (
        DATA_BUCKET,
        f"production/{ENDPOINT}/data-capture/{ENDPOINT}/AllTraffic/",
    )


def _capture_line(when: str) -> bytes:
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {"data": "aGk=", "encoding": "BASE64"},
                "endpointOutput": {"data": "[0.1, 0.9]", "encoding": "JSON"},
            },
            "eventMetadata": {"inferenceTime": when},
        }
    ).encode()


def test_a_capture_file_of_a_second_instance_landing_late_is_read_once(aws: Any) -> None:
    """SageMaker names a capture file by when its buffer opened and uploads it when it closes: with two instances,
    instance B's 10:04 file can land after instance A's 10:05 file was read. It is read on the next run, and no file
    is read twice."""
    s3 = aws("s3")
    s3.create_bucket(Bucket="capbkt")
    base = f"cap/{ENDPOINT}/AllTraffic/2026/12/07/10/"
    since = datetime(2026, 12, 7, 9, tzinfo=UTC)

    def run(previous: capture.Batch | None) -> capture.Batch:
        marks, read = (previous.watermarks, previous.read_keys) if previous else ({}, {})
        return capture.read_capture(s3, "s3://capbkt/cap", ENDPOINT, ["AllTraffic"], marks, 1000, since, read)

    s3.put_object(Bucket="capbkt", Key=base + "05-00-000-aaaa.jsonl", Body=_capture_line("2026-12-07T10:05:00Z"))
    first = run(None)
    assert len(first.records) == 1
    s3.put_object(Bucket="capbkt", Key=base + "04-00-000-bbbb.jsonl", Body=_capture_line("2026-12-07T10:04:00Z"))
    second = run(first)
    assert (len(second.records), second.first_time) == (1, "2026-12-07T10:04:00Z")
    assert len(run(second).records) == 0  # nothing twice
    # hours later the margin moved on: keys before it are dropped from the watermark file
    later = f"cap/{ENDPOINT}/AllTraffic/2026/12/07/13/"
    s3.put_object(Bucket="capbkt", Key=later + "00-00-000-aaaa.jsonl", Body=_capture_line("2026-12-07T13:00:00Z"))
    third = run(second)
    assert len(third.records) == 1 and third.read_keys["AllTraffic"] == [later + "00-00-000-aaaa.jsonl"]
    assert third.watermarks["AllTraffic"] == f"cap/{ENDPOINT}/AllTraffic/2026/12/07/12"


def test_the_keys_kept_in_the_watermark_are_bounded() -> None:
    prefix = "cap/e/AllTraffic/"
    read = {f"{prefix}2026/12/07/10/{i:06d}.jsonl" for i in range(capture.MAX_READ_KEYS + 3)}
    after, kept = capture.advance(prefix, f"{prefix}2026/12/07/09", read)
    assert len(kept) == capture.MAX_READ_KEYS and after == f"{prefix}2026/12/07/10/{2:06d}.jsonl"
    assert all(key > after for key in kept)
    # an older watermark file (the last key read, no read_keys) never moves the watermark back
    old = f"{prefix}2026/12/07/10/000009.jsonl"
    assert capture.advance(prefix, old, {f"{prefix}2026/12/07/10/000010.jsonl"})[0] == old


def test_the_cloudwatch_requests_are_valid_and_named_as_iam_allows() -> None:
    now = datetime.now(UTC)
    figures = {name: 0.5 for name in drift.FIGURES}
    _valid(
        "cloudwatch",
        "PutMetricData",
        {"Namespace": mt.NAMESPACE, "MetricData": mt.metric_data(ENDPOINT, figures, now)},
    )
    assert mt.NAMESPACE == "SageMakerMLOps/Drift"
    alarms = mt.alarm_requests(ENDPOINT, drift.alarm_thresholds(baseline(), drift.Thresholds()))
    assert len(alarms) == 4
    # decommission deletes these by name (production may not import monitoring): the names must agree
    assert sorted(a["AlarmName"] for a in alarms) == sorted(naming.drift_alarm_names(ENDPOINT))
    for alarm in alarms:
        _valid("cloudwatch", "PutMetricAlarm", alarm)
        assert alarm["AlarmName"].startswith("mnist-production-drift-") and alarm["Namespace"] == mt.NAMESPACE


def test_invocations_of_a_window_starting_20_days_ago_are_still_read(aws: Any) -> None:
    """CloudWatch answers a StartTime over 15 days ago only for a period that is a multiple of 300 s: with a fixed
    60 s period the monitor read 0 invocations (and dropped the error rate) after a long pause."""
    from moto.cloudwatch import models

    cloudwatch = aws("cloudwatch")
    now = datetime.now(UTC)
    account = aws("sts").get_caller_identity()["Account"]
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}]
    backend = models.cloudwatch_backends[account][cloudwatch.meta.region_name]
    for name, value in (("Invocations", 5.0), ("Invocation5XXErrors", 1.0)):
        backend.put_metric_data(
            "AWS/SageMaker",
            [{"MetricName": name, "Value": value, "Timestamp": now - timedelta(hours=1), "Dimensions": dims}],
        )
    assert mt.invocation_counts(cloudwatch, ENDPOINT, ["AllTraffic"], now - timedelta(days=2), now) == (5.0, 1.0)
    assert mt.invocation_counts(cloudwatch, ENDPOINT, ["AllTraffic"], now - timedelta(days=20), now) == (5.0, 1.0)
    assert mt.invocation_counts(cloudwatch, ENDPOINT, ["AllTraffic"], now - timedelta(days=70), now) == (5.0, 1.0)


def test_cooldown() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert mt.in_cooldown(None, now, 24) is False
    assert mt.in_cooldown(now - timedelta(hours=23), now, 24) is True
    assert mt.in_cooldown(now - timedelta(hours=25), now, 24) is False


def test_pipeline_2_schedules_on_the_drift_asset_besides_its_cron_and_pipeline_1() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from constants import REPO

    dag = DagBag(str(REPO / "dags" / "mnist_incremental_spot.py")).dags["mnist_incremental_spot"]
    names = {asset.name for asset in dag.timetable.asset_condition.objects}
    assert names == {"sagemaker_mlops.production_drift", "sagemaker_mlops.mnist_image_classifier"}
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule" and dag.timetable.timetable.expression == "0 3 * * 1"


# -- the DAG on the emulator -----------------------------------------------------------------------------------------
def _drift_events() -> list[Any]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == mt.DRIFT_ASSET.name)
        ).all()
        return [{"extra": r.extra, "timestamp": r.timestamp} for r in rows]


def _queued_retrains() -> int:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(
            select(func.count())
            .select_from(AssetDagRunQueue)
            .where(AssetDagRunQueue.target_dag_id == "mnist_incremental_spot")
        )


@pytest.fixture()
def production(airflow_db: Any, airflow_aws: Any, aws: Any, tmp_path: Any, batch1: Any, monkeypatch: Any) -> dict:
    """A trained model as an Approved package with a baseline, served by mnist-production with capture on (100%);
    no drift event and no queued pipeline-2 run left from earlier tests."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    with create_session() as session:
        ids = session.scalars(select(AssetModel.id).where(AssetModel.name == mt.DRIFT_ASSET.name)).all()
        session.execute(delete(AssetEvent).where(AssetEvent.asset_id.in_(ids)))
        session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == "mnist_incremental_spot"))

    sm, s3 = aws("sagemaker"), aws("s3")
    baseline_uri = f"s3://{DATA_BUCKET}/evaluation/baseline.json"
    artifact, [arn] = approved_packages(
        aws, batch1, DATA_BUCKET, "mlops-train-mon", 1, CustomerMetadataProperties={"baseline_uri": baseline_uri}
    )
    s3.put_object(Bucket=DATA_BUCKET, Key="evaluation/baseline.json", Body=json.dumps(baseline()).encode())
    capturing_model_and_config(sm, artifact, "mlops-prod-model", "mlops-prod-epc", DESTINATION)
    sm.create_endpoint(
        EndpointName=ENDPOINT,
        EndpointConfigName="mlops-prod-epc",
        Tags=[
            {"Key": "mlops:model-package", "Value": arn},
            {"Key": "mlops:environment", "Value": "production"},
            {"Key": "mlops:created-by", "Value": "airflow-sagemaker-mlops"},
        ],
    )
    wait_endpoint(sm, ENDPOINT)
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_MONITOR_MIN_RECORDS", "20")
    return {"sm": sm, "s3": s3, "arn": arn}


def plant_capture(s3: Any, count: int, label: int | None, intensity: int = 40, when: datetime | None = None) -> None:
    """``count`` capture lines in SageMaker's format, predicting ``label`` (None: classes in turn) with 0.9."""
    when = when or datetime.now(UTC)
    lines = []
    for i in range(count):
        top = label if label is not None else i % 10
        answer = [0.1 / 9] * 10
        answer[top] = 0.9
        lines.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "image/png",
                            "mode": "INPUT",
                            "data": base64.b64encode(_png(intensity)).decode(),
                            "encoding": "BASE64",
                        },
                        "endpointOutput": {
                            "observedContentType": "application/json",
                            "mode": "OUTPUT",
                            "data": json.dumps(answer),
                            "encoding": "JSON",
                        },
                    },
                    "eventMetadata": {"eventId": f"e{i}", "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
                    "eventVersion": "0",
                }
            )
        )
    key = f"production/{ENDPOINT}/data-capture/{ENDPOINT}/AllTraffic/{when:%Y/%m/%d/%H}/{when:%M-%S-%f}-planted.jsonl"
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())


def _unpaused_pipeline_2() -> None:
    """Pipeline 2 in the metadata DB and unpaused, as the DAG processor and a person would leave it, so an Asset
    event queues its run (AssetDagRunQueue: what the scheduler turns into exactly one run)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    sync_dags_to_db()
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == "mnist_incremental_spot").values(is_paused=False))


@pytest.mark.e2e
def test_injected_drift_emits_one_event_and_queues_one_retrain_then_the_cooldown_holds(
    production: dict, aws: Any
) -> None:
    _unpaused_pipeline_2()
    plant_capture(production["s3"], 60, label=3)  # every answer says "3": the class mix drifts

    run, states = run_dag(DAG_ID, {}, datetime(2026, 12, 7, 1, tzinfo=UTC))
    assert str(run.state) == "success", states
    assert states == {"measure_drift": "success", "emit_drift_event": "success"}, states
    measured = xcom(run, "measure_drift")
    assert measured["drift"] is True and measured["figures"]["records"] == 60
    assert any(r.startswith("class mix: Jensen-Shannon") for r in measured["reasons"]), measured["reasons"]
    [event] = _drift_events()
    assert event["extra"]["reasons"] == measured["reasons"] and event["extra"]["package_arn"] == production["arn"]
    assert _queued_retrains() == 1

    # the report beside the capture, the metrics in the namespace, an alarm per limited figure, in ALARM
    s3 = production["s3"]
    report = json.loads(s3.get_object(Bucket=DATA_BUCKET, Key=measured["report_uri"].split("/", 3)[3])["Body"].read())
    assert report["summary"]["class_mix"] == {"3": 1.0} and report["capture"]["records"] == 60
    page = s3.get_object(Bucket=DATA_BUCKET, Key=measured["html_uri"].split("/", 3)[3])["Body"].read().decode()
    assert "Verdict: DRIFT" in page and "data:image/png;base64," in page
    cw = aws("cloudwatch")
    [alarm] = cw.describe_alarms(AlarmNames=[f"{ENDPOINT}-drift-class-mix-js"])["MetricAlarms"]
    assert alarm["Namespace"] == "SageMakerMLOps/Drift" and alarm["Threshold"] == 0.1
    answer = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "js",
                "MetricStat": {
                    "Metric": {
                        "Namespace": mt.NAMESPACE,
                        "MetricName": "ClassMixJensenShannon",
                        "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT}],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=datetime.now(UTC) - timedelta(minutes=10),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
    )
    assert answer["MetricDataResults"][0]["Values"] == [pytest.approx(measured["figures"]["class_mix_js"])]

    # a second run inside the cooldown: drift again, no event, no second retrain
    plant_capture(production["s3"], 60, label=3)
    run, states = run_dag(DAG_ID, {}, datetime(2026, 12, 7, 2, tzinfo=UTC))
    assert str(run.state) == "success", states
    assert states == {"measure_drift": "success", "emit_drift_event": "skipped"}, states
    assert xcom(run, "measure_drift")["figures"]["records"] == 60  # the watermark: only the new capture
    assert len(_drift_events()) == 1 and _queued_retrains() == 1


@pytest.mark.e2e
def test_no_capture_or_too_few_records_is_a_skipped_run(production: dict, capfd: Any) -> None:
    run, states = run_dag(DAG_ID, {}, datetime(2026, 12, 7, 3, tzinfo=UTC))
    assert str(run.state) == "success" and states == {"measure_drift": "skipped", "emit_drift_event": "skipped"}
    plant_capture(production["s3"], 5, label=None)
    run, states = run_dag(DAG_ID, {}, datetime(2026, 12, 7, 4, tzinfo=UTC))
    assert states == {"measure_drift": "skipped", "emit_drift_event": "skipped"}, states
    out = capfd.readouterr()
    assert "No new capture" in out.out + out.err and "Only 5 new captured records" in out.out + out.err
    assert _drift_events() == []


@pytest.mark.e2e
def test_real_invocations_are_read_from_the_emulators_capture_without_drift(
    production: dict, aws: Any, batch1: Any, monkeypatch: Any
) -> None:
    """The emulator's own capture (one object per request) read back: counts, image statistics, no drift event."""
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_MONITOR_MIN_RECORDS", "5")
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_DRIFT_JS_THRESHOLD", "1")  # the stand-in's mix is not the test's
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_DRIFT_CONFIDENCE_DROP", "1")
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_DRIFT_INTENSITY_SHIFT", "255")
    png, _ = first_png(batch1)
    runtime = aws("sagemaker-runtime")
    for _ in range(8):
        runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=png)
    run, states = run_dag(DAG_ID, {}, datetime(2026, 12, 7, 5, tzinfo=UTC))
    assert states == {"measure_drift": "success", "emit_drift_event": "skipped"}, states
    measured = xcom(run, "measure_drift")
    assert measured["figures"]["records"] == 8 and measured["figures"]["invocations"] == 8
    assert measured["figures"]["unreadable_fraction"] == 0 and measured["figures"]["error_rate"] == 0
    cw = aws("cloudwatch")
    names = {a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix=f"{ENDPOINT}-drift-")["MetricAlarms"]}
    assert names == {
        f"{ENDPOINT}-drift-{f}" for f in ("class-mix-js", "mean-top1-confidence", "unreadable-fraction", "error-rate")
    }
    listed = cw.list_metrics(Namespace=mt.NAMESPACE)["Metrics"]
    assert {"ClassMixJensenShannon", "CapturedRecords", "Invocations"} <= {m["MetricName"] for m in listed}


def test_the_watched_endpoint_comes_from_the_admins_variables_only() -> None:
    """Issue 20 review: the monitor's endpoint is the admin's (monitor Variable, else the production endpoint's)."""
    assert mt.monitored_endpoint(lambda key: None) == ENDPOINT
    assert mt.monitored_endpoint({"sagemaker_mlops_production_endpoint": "prod-b"}.get) == "prod-b"
    both = {"sagemaker_mlops_production_endpoint": "prod-b", "sagemaker_mlops_monitor_endpoint": "prod-c"}
    assert mt.monitored_endpoint(both.get) == "prod-c"


@pytest.mark.e2e
def test_another_runs_endpoint_is_never_watched(
    airflow_db: Any, airflow_aws: Any, aws: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    """Issue 20 review: conf endpoint_name pointed the monitor at another run's endpoint (reading its capture, writing
    reports and watermarks into its bucket, retraining pipeline 2 on its drift). The conf key is refused; an endpoint
    the admin names that is not tagged production fails before anything is read or written."""

    from emulator_helpers import another_runs_endpoint

    victim = another_runs_endpoint(aws, tmp_path)
    airflow_aws.clear_requests()
    run, states = run_dag(DAG_ID, {"endpoint_name": victim})
    assert str(run.state) == "failed", states
    assert "DescribeEndpoint" not in airflow_aws.actions("sagemaker")

    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_MONITOR_ENDPOINT", victim)
    run, states = run_dag(DAG_ID, {}, datetime(2026, 6, 2, tzinfo=UTC))
    assert str(run.state) == "failed", states
    assert not [a for a in airflow_aws.actions("s3") if a.startswith(("Put", "Get", "List"))]
