"""``make run``: the pipelines end to end on the local AWS emulator, then a summary read back from "AWS".

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
from sagemaker_mlops import registry_config, registry_tasks
from sagemaker_mlops.smoke_test import CLASS_NAMES

from local_stack import REPO, LocalStack, dags_test, migrate_db

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


def _leftovers(sm: Any) -> dict[str, list[str]]:
    return {
        "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        "endpoint configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "running training jobs": [
            j["TrainingJobName"]
            for status in ("InProgress", "Stopping")
            for j in sm.list_training_jobs(StatusEquals=status)["TrainingJobSummaries"]
        ],
    }


def summarize(stack: LocalStack, new_jobs: set[str], test_labels: dict[str, int]) -> bool:
    """What the run did, read back from the emulator; new_jobs are the training jobs the run created."""
    sm, s3 = stack.client("sagemaker"), stack.client("s3")
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
    if base:
        decision = _read_json(s3, f"{folder}/promotion.json")
        print(f"  champion/challenger: {decision['reason']}")
    _print_registry(sm, job["TrainingJobName"])
    left = _leftovers(sm)
    for kind, names in left.items():
        print(f"  {kind} left: {names if names else 'none (deleted)'}")
    return smoke["passed"] and not any(left.values())


def _print_registry(sm: Any, job_name: str) -> None:
    """The Model Registry group: every version, its status and why; the run's own version marked."""
    group = registry_config.DEFAULT_GROUP
    rows = registry_config.summarize(registry_tasks.registry_packages(sm, group))
    print(f"  model registry, group {group}: {len(rows)} version(s)")
    for row in rows:
        mark = "  <- this run" if row["training_job"] == job_name else ""
        reason = f" ({row['reason']})" if row["reason"] else ""
        print(f"    v{row['version']} {row['status']}: {row['training_job']}{reason}{mark}")


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    ok = True
    started = time.monotonic()
    with LocalStack(WORK) as stack:
        env = stack.airflow_env(WORK / "airflow")
        env["AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET"] = "mlops-ch06-incremental-demo"
        # Report emulated time at 30x (a 3 s local job reads as 1.5 minutes), so seconds and costs look like AWS's.
        EmulatorControl(stack.emulator_url).settings(time_scale=30.0)
        print(f"emulator {stack.emulator_url} | datasets {stack.dataset_url} | Airflow home {env['AIRFLOW_HOME']}")
        migrate_db(env)
        for dag_id, batch in (("mnist_train_deploy", "batch1"), ("mnist_incremental_spot", "batch2")):
            conf = {
                "dataset_url": f"{stack.dataset_url}/r/{batch}.zip",
                "dataset_sha256": stack.dataset_sha256(f"{batch}.zip"),
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
            ok = summarize(stack, new_jobs, labels) and code == 0 and ok
    print(f"\n{'OK' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
