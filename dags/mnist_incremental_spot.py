"""
### Chapter 6, part 2: incremental training on managed spot, with checkpoints

The book's PART02 notebook as a pipeline: start from the model pipeline 1 published (or a given model or job),
train on the second batch of digits **incrementally** (a `model` channel) on **managed spot** capacity with
**checkpoints**, report the spot savings, then deploy the new model beside the base model and promote it only if
it scores at least as well on the same labeled sample. Everything deployed is deleted at the end. The new model is
registered in the Model Registry and set Approved or Rejected by that comparison; by default the base model is the
group's latest Approved package (read at run time, so a package a person rejected is never used).

Runs when pipeline 1 publishes a model (Asset `sagemaker_mlops.mnist_image_classifier`), when the production
monitor sees drift (Asset `sagemaker_mlops.production_drift`, at most once per cooldown) and on a schedule
(`SAGEMAKER_MLOPS_RETRAIN_CRON`, default Mondays 03:00 UTC); one run at a time, no catch-up. A spot job that runs
out of max wait keeps its checkpoints: trigger again with *Resume from checkpoints* set to continue.
Inputs and outputs go to a second bucket (Variable `sagemaker_mlops_incremental_bucket`), never over the
base model's data.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, chain

from sagemaker_mlops.core.airflow_tasks import CHAMPION_ASSET, MODEL_ASSET, TASK_TIMEOUT, teardown_of
from sagemaker_mlops.core.dag_params import keep_params_on_dag
from sagemaker_mlops.datasets import tasks as dataset_tasks
from sagemaker_mlops.monitoring import tasks as utilisation_tasks
from sagemaker_mlops.monitoring.monitor_tasks import DRIFT_ASSET
from sagemaker_mlops.registry import tasks as registry_tasks
from sagemaker_mlops.run import tasks as run_tasks
from sagemaker_mlops.run.run_config import BOOK_BATCH2_URL, common_params, incremental_params
from sagemaker_mlops.serving import tasks as serving_tasks
from sagemaker_mlops.training import incremental_tasks
from sagemaker_mlops.training import tasks as training_tasks

RETRAIN_CRON = os.environ.get("SAGEMAKER_MLOPS_RETRAIN_CRON", "0 3 * * 1")

with DAG(
    dag_id="mnist_incremental_spot",
    description="MLE on AWS ch. 6 part 2: incremental managed-spot training with checkpoints, champion/challenger",
    doc_md=__doc__,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(RETRAIN_CRON, timezone="UTC"), assets=MODEL_ASSET | DRIFT_ASSET
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        **common_params(
            dataset_url=BOOK_BATCH2_URL, prefix="ch06", bucket_variable="sagemaker_mlops_incremental_bucket"
        ),
        **incremental_params(),
    },
    default_args={
        "owner": "ml-platform",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": TASK_TIMEOUT,
    },
    tags=["sagemaker", "mle-on-aws", "chapter-6", "training", "managed-spot", "incremental"],
) as dag:
    # --- set-up: params, quotas (spot), base model and its compatibility, dataset — before any spend
    config = run_tasks.validate_and_preflight(
        dag_prefix="ch06", bucket_variable="sagemaker_mlops_incremental_bucket", endpoint_variants=2
    )
    incremental = incremental_tasks.resolve_base_model(config)
    dataset = dataset_tasks.download_dataset(config)
    uploaded = dataset_tasks.upload_dataset(config, dataset)

    # --- body: incremental spot training (or re-attach), report, deploy new + base, compare, publish if better
    request = training_tasks.training_request(config, dataset, uploaded, incremental)
    decision = training_tasks.start_or_attach(config, request)
    train, reattach = training_tasks.train_operator(config, request), training_tasks.reattach_sensor(config)
    result = training_tasks.training_result(config, dataset)
    utilisation_tasks.utilisation_report(config, result)  # right-sizing verdict, beside the deploy
    requests = serving_tasks.deploy_requests(config, result, incremental)
    create_model, create_endpoint_config, create_endpoint = serving_tasks.deploy_operators(config, requests)
    create_base_model = serving_tasks.base_model_operator(config, requests)
    smoke = serving_tasks.smoke_test(config, result, incremental)
    promotion = incremental_tasks.decide_promotion(config, result, smoke, incremental)
    package = registry_tasks.register_model(config, dataset, result, smoke)
    approval = registry_tasks.decide_approval(config, package, promotion)
    published = incremental_tasks.publish_model.override(outlets=[CHAMPION_ASSET])(
        config, result, smoke, promotion, package=approval
    )

    # --- teardown: runs after success, failure or upstream failure; skipped only with keep_endpoint
    stop_training = teardown_of(training_tasks.stop_training_if_running(config), setups=request)
    delete_endpoint = teardown_of(serving_tasks.delete_endpoint(config), setups=requests)
    delete_endpoint_config = teardown_of(serving_tasks.delete_endpoint_config(config), setups=requests)
    delete_model = teardown_of(serving_tasks.delete_model(config), setups=requests)
    delete_base_model = teardown_of(
        serving_tasks.delete_model.override(task_id="delete_base_model")(config, which="base_model"), setups=requests
    )

    chain(incremental, dataset)
    chain(request, decision, [train, reattach], result, stop_training)
    decision >> result
    chain(
        result,
        requests,
        [create_model, create_base_model],
        create_endpoint_config,
        create_endpoint,
        smoke,
        promotion,
        published,
    )
    chain(smoke, delete_endpoint, delete_endpoint_config, [delete_model, delete_base_model])

    # --- outcome: last of all; fails the run if any task failed, also after a person marked the run failed
    run_tasks.end_with_run_outcome(dag)

keep_params_on_dag(dag)  # the form's Params stay on the DAG; tasks read them from it at run time
