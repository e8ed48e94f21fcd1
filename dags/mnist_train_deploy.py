"""
### Chapter 6, part 1: train, deploy, predict, delete

The book's PART01 notebook as a pipeline: download the MNIST PNG dataset, upload it to S3, train the built-in
**image-classification** algorithm on 2 × ml.p2.xlarge, deploy it to an ml.m5.xlarge endpoint, predict the test
images (ZERO…NINE), score a labeled sample, then delete the endpoint, its config and the model — always, even when
a step fails. A model that passes is published as the Asset `sagemaker_mlops.mnist_image_classifier`, which
starts pipeline 2 (incremental training on spot), and registered in the SageMaker Model Registry (group
`mnist-image-classifier`): Pending, or Approved when it is the group's first champion.

Runs unchanged on real AWS or the local emulator: only the `aws_default` connection differs. Leave *S3 bucket*
and *role ARN* empty to use the Variables `sagemaker_mlops_bucket` / `sagemaker_mlops_role_arn`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, chain

from sagemaker_mlops.core.airflow_tasks import TASK_TIMEOUT, teardown_of
from sagemaker_mlops.core.dag_params import keep_params_on_dag
from sagemaker_mlops.datasets import tasks as dataset_tasks
from sagemaker_mlops.monitoring import tasks as utilisation_tasks
from sagemaker_mlops.registry import tasks as registry_tasks
from sagemaker_mlops.run import tasks as run_tasks
from sagemaker_mlops.run.run_config import BOOK_BATCH1_URL, common_params
from sagemaker_mlops.serving import tasks as serving_tasks
from sagemaker_mlops.training import incremental_tasks
from sagemaker_mlops.training import tasks as training_tasks

with DAG(
    dag_id="mnist_train_deploy",
    description="MLE on AWS ch. 6 part 1: train image-classification on MNIST, deploy, smoke-test, tear down",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=common_params(dataset_url=BOOK_BATCH1_URL, prefix="ch06"),
    default_args={
        "owner": "ml-platform",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": TASK_TIMEOUT,
    },
    tags=["sagemaker", "mle-on-aws", "chapter-6", "training", "deployment"],
) as dag:
    # --- set-up: nothing is created or billed until the params, quotas and dataset have passed
    config = run_tasks.validate_and_preflight(dag_prefix="ch06")
    dataset = dataset_tasks.download_dataset(config)
    uploaded = dataset_tasks.upload_dataset(config, dataset)

    # --- body: train (or re-attach to this run's job), report, deploy, smoke-test, publish
    request = training_tasks.training_request(config, dataset, uploaded)
    decision = training_tasks.start_or_attach(config, request)
    train, reattach = training_tasks.train_operator(config, request), training_tasks.reattach_sensor(config)
    result = training_tasks.training_result(config, dataset)
    utilisation_tasks.utilisation_report(config, result)  # right-sizing verdict, beside the deploy
    requests = serving_tasks.deploy_requests(config, result)
    create_model, create_endpoint_config, create_endpoint = serving_tasks.deploy_operators(config, requests)
    smoke = serving_tasks.smoke_test(config, result)
    # --- registry: a new PendingManualApproval version; the first model of an empty group is its first champion
    package = registry_tasks.register_model(config, dataset, result, smoke)
    approval = registry_tasks.decide_approval(config, package)
    published = incremental_tasks.publish_model(config, result, smoke, package=approval)

    # --- teardown: runs after success, failure or upstream failure; skipped only with keep_endpoint
    stop_training = teardown_of(training_tasks.stop_training_if_running(config), setups=request)
    delete_endpoint = teardown_of(serving_tasks.delete_endpoint(config), setups=requests)
    delete_endpoint_config = teardown_of(serving_tasks.delete_endpoint_config(config), setups=requests)
    delete_model = teardown_of(serving_tasks.delete_model(config), setups=requests)

    chain(request, decision, [train, reattach], result, stop_training)
    decision >> result
    chain(result, requests, create_model, create_endpoint_config, create_endpoint, smoke, published)
    chain(smoke, delete_endpoint, delete_endpoint_config, delete_model)

    # --- outcome: last of all; fails the run if any task failed, also after a person marked the run failed
    run_tasks.end_with_run_outcome(dag)

keep_params_on_dag(dag)  # the form's Params stay on the DAG; tasks read them from it at run time
