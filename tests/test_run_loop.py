"""``make run``'s closed loop (include/dev/run_loop.py, asset_runs.py): the traffic it sends, the verdict and trigger
it prints, and on the emulator the loop itself — normal traffic is no drift and queues nothing; drifted traffic
emits one drift event; pipeline 2's run is the scheduler's asset-triggered run consuming exactly that event, and
there is exactly one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sagemaker_mlops.monitoring import drift
from sagemaker_mlops.monitoring import monitor_tasks as mt

import asset_runs
import run_loop
from constants import DATA_BUCKET
from dag_runs import load_dag, run_dag, sync_dags_to_db, xcom
from emulator_helpers import capturing_model_and_config, completed_job, register_approved, wait_endpoint

ENDPOINT = "mnist-production"
RETRAIN = "mnist_incremental_spot"


# -- the traffic and what the summary prints ------------------------------------------------------------------------
def test_normal_traffic_is_every_digit_alike_and_drifted_traffic_only_two() -> None:
    images = run_loop.traffic_images()
    normal, drifted = run_loop.normal_traffic(images), run_loop.drifted_traffic(images)
    label_of = {body: label for label, bodies in images.items() for body in bodies}
    assert len(label_of) == sum(len(b) for b in images.values())  # distinct images, no digit sent twice
    counts = {label: [label_of[b] for b in normal].count(label) for label in range(10)}
    assert counts == {label: run_loop.NORMAL_PER_CLASS for label in range(10)}
    assert {label_of[b] for b in drifted} == set(run_loop.DRIFTED_DIGITS)
    # enough records for the monitor to judge at its default minimum, else the run is skipped, not a verdict
    assert len(drifted) >= mt.VARIABLES["sagemaker_mlops_monitor_min_records"] <= len(normal)


def _report(summary_mix: dict[str, float], confidence: float) -> dict[str, Any]:
    baseline = {
        "class_mix": {str(i): 0.1 for i in range(10)},
        "mean_top1_confidence": 0.9,
        "input": {"mean_intensity": 33.0},
    }
    summary = {
        "records": 60,
        "class_counts": {k: round(v * 60) for k, v in summary_mix.items()},
        "class_mix": summary_mix,
        "mean_top1_confidence": confidence,
        "input": {"mean_intensity": 34.0, "unreadable_fraction": 0.0},
    }
    verdict = drift.evaluate(baseline, summary, drift.Thresholds(), invocations=60, errors=0)
    return {
        **verdict,
        "thresholds": drift.Thresholds().__dict__,
        "baseline": baseline,
        "summary": summary,
        "capture": {"records": 60},
        "report_uri": "s3://b/capture/_monitor/mnist-production/20261207T010000Z/drift-report.json",
        "html_uri": "s3://b/capture/_monitor/mnist-production/20261207T010000Z/drift-report.html",
    }


def test_the_verdict_names_each_figure_its_threshold_and_the_report() -> None:
    # JS(uniform, half 1s half 7s): m = .3 on 1 and 7, .05 elsewhere; KL(p||m) = .2 log2(1/3) + .8 = .48301,
    # KL(q||m) = log2(5/3) = .73697; mean .60999
    lines = run_loop.verdict_lines(_report({"1": 0.5, "7": 0.5}, 0.7))
    text = "\n".join(lines)
    assert "class mix Jensen-Shannon 0.610 vs threshold 0.1 -> DRIFT" in text, text
    assert "mean top-1 confidence 0.700 vs floor 0.800 (baseline 0.900 - 0.1) -> DRIFT" in text, text
    assert "mean intensity 34.0 vs baseline 33.0 +/- 25.0 -> ok" in text, text
    assert "error rate 0.0% of 60 invocations vs 5% -> ok" in text, text
    assert lines[-2].startswith("verdict: DRIFT - class mix: Jensen-Shannon 0.610 > 0.1"), lines[-2]
    assert lines[-1] == (
        "report: s3://b/capture/_monitor/mnist-production/20261207T010000Z/drift-report.html "
        "(JSON: s3://b/capture/_monitor/mnist-production/20261207T010000Z/drift-report.json)"
    )
    calm = run_loop.verdict_lines(_report({str(i): 0.1 for i in range(10)}, 0.88))
    assert calm[-2] == "verdict: no drift" and "-> DRIFT" not in "\n".join(calm)


def test_the_trigger_names_the_event_its_source_and_its_reasons() -> None:
    trigger = {
        "run_id": "asset_triggered__2026-12-07T01:00:00+00:00",
        "run_type": "asset_triggered",
        "triggered_by": "asset",
        "conf": {},
        "consumed_asset_events": [
            {
                "asset": mt.DRIFT_ASSET.name,
                "timestamp": "2026-12-07T01:00:00+00:00",
                "source_dag_id": "mnist_production_monitor",
                "source_run_id": "manual__1",
                "source_task_id": "emit_drift_event",
                "extra": {"reasons": ["class mix: Jensen-Shannon 0.531 > 0.1 (PSI 4.1)"], "html_uri": "s3://r.html"},
            }
        ],
    }
    lines = run_loop.trigger_lines(trigger)
    assert "run_type asset_triggered, triggered_by asset" in lines[0] and "consumed 1 Asset event(s)" in lines[0]
    assert "sagemaker_mlops.production_drift" in lines[1] and "mnist_production_monitor/manual__1" in lines[1]
    assert lines[2:] == ["    reasons: class mix: Jensen-Shannon 0.531 > 0.1 (PSI 4.1)", "    report: s3://r.html"]


def test_the_recap_says_each_verdict_the_retrains_trigger_and_its_decision() -> None:
    calm = {**_report({str(i): 0.1 for i in range(10)}, 0.88)}
    drifted = {**_report({"1": 0.5, "7": 0.5}, 0.88), "event_emitted": True}
    trigger = {
        "run_id": "asset_triggered__x",
        "run_type": "asset_triggered",
        "consumed_asset_events": [
            {"asset": mt.DRIFT_ASSET.name, "source_dag_id": "mnist_production_monitor", "source_run_id": "manual__2"}
        ],
    }
    rejected = {"promote": False, "reason": "new model 0.883 vs base model 0.892 on the pinned holdout"}
    lines = run_loop.recap_lines(calm, drifted, trigger, rejected)
    assert lines[0] == "normal traffic -> no drift (class mix JS 0.000 <= 0.1), no event"
    assert lines[1].startswith("drifted traffic -> DRIFT (class mix: Jensen-Shannon 0.610 > 0.1")
    assert "drift event emitted; report s3://b/capture/" in lines[1]
    assert lines[2] == (
        "retrain: asset_triggered__x (asset_triggered) from sagemaker_mlops.production_drift of "
        "mnist_production_monitor/manual__2"
    )
    assert lines[3] == "holdout decision: REJECTED, production kept: " + rejected["reason"]
    promoted = run_loop.recap_lines(None, None, None, {"promote": True, "reason": "better"})
    assert promoted[0].endswith("no verdict (the run was skipped or failed)") and promoted[2] == "retrain: no run"
    assert promoted[3] == "holdout decision: PROMOTED, production updated: better"


# -- the loop on the emulator ----------------------------------------------------------------------------------------
def _fresh_retrain_queue() -> None:
    """Pipeline 2 synced and unpaused (as make run leaves it), with no earlier events of its Assets or queued runs."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select, update

    sync_dags_to_db()
    names = {asset.name for asset in load_dag(RETRAIN).timetable.asset_condition.objects}
    with create_session() as session:
        ids = session.scalars(select(AssetModel.id).where(AssetModel.name.in_(names))).all()
        session.execute(delete(AssetEvent).where(AssetEvent.asset_id.in_(ids)))
        session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == RETRAIN))
        session.execute(update(DagModel).where(DagModel.dag_id == RETRAIN).values(is_paused=False))


@pytest.fixture()
def production(airflow_db: Any, airflow_aws: Any, aws: Any, batch1: Any, holdout_zip: Any, monkeypatch: Any) -> Any:
    """A model trained on batch1, Approved with a baseline scored on the pinned holdout (the endpoint's answers on
    its images: what the transform evaluation equals), served by mnist-production capturing every request."""
    from sagemaker_mlops.evaluation import holdout as ho
    from sagemaker_mlops.evaluation import scoring

    sm, s3, runtime = aws("sagemaker"), aws("s3"), aws("sagemaker-runtime")
    artifact = completed_job(aws, batch1, DATA_BUCKET, "ch06", "mlops-train-loop")["ModelArtifacts"]["S3ModelArtifacts"]
    capturing_model_and_config(
        sm,
        artifact,
        "mlops-prod-model-loop",
        "mlops-prod-epc-loop",
        f"s3://{DATA_BUCKET}/production/{ENDPOINT}/data-capture",
    )
    pinned = ho.PinnedHoldout(uri="s3://holdout/batch3.zip", sha256=holdout_zip[1])
    images = ho.read_images(holdout_zip[0], pinned)
    # the holdout scored before the endpoint captures anything (a temporary endpoint without capture)
    sm.create_endpoint_config(
        EndpointConfigName="mlops-eval-epc-loop",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "mlops-prod-model-loop",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
    )
    sm.create_endpoint(EndpointName="mlops-eval-loop", EndpointConfigName="mlops-eval-epc-loop")
    wait_endpoint(sm, "mlops-eval-loop")
    answers = [
        json.loads(
            runtime.invoke_endpoint(EndpointName="mlops-eval-loop", ContentType="image/png", Body=i.data)["Body"].read()
        )
        for i in images
    ]
    scores = scoring.score([i.label for i in images], answers, 10)
    baseline = {
        "schema": drift.BASELINE_SCHEMA,
        "holdout": {"uri": pinned.uri, "sha256": pinned.sha256, "images": len(images)},
        "training_job": "mlops-train-loop",
        "model_data_url": artifact,
        "accuracy": scores["accuracy"],
        "per_class": scores["per_class"],
        "confusion": scores["confusion"],
        "class_mix": scores["class_mix"],
        "mean_top1_confidence": scores["mean_top1_confidence"],
        "input": dict(ho.input_statistics([i.data for i in images])),
        "created_at": "2026-12-07T00:00:00+00:00",
    }
    s3.put_object(Bucket=DATA_BUCKET, Key="evaluation/loop/baseline.json", Body=json.dumps(baseline).encode())
    (arn,) = register_approved(
        sm, artifact, CustomerMetadataProperties={"baseline_uri": f"s3://{DATA_BUCKET}/evaluation/loop/baseline.json"}
    )
    sm.create_endpoint(
        EndpointName=ENDPOINT,
        EndpointConfigName="mlops-prod-epc-loop",
        Tags=[
            {"Key": "mlops:model-package", "Value": arn},
            {"Key": "mlops:environment", "Value": "production"},
            {"Key": "mlops:created-by", "Value": "airflow-sagemaker-mlops"},
        ],
    )
    wait_endpoint(sm, ENDPOINT)
    _fresh_retrain_queue()
    return {"runtime": runtime, "arn": arn}


@pytest.mark.e2e
def test_drifted_traffic_starts_exactly_one_retrain_from_the_drift_event(production: dict) -> None:
    from airflow.utils.session import create_session

    images = run_loop.traffic_images()
    sent = run_loop.send(production["runtime"], ENDPOINT, run_loop.normal_traffic(images))
    assert sent["errors"] == 0
    run, states = run_dag(run_loop.MONITOR_DAG, {}, datetime(2026, 12, 7, 1, tzinfo=UTC))
    calm = xcom(run, "measure_drift")
    assert states == {"measure_drift": "success", "emit_drift_event": "skipped"}, (states, calm)
    assert calm["drift"] is False and calm["figures"]["records"] == sent["sent"], calm
    with create_session() as session, pytest.raises(asset_runs.NoQueuedEvent):
        asset_runs.create_asset_triggered_run(RETRAIN, session)  # no event: the scheduler starts nothing

    run_loop.send(production["runtime"], ENDPOINT, run_loop.drifted_traffic(images))
    monitor, states = run_dag(run_loop.MONITOR_DAG, {}, datetime(2026, 12, 7, 2, tzinfo=UTC))
    measured = xcom(monitor, "measure_drift")
    assert states == {"measure_drift": "success", "emit_drift_event": "success"}, (states, measured)
    assert any(r.startswith("class mix: Jensen-Shannon") for r in measured["reasons"]), measured["reasons"]

    # pipeline 2's run as the scheduler makes it (its tasks marked done: the retrain itself is make run's part)
    retrain = asset_runs.run_asset_triggered(load_dag(RETRAIN), mark_success_pattern=".*")
    trigger = asset_runs.trigger_of(retrain)
    assert (trigger["run_type"], trigger["triggered_by"], trigger["conf"]) == ("asset_triggered", "asset", {})
    [event] = trigger["consumed_asset_events"]
    assert (event["asset"], event["source_dag_id"], event["source_run_id"]) == (
        mt.DRIFT_ASSET.name,
        run_loop.MONITOR_DAG,
        monitor.run_id,
    )
    assert event["extra"]["reasons"] == measured["reasons"] and event["extra"]["package_arn"] == production["arn"]
    assert trigger["state"] == "success"
    with create_session() as session, pytest.raises(asset_runs.NoQueuedEvent):
        asset_runs.create_asset_triggered_run(RETRAIN, session)  # its queue consumed: exactly one retrain
