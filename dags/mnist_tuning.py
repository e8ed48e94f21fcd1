"""
### Chapter 6: automatic model tuning (the book's `HyperparameterTuner`)

The book's tuner — `HyperparameterTuner(estimator, "validation:accuracy", ranges, max_jobs=20, max_parallel_jobs=3)`
— as a pipeline: the same set-up as pipeline 1 (validate, download, upload), then a SageMaker **hyperparameter
tuning job** over the algorithm's tunable ranges (learning_rate, mini_batch_size, optimizer; more on request),
Bayesian search, early stopping Auto. The best training job (the tuning job's `BestTrainingJob`) is deployed,
smoke-tested and torn down exactly like pipeline 1's model; the report lists every trial by objective with its
cost, and the best model is published as the Asset `sagemaker_mlops.mnist_image_classifier`, so pipeline 2 can
start from it.

**Model Registry**: the best model is registered as a new version of the group (`mnist-image-classifier`, Variable
`sagemaker_mlops_model_package_group`), PendingManualApproval, with its evaluation JSON (the tuning objective
validation:accuracy, smoke accuracy, latency). It is then compared with the **champion** — the group's latest
Approved package, read at set-up — exactly as pipeline 2 compares with its base model: the champion is served
beside it on the test endpoint (weight 0) and both are scored on the same labeled sample (*Minimum improvement*).
Better: Approved, and published as the champion Asset `sagemaker_mlops.mnist_image_classifier_champion` (with
its `model_package_arn`, which `mnist_deploy_production` follows); otherwise Rejected, with the reason as
ApprovalDescription either way. With no champion yet it is the group's first champion, as in pipeline 1.

Max parallel jobs × training instance count must fit the account's training quota (checked first). A teardown stops
the tuning job, and so its training jobs, if it still runs when the run ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, chain

from sagemaker_mlops.core.airflow_tasks import CHAMPION_ASSET, TASK_TIMEOUT, teardown_of
from sagemaker_mlops.core.dag_params import keep_params_on_dag
from sagemaker_mlops.datasets import tasks as dataset_tasks
from sagemaker_mlops.monitoring import tasks as utilisation_tasks
from sagemaker_mlops.registry import tasks as registry_tasks
from sagemaker_mlops.run import tasks as run_tasks
from sagemaker_mlops.run.run_config import BOOK_BATCH1_URL, champion_params, common_params
from sagemaker_mlops.serving import tasks as serving_tasks
from sagemaker_mlops.training import incremental_tasks
from sagemaker_mlops.tuning import tasks as tuning_tasks

with DAG(
    dag_id="mnist_tuning",
    description="MLE on AWS ch. 6: tune image-classification on MNIST (HyperparameterTuner), deploy the best",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        **common_params(dataset_url=BOOK_BATCH1_URL, prefix="ch06-tuning"),
        **tuning_tasks.tuning_params(),
        **champion_params(),
    },
    default_args={
        "owner": "ml-platform",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": TASK_TIMEOUT,
    },
    tags=["sagemaker", "mle-on-aws", "chapter-6", "tuning", "deployment"],
) as dag:
    # --- set-up: nothing is created or billed until params, ranges, quotas (parallel jobs; the endpoint serves the
    # best model and the champion), the champion and the dataset passed
    config = run_tasks.validate_and_preflight(
        dag_prefix="ch06-tuning", parallel_jobs_param="max_parallel_training_jobs", endpoint_variants=2
    )
    tuning = tuning_tasks.validate_tuning(config)
    champion = tuning_tasks.resolve_champion(config)
    dataset = dataset_tasks.download_dataset(config)
    uploaded = dataset_tasks.upload_dataset(config, dataset)

    # --- body: tune (or re-attach to this run's tuning job), report, deploy the best beside the champion, smoke-test
    request = tuning_tasks.tuning_request(config, dataset, uploaded, tuning)
    decision = tuning_tasks.start_or_attach_tuning(config)
    tune, reattach = tuning_tasks.tune_operator(config, request), tuning_tasks.reattach_sensor(config)
    result = tuning_tasks.tuning_result(config, dataset)
    utilisation_tasks.utilisation_report(config, result)  # the best trial's right-sizing verdict, beside the deploy
    requests = serving_tasks.deploy_requests(config, result, champion)
    create_model, create_endpoint_config, create_endpoint = serving_tasks.deploy_operators(config, requests)
    create_champion = tuning_tasks.create_champion_model(config, requests)
    smoke = serving_tasks.smoke_test(config, result, champion)
    # --- registry: a new Pending version, then Approved/Rejected against the champion (or the first champion)
    promotion = incremental_tasks.decide_promotion(config, result, smoke, champion)
    package = registry_tasks.register_model(config, dataset, result, smoke)
    approval = registry_tasks.decide_approval(config, package, promotion)
    published = incremental_tasks.publish_model(config, result, smoke, package=approval)
    champion_event = incremental_tasks.publish_model.override(task_id="publish_champion", outlets=[CHAMPION_ASSET])(
        config, result, smoke, promotion, package=approval
    )

    # --- teardown: runs after success, failure or upstream failure; skipped only with keep_endpoint
    stop_tuning = teardown_of(tuning_tasks.stop_tuning_if_running(config), setups=request)
    delete_endpoint = teardown_of(serving_tasks.delete_endpoint(config), setups=requests)
    delete_endpoint_config = teardown_of(serving_tasks.delete_endpoint_config(config), setups=requests)
    delete_model = teardown_of(serving_tasks.delete_model(config), setups=requests)
    delete_champion_model = teardown_of(
        serving_tasks.delete_model.override(task_id="delete_base_model")(config, which="base_model"), setups=requests
    )

    chain([tuning, champion], dataset)
    chain(request, decision, [tune, reattach], result, stop_tuning)
    decision >> result
    chain(
        result,
        requests,
        [create_model, create_champion],
        create_endpoint_config,
        create_endpoint,
        smoke,
        promotion,
        [published, champion_event],
    )
    chain(smoke, delete_endpoint, delete_endpoint_config, [delete_model, delete_champion_model])
    run_tasks.end_with_run_outcome(dag)

keep_params_on_dag(dag)  # the form's Params stay on the DAG; tasks read them from it at run time
