"""``make run``: the three pipelines end to end on the local AWS emulator, then a summary read back from "AWS".

Starts the emulator and the dataset server, runs each DAG with ``airflow dags test`` and a trigger conf (what
the UI's Trigger form sends), prints what happened, checks nothing billable is left, stops what it started and
exits non-zero on any failure. Logs are kept in .local/run/.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from aws_emulator.control import EmulatorControl
from sagemaker_mlops.core.airflow_tasks import MODEL_ASSET
from sagemaker_mlops.monitoring.monitor_tasks import DRIFT_ASSET
from sagemaker_mlops.production.production_config import DEFAULT_ENDPOINT_NAME
from sagemaker_mlops.registry import registry_config
from sagemaker_mlops.registry import tasks as registry_tasks
from sagemaker_mlops.serving.smoke_test import CLASS_NAMES

import local_stack
import run_loop
import run_production
from local_stack import BUCKET, REPO, LocalStack, dags_test, dags_test_asset_triggered, lineage_file, migrate_db

WORK = REPO / ".local" / "run"


def _read_json(s3: Any, uri: str) -> dict[str, Any]:
    bucket, key = uri[5:].split("/", 1)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _job_names(sm: Any) -> set[str]:
    return {
        j["TrainingJobName"]
        for page in sm.get_paginator("list_training_jobs").paginate()
        for j in page["TrainingJobSummaries"]
    }


def _leftovers(sm: Any, keep: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """What is left billing, less ``keep`` (the production endpoint, deleted only at the end)."""
    left = {
        "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        "endpoint configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "running training jobs": [
            j["TrainingJobName"]
            for status in ("InProgress", "Stopping")
            for j in sm.list_training_jobs(StatusEquals=status)["TrainingJobSummaries"]
        ],
        "running transform jobs": [
            j["TransformJobName"]
            for status in ("InProgress", "Stopping")
            for j in sm.list_transform_jobs(StatusEquals=status)["TransformJobSummaries"]
        ],
    }
    return {kind: [n for n in names if n not in keep] for kind, names in left.items()}


# mnist_tuning in the demo: 4 trials, 2 at a time, on 1 instance each (the book's 20 x 3 on 2 instances would
# need 6 ml.p2.xlarge at once, more than the emulator's default quota of 4, and take minutes).
TUNING_DEMO = {"max_number_of_training_jobs": 4, "max_parallel_training_jobs": 2, "training_instance_count": 1}


def summarize_tuning(sm: Any, s3: Any, new_jobs: set[str]) -> str | None:
    """The tuning job's trials (sorted by objective, with cost) and its best job, whose name it returns."""
    arns = {sm.describe_training_job(TrainingJobName=name).get("TuningJobArn") for name in new_jobs}
    if len(arns) != 1 or None in arns:
        print(f"  expected the training jobs of one tuning job, found {sorted(new_jobs)}")
        return None
    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=next(iter(arns)).rsplit("/", 1)[1])
    best = tuning.get("BestTrainingJob", {}).get("TrainingJobName")
    print(
        f"  tuning job: {tuning['HyperParameterTuningJobName']} -> {tuning['HyperParameterTuningJobStatus']} "
        f"({tuning['HyperParameterTuningJobConfig']['Strategy']} requested; the emulator searches at random)"
    )
    print(f"    trials: {tuning['TrainingJobStatusCounters']}")
    if best is None:
        return None
    folder = sm.describe_training_job(TrainingJobName=best)["ModelArtifacts"]["S3ModelArtifacts"].rsplit("/", 1)[0]
    report = _read_json(s3, f"{folder}/tuning_report.json")
    for row in report["trials"]:
        tuned = ", ".join(f"{k}={v}" for k, v in sorted(row["hyperparameters"].items()))
        print(
            f"    {row['training_job_name']}: {row['status']}, validation:accuracy {row['objective']}, "
            f"billable {row['billable_seconds']} s, {row['cost_usd']} USD | {tuned}"
        )
    print(f"    best: {best} ({report['best_objective']}); total est. {report['total_cost_usd']} USD")
    return best


def summarize(stack: LocalStack, new_jobs: set[str], test_labels: dict[str, int], tuned: bool = False) -> bool:
    """What the run did, read back from the emulator; new_jobs are the training jobs the run created (a tuning
    job's trials when ``tuned``: its best job is the one deployed)."""
    sm, s3 = stack.client("sagemaker"), stack.client("s3")
    if tuned:
        best = summarize_tuning(sm, s3, new_jobs)
        if best is None:
            return False
        new_jobs = {best}
    if len(new_jobs) != 1:
        print(f"  expected one new training job, found {sorted(new_jobs)}")
        return False
    job = sm.describe_training_job(TrainingJobName=next(iter(new_jobs)))
    folder = job["ModelArtifacts"]["S3ModelArtifacts"].rsplit("/", 1)[0]
    report = _read_json(s3, f"{folder}/report.json")
    smoke = _read_json(s3, f"{folder}/smoke_test.json")
    print(f"  dataset: {report['dataset']}")
    print(f"  training job: {job['TrainingJobName']} -> {job['TrainingJobStatus']}")
    print(f"    states: {' -> '.join(report['secondary_status_transitions'])}")
    print(
        f"    instances: {job['ResourceConfig']['InstanceCount']} x {job['ResourceConfig']['InstanceType']}; "
        f"training {report['training_seconds']} s, billable {report['billable_seconds']} s, "
        f"est. {report['estimated_cost']['usd']} USD"
    )
    costs = report.get("costs") or {}
    savings = "" if costs.get("spot_savings_usd") is None else f", spot savings {costs['spot_savings_usd']} USD"
    print(
        f"    cost: worst case {costs.get('worst_case_usd')} USD (budget {costs.get('max_cost_usd')} USD), "
        f"estimated actual {costs.get('estimated_actual_usd')} USD{savings}"
    )
    utilisation = _read_json(s3, f"{folder}/utilisation.json")
    print(f"    utilisation: {utilisation['verdict']['text']}  (report: {folder}/utilisation.html)")
    accuracy = report["validation_accuracy"]
    shown_accuracy = "n/a" if accuracy is None else f"{accuracy:.3f}"
    print(f"    validation accuracy: {shown_accuracy}  (stand-in model, not the SageMaker algorithm)")
    print(f"    model: {report['model_artifact']}")
    if report["managed_spot"]:
        print(
            f"    managed spot: savings {report['spot_savings_percent']}% (1 - billable/training), "
            f"on-demand would be {report['on_demand_cost']['usd']} USD; interruptions: "
            f"{report['spot_interruptions']} (resumed from {job.get('CheckpointConfig', {}).get('S3Uri')})"
        )
    base = next((c for c in job["InputDataConfig"] if c["ChannelName"] == "model"), None)
    if base:
        print(f"    incremental from: {base['DataSource']['S3DataSource']['S3Uri']}")
    predictions = smoke["test_predictions"]
    right = sum(CLASS_NAMES[test_labels[name]] == label for name, label in predictions.items() if name in test_labels)
    shown = ", ".join(f"{name}={label}" for name, label in list(sorted(predictions.items()))[:6])
    print(f"  test-image predictions ({len(predictions)}, {right} match the true digits): {shown}, ...")
    print(
        f"  smoke test on {smoke['endpoint']}: accuracy {smoke['accuracy']:.3f} on {smoke['sample_size']} labeled "
        f"images (min {smoke['min_accuracy']}), latency p50 {smoke['latency_ms']['p50']} ms, "
        f"p95 {smoke['latency_ms']['p95']} ms"
    )
    try:
        baseline = _read_json(s3, f"{folder}/baseline.json")
        print(
            f"  holdout evaluation (batch transform, {baseline['holdout']['images']} pinned images, sha256 "
            f"{baseline['holdout']['sha256'][:12]}): accuracy {baseline['accuracy']:.3f}, mean top-1 confidence "
            f"{baseline['mean_top1_confidence']:.3f}  (baseline: {folder}/baseline.json)"
        )
    except s3.exceptions.NoSuchKey:
        print("  holdout evaluation: none (no holdout pinned): the package waits for a person")
    if base or tuned:  # pipeline 2 against its base model; the tuning DAG against the champion, if there is one
        try:
            reason = _read_json(s3, f"{folder}/promotion.json")["reason"]
        except s3.exceptions.NoSuchKey:
            reason = "no champion yet to compare with (the registry's first-champion rule decides)"
        print(f"  champion/challenger: {reason}")
    _print_registry(sm, job["TrainingJobName"])
    production = frozenset(run_production.production_names(sm))
    left = _leftovers(sm, production)
    if production:
        print(f"  production (kept until the end of make run): {sorted(production)}")
    for kind, names in left.items():
        print(f"  {kind} left: {names if names else 'none (deleted)'}")
    return smoke["passed"] and not any(left.values())


def _production(stack: LocalStack, env: dict[str, str], new_jobs: set[str], dag_id: str, why: str = "") -> bool:
    """Pipeline 1's model is the first champion; pipeline 2's replaces it only if it was promoted (``why``: the
    pipeline-2 run's trigger, in the deployment's label and log name)."""
    sm = stack.client("sagemaker")
    if len(new_jobs) != 1:
        return False
    job = sm.describe_training_job(TrainingJobName=next(iter(new_jobs)))
    if dag_id == "mnist_incremental_spot":
        decision = _promotion(stack, new_jobs)
        if decision is None:
            print("\n== mnist_deploy_production: skipped, pipeline 2 made no champion/challenger decision")
            return False
        if not decision["promote"]:
            print(
                f"\n== mnist_deploy_production: skipped, pipeline 2{why} was not promoted ({decision['reason']}); "
                "production stays on its model"
            )
            return True
    label = "champion, first deployment" if dag_id == "mnist_train_deploy" else f"pipeline 2{why}, blue/green update"
    return run_production.deploy(sm, run_production.register_if_missing(sm, job), env, WORK, label)


def _production_end(stack: LocalStack) -> bool:
    sm = stack.client("sagemaker")
    run_production.print_history(stack.client("s3"), BUCKET)
    run_production.delete_production(sm, stack.client("cloudwatch"))
    left = _leftovers(sm)
    for kind, names in left.items():
        print(f"  {kind} left at the end: {names if names else 'none'}")
    return not any(left.values())


def _print_registry(sm: Any, job_name: str) -> None:
    """The Model Registry group: every version, its status and why; the run's own version marked."""
    group = registry_config.DEFAULT_GROUP
    rows = registry_config.summarize(registry_tasks.registry_packages(sm, group))
    print(f"  model registry, group {group}: {len(rows)} version(s)")
    for row in rows:
        mark = "  <- this run" if row["training_job"] == job_name else ""
        reason = f" ({row['reason']})" if row["reason"] else ""
        print(f"    v{row['version']} {row['status']}: {row['training_job']}{reason}{mark}")


def pin_holdout(stack: LocalStack) -> dict[str, str]:
    """The admin's pinned holdout (local_stack.pin_holdout) as the environment of ``airflow dags test``."""
    return {f"AIRFLOW_VAR_{name.upper()}": value for name, value in local_stack.pin_holdout(stack, WORK).items()}


def _pipeline(
    stack: LocalStack, env: dict[str, str], dag_id: str, batch: str, conf: dict[str, Any] | None, label: str = ""
) -> tuple[bool, set[str]]:
    """One training pipeline and its summary: with ``conf`` a manual ``airflow dags test`` (what the Trigger form
    sends); without, the run the scheduler makes from the DAG's queued Asset events, its trigger printed.
    Returns (ok, the training jobs it created)."""
    sm = stack.client("sagemaker")
    log_file = WORK / f"{dag_id}{label}.log"
    before = _job_names(sm)
    if conf is not None:
        print(f"\n== {dag_id}: airflow dags test with conf {json.dumps(conf)}")
        code = dags_test(dag_id, conf, env, log_file)
        print(f"  airflow dags test exit code {code} (log: {log_file})")
    else:
        trigger_file = WORK / f"{dag_id}{label}.trigger.json"
        print(f"\n== {dag_id}: started by its queued Asset event(s), as the scheduler starts it (no conf)")
        code = dags_test_asset_triggered(dag_id, env, log_file, trigger_file)
        print(f"  asset-triggered airflow dags test exit code {code} (log: {log_file})")
        trigger = run_loop.read_trigger(trigger_file)
        for line in run_loop.trigger_lines(trigger) if trigger else ["no run: no queued Asset event"]:
            print(f"  {line}")
    if code != 0:
        print("".join(log_file.read_text().splitlines(keepends=True)[-40:]))
    labels = json.loads((WORK / "datasets" / f"{batch}.test-labels.json").read_text())
    new_jobs = _job_names(sm) - before
    ok = summarize(stack, new_jobs, labels, tuned=dag_id == "mnist_tuning") and code == 0
    return ok, new_jobs


def _monitor(stack: LocalStack, env: dict[str, str], label: str, after: str | None = None) -> dict[str, Any] | None:
    """One mnist_production_monitor run (airflow dags test, no conf) and its verdict; its report, or None when it
    wrote none (skipped; ``after``: the previous run's report folder, so an old report is not taken for this one)."""
    log_file = WORK / f"{run_loop.MONITOR_DAG}-{label.replace(' ', '-')}.log"
    print(f"\n== {run_loop.MONITOR_DAG} ({label}): airflow dags test")
    code = dags_test(run_loop.MONITOR_DAG, {}, env, log_file)
    print(f"  airflow dags test exit code {code} (log: {log_file})")
    if code != 0:
        print("".join(log_file.read_text().splitlines(keepends=True)[-40:]))
        return None
    report = run_loop.latest_report(stack.client("s3"), stack.client("sagemaker"), DEFAULT_ENDPOINT_NAME)
    if report is None or report["report_uri"] == after:
        print("  no report: the run was skipped (see its log)")
        return None
    for line in run_loop.verdict_lines(report):
        print(f"  {line}")
    emitted = "Drift event emitted" in log_file.read_text()
    print(f"  drift Asset event: {'emitted (' + DRIFT_ASSET.name + ')' if emitted else 'none'}")
    report["event_emitted"] = emitted
    return report


def _traffic(stack: LocalStack, bodies: list[bytes], what: str) -> None:
    sent = run_loop.send(stack.client("sagemaker-runtime"), DEFAULT_ENDPOINT_NAME, bodies)
    print(
        f"\n== traffic to {DEFAULT_ENDPOINT_NAME}: {sent['sent']} requests, {what}; {sent['errors']} errors; "
        f"predicted digits {sent['predicted']}"
    )


def closed_loop(stack: LocalStack, env: dict[str, str]) -> bool:
    """Production traffic, then drifted traffic; the monitor flags the second; pipeline 2 retrains from its event
    and its model is promoted (production updated) or rejected on the pinned holdout."""
    images = run_loop.traffic_images()
    _traffic(stack, run_loop.normal_traffic(images), f"every digit alike ({run_loop.TRAFFIC_BATCH}'s unseen digits)")
    calm = _monitor(stack, env, "after normal traffic")
    digits = " and ".join(str(d) for d in run_loop.DRIFTED_DIGITS)
    _traffic(stack, run_loop.drifted_traffic(images), f"only digits {digits}: the class mix drifts")
    drifted = _monitor(stack, env, "after drifted traffic", after=calm and calm["report_uri"])
    ok = calm is not None and not calm["drift"] and drifted is not None and drifted["event_emitted"]
    if not ok:
        print("  expected: no drift after normal traffic, a drift event after drifted traffic")
    retrained, new_jobs = _pipeline(stack, env, "mnist_incremental_spot", "batch2", None, "-drift")
    trigger = run_loop.read_trigger(WORK / "mnist_incremental_spot-drift.trigger.json") or {}
    assets = [e["asset"] for e in trigger.get("consumed_asset_events", [])]
    if assets != [DRIFT_ASSET.name]:
        print(f"  expected the retrain to consume exactly the drift event, it consumed {assets}")
        ok = False
    ok = _production(stack, env, new_jobs, "mnist_incremental_spot", " after drift") and retrained and ok
    decision = _promotion(stack, new_jobs)
    print("\n== the closed loop, in short")
    for line in run_loop.recap_lines(calm, drifted, trigger, decision):
        print(f"  {line}")
    return ok


def _promotion(stack: LocalStack, new_jobs: set[str]) -> dict[str, Any] | None:
    """The champion/challenger decision pipeline 2 wrote beside its model (promotion.json), or None."""
    if len(new_jobs) != 1:
        return None
    job = stack.client("sagemaker").describe_training_job(TrainingJobName=next(iter(new_jobs)))
    folder = job["ModelArtifacts"]["S3ModelArtifacts"].rsplit("/", 1)[0]
    try:
        return _read_json(stack.client("s3"), f"{folder}/promotion.json")
    except stack.client("s3").exceptions.NoSuchKey:
        return None


def _print_lineage(env: dict[str, str]) -> None:
    """Where the runs' OpenLineage events went (docs/lineage.md), with the datasets they name."""
    path = lineage_file(env)
    if path is None:
        print("\nLineage: sent to the transport this environment configures (AIRFLOW__OPENLINEAGE__*/OPENLINEAGE_*)")
        return
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    names = {f"{d['namespace']}/{d['name']}" for e in events for d in (*e.get("inputs", []), *e.get("outputs", []))}
    print(f"\nLineage: {len(events)} OpenLineage events naming {len(names)} datasets in {path}")


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    ok = True
    started = time.monotonic()
    with LocalStack(WORK) as stack:
        env = stack.airflow_env(WORK / "airflow")
        env["AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET"] = "mlops-ch06-incremental-demo"
        # The demo turns the production endpoint on (off by default: it bills around the clock); deleted at the end.
        env["AIRFLOW_VAR_SAGEMAKER_MLOPS_PRODUCTION_ENABLED"] = "true"
        # An Asset event queues a run only for an unpaused DAG (Airflow pauses new DAGs by default).
        env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
        # Report emulated time at 30x (a 3 s local job reads as 1.5 minutes), so seconds and costs look like AWS's.
        EmulatorControl(stack.emulator_url).settings(time_scale=30.0)
        print(f"emulator {stack.emulator_url} | datasets {stack.dataset_url} | Airflow home {env['AIRFLOW_HOME']}")
        env.update(pin_holdout(stack))
        # What an admin pins for automatic runs (pipeline 2 from its cron or an Asset): the local batch2.zip.
        env["AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_URL"] = f"{stack.dataset_url}/r/batch2.zip"
        env["AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_SHA256"] = stack.dataset_sha256("batch2.zip")
        # A fresh metadata DB: the emulator starts empty, and old Asset events would start runs or hold the cooldown.
        (WORK / "airflow" / "airflow.db").unlink(missing_ok=True)
        migrate_db(env)
        pipeline_1 = {
            "dataset_url": f"{stack.dataset_url}/r/batch1.zip",
            "dataset_sha256": stack.dataset_sha256("batch1.zip"),
        }
        passed, new_jobs = _pipeline(stack, env, "mnist_train_deploy", "batch1", pipeline_1)
        ok = passed and _production(stack, env, new_jobs, "mnist_train_deploy") and ok
        # Pipeline 2 from pipeline 1's model Asset event. One spot reclaim, 10 minutes (emulated) without capacity:
        # the job resumes from its checkpoints.
        EmulatorControl(stack.emulator_url).interrupt_spot(interruptions=1, capacity_wait_seconds=600)
        passed, new_jobs = _pipeline(stack, env, "mnist_incremental_spot", "batch2", None)
        ok = passed and _production(stack, env, new_jobs, "mnist_incremental_spot") and ok
        ok = closed_loop(stack, env) and ok
        # Last: the tuning DAG publishes its best model as the model Asset too, which queues pipeline 2 again; run
        # before the loop, that event would be consumed with the drift event by the retrain.
        ok = _pipeline(stack, env, "mnist_tuning", "batch1", {**pipeline_1, **TUNING_DEMO})[0] and ok
        print(
            f"  (its {MODEL_ASSET.name} event queues mnist_incremental_spot once more: a scheduler would start "
            "it; make run ends here)"
        )
        ok = _production_end(stack) and ok
        _print_lineage(env)
    print(f"\n{'OK' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
