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
from sagemaker_mlops.registry import registry_config
from sagemaker_mlops.registry import tasks as registry_tasks
from sagemaker_mlops.serving.smoke_test import CLASS_NAMES

import run_production
from local_stack import BUCKET, REPO, LocalStack, dags_test, lineage_file, migrate_db

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


def _production(stack: LocalStack, env: dict[str, str], new_jobs: set[str], dag_id: str) -> bool:
    """Pipeline 1's model is the first champion; pipeline 2's replaces it only if it was promoted."""
    sm = stack.client("sagemaker")
    if len(new_jobs) != 1:
        return False
    job = sm.describe_training_job(TrainingJobName=next(iter(new_jobs)))
    if dag_id == "mnist_incremental_spot":
        folder = job["ModelArtifacts"]["S3ModelArtifacts"].rsplit("/", 1)[0]
        decision = _read_json(stack.client("s3"), f"{folder}/promotion.json")
        if not decision["promote"]:
            print(f"\n== mnist_deploy_production: skipped, pipeline 2 was not promoted ({decision['reason']})")
            return True
    label = "champion, first deployment" if dag_id == "mnist_train_deploy" else "pipeline 2, blue/green update"
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
        # Report emulated time at 30x (a 3 s local job reads as 1.5 minutes), so seconds and costs look like AWS's.
        EmulatorControl(stack.emulator_url).settings(time_scale=30.0)
        print(f"emulator {stack.emulator_url} | datasets {stack.dataset_url} | Airflow home {env['AIRFLOW_HOME']}")
        migrate_db(env)
        runs = (("mnist_train_deploy", "batch1"), ("mnist_incremental_spot", "batch2"), ("mnist_tuning", "batch1"))
        for dag_id, batch in runs:
            conf = {
                "dataset_url": f"{stack.dataset_url}/r/{batch}.zip",
                "dataset_sha256": stack.dataset_sha256(f"{batch}.zip"),
                **(TUNING_DEMO if dag_id == "mnist_tuning" else {}),
            }
            if dag_id == "mnist_incremental_spot":
                # One spot reclaim, 10 minutes (emulated) without capacity: the job resumes from its checkpoints.
                EmulatorControl(stack.emulator_url).interrupt_spot(interruptions=1, capacity_wait_seconds=600)
            log_file = WORK / f"{dag_id}.log"
            print(f"\n== {dag_id}: airflow dags test with conf {json.dumps(conf)}")
            before = _job_names(stack.client("sagemaker"))
            code = dags_test(dag_id, conf, env, log_file)
            print(f"  airflow dags test exit code {code} (log: {log_file})")
            if code != 0:
                print("".join(log_file.read_text().splitlines(keepends=True)[-40:]))
            labels = json.loads((WORK / "datasets" / f"{batch}.test-labels.json").read_text())
            new_jobs = _job_names(stack.client("sagemaker")) - before
            ok = summarize(stack, new_jobs, labels, tuned=dag_id == "mnist_tuning") and code == 0 and ok
            if dag_id != "mnist_tuning":  # the production endpoint follows pipelines 1 and 2 (the demo's champions)
                ok = _production(stack, env, new_jobs, dag_id) and ok
        ok = _production_end(stack) and ok
        _print_lineage(env)
    print(f"\n{'OK' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
