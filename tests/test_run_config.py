"""The run's configuration without a DAG run: the trigger form's schema refuses out-of-range values, and
``run_config.resolve`` turns Params + Variables into names, image and tags, or one error naming every bad field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sagemaker_mlops.core import naming
from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.run import run_config
from sagemaker_mlops.training import training_config
from sagemaker_mlops.training.spec import training_spec

from constants import ROLE_ARN

VARIABLES = {
    "sagemaker_mlops_bucket": "mlops-test-bucket",
    "sagemaker_mlops_role_arn": ROLE_ARN,
    "sagemaker_mlops_incremental_bucket": "mlops-test-incremental",
}
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def form(**changes: Any) -> dict[str, Any]:
    """What the trigger form sends with its defaults (pipeline 1), changed by ``changes``."""
    params = {
        name: param.value
        for name, param in run_config.common_params(dataset_url="https://example.com/batch1.zip", prefix="ch06").items()
    }
    return {**params, **changes}


def resolve(
    params: dict[str, Any], variables: dict[str, str] | None = None, region: str | None = "us-east-1", **kwargs: Any
) -> run_config.RunConfig:
    known = VARIABLES if variables is None else variables
    return run_config.resolve(
        params,
        dag_id="mnist_train_deploy",
        run_id="manual__2026-03-01T12:00:00+00:00",
        aws_conn_id="aws_default",
        variable=known.get,
        connection_region=lambda: region,
        now=NOW,
        **kwargs,
    )


def problems(params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, str]:
    """{field: message} of the one ParamError that resolve raises."""
    with pytest.raises(ParamError) as caught:
        resolve(params, *args, **kwargs)
    return {error.field: str(error) for error in caught.value.errors}


# -- resolve: the happy path ----------------------------------------------------------------------------------------
def test_defaults_and_variables_give_the_books_job_in_the_connections_region() -> None:
    cfg = resolve(form())
    assert (cfg.bucket, cfg.role_arn, cfg.region, cfg.prefix) == ("mlops-test-bucket", ROLE_ARN, "us-east-1", "ch06")
    assert cfg.image_uri == "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
    assert (cfg.training_instance_type, cfg.training_instance_count, cfg.volume_size_gb) == ("ml.p2.xlarge", 2, 30)
    assert cfg.hyperparameters == {
        "num_layers": 18,
        "image_shape": "1,28,28",
        "num_classes": 10,
        "mini_batch_size": 100,
        "epochs": 3,
        "learning_rate": 0.01,
        "top_k": 5,
        "precision_dtype": "float32",
    }
    assert cfg.names["job"] == naming.resource_name("mlops", "train", cfg.dag_id, cfg.run_id)
    assert cfg.expires_at == "2026-03-02T12:00:00Z" and cfg.tags["mlops:expires-at"] == cfg.expires_at
    assert cfg.dataset_sha256 is None


def test_the_form_wins_over_variables_and_the_variable_over_the_connection() -> None:
    cfg = resolve(
        form(bucket="form-bucket", region="eu-west-1", dataset_sha256="AB" * 32),
        # A form bucket other than the Variable's must be one the admin lists (tests/test_isolation.py).
        {**VARIABLES, "sagemaker_mlops_region": "us-west-2", "sagemaker_mlops_allowed_buckets": "form-bucket"},
    )
    assert (cfg.bucket, cfg.region) == ("form-bucket", "eu-west-1")
    assert cfg.image_uri.split(".")[3] == "eu-west-1"
    assert cfg.dataset_sha256 == "ab" * 32  # lowercased
    assert resolve(form(), {**VARIABLES, "sagemaker_mlops_region": "us-west-2"}).region == "us-west-2"


def test_pipeline_2_reads_its_own_bucket_variable() -> None:
    cfg = resolve(form(), bucket_variable="sagemaker_mlops_incremental_bucket")
    assert cfg.bucket == "mlops-test-incremental"


def test_a_base_training_job_outside_the_package_s_names_is_refused_before_any_aws_call() -> None:
    """Issue 19 item 8: the Airflow role may describe only ``mlops-*`` training jobs, so pipeline 2 given another
    job would meet a raw AccessDenied in resolve_base_model. The first task refuses it, naming the field and the
    fix; a job of the package's own name passes (whether it exists is resolve_base_model's question)."""
    pipeline_2 = {
        **form(),
        **{name: param.value for name, param in run_config.incremental_params().items()},
    }
    declared = set(pipeline_2)
    for foreign in ("my-own-training-job", "image-classification-2026-03-01-12-00-00-000", "mlops"):
        found = problems({**pipeline_2, "base_training_job": foreign}, declared=declared)
        assert set(found) == {"base_training_job"}, found
        message = found["base_training_job"]
        assert repr(foreign) in message and "mlops-" in message and "base_model_uri" in message, message
    ours = resolve({**pipeline_2, "base_training_job": "mlops-train-mnist-train-deploy-x"}, declared=declared)
    assert ours.bucket == "mlops-test-bucket"
    assert resolve(pipeline_2, declared=declared).bucket == "mlops-test-bucket"  # empty: the registry or the Asset


def test_names_are_the_same_for_a_retry_and_differ_between_runs() -> None:
    first, again = resolve(form()), resolve(form())
    assert first.names == again.names
    other = run_config.resolve(
        form(),
        dag_id="mnist_train_deploy",
        run_id="manual__other",
        aws_conn_id="x",
        variable=VARIABLES.get,
        connection_region=lambda: "us-east-1",
        now=NOW,
    )
    assert not set(first.names.values()) & set(other.names.values())


def test_the_config_round_trips_through_xcom_with_a_flat_job_name() -> None:
    cfg = resolve(form())
    data = cfg.to_dict()
    assert data["training_job_name"] == cfg.names["job"] and data["region"] == "us-east-1"
    assert run_config.RunConfig.from_dict(data) == cfg


def test_the_training_spec_is_the_run_config_s_and_builds() -> None:
    cfg = resolve(form(epochs=5))
    spec = training_spec(
        cfg,
        480,
        {
            "model_uri": "s3://base-bucket/m/model.tar.gz",
            "use_spot": True,
            "max_wait_seconds": 90000,
            "checkpoint_s3_uri": "s3://base-bucket/ckpt",
        },
    )
    assert spec.hyperparameters.num_training_samples == 480 and spec.hyperparameters.epochs == 5
    request = training_config.build_training_request(spec)
    assert request["TrainingJobName"] == cfg.names["job"] and request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 90000}


# -- resolve: bad input, every field named with its fix, all at once ------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"role_arn": "AmazonSageMaker-ExecutionRole"}, "role_arn", "looks like a role name"),
        ({"bucket": "Not_A_Valid_Bucket"}, "bucket", "uppercase"),
        ({"dataset_url": "ftp://example.com/batch1.zip"}, "dataset_url", "only http and https"),
        ({"training_image": "not-an-image-uri"}, "training_image", "not an ECR image URI"),
        ({"s3_prefix": "ch06/"}, "s3_prefix", "ends with '/'"),
        ({"dataset_sha256": "not-a-digest"}, "dataset_sha256", "not a SHA-256"),
        ({"training_instance_type": "ml.m5.xlarge"}, "training_instance_type", "not a GPU training type"),
        ({"region": "mars-1"}, "region", "not an AWS region"),
        ({"num_layers": 19}, "num_layers", "not a supported depth"),
        ({"image_shape": "1, 28, 28"}, "image_shape", "channels,height,width"),
    ],
)
def test_a_bad_field_is_named_with_its_fix(changes: dict[str, Any], field: str, words: str) -> None:
    found = problems(form(**changes))
    assert list(found) == [field], found
    assert words in found[field] and "Fix:" in found[field]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        form(
            role_arn="Role",
            bucket="Bad_Bucket",
            s3_prefix="/x",
            dataset_url="ftp://a",
            training_image="nope",
            epochs=0,
            training_instance_type="ml.t3.medium",
        )
    )
    assert set(found) == {
        "role_arn",
        "bucket",
        "s3_prefix",
        "dataset_url",
        "training_image",
        "epochs",
        "training_instance_type",
    }


def test_no_region_anywhere_is_one_error_not_an_image_error_too() -> None:
    assert list(problems(form(), region=None)) == ["region"]


def test_missing_variables_name_the_fields_to_fill() -> None:
    found = problems(form(), {})
    assert set(found) == {"bucket", "role_arn"} and all("is empty" in text for text in found.values())


# -- the Param schema: ranges and enums, enforced by the form and the API before any task runs --------------------
@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"smoke_sample_size": -5}, "less than the minimum"),
        ({"min_accuracy": 1.5}, "greater than the maximum"),
        ({"training_instance_type": "ml.t3.medium"}, "is not one of"),
        ({"dataset_sha256": "not-a-sha256"}, "does not match"),
        ({"max_runtime_seconds": training_config.MAX_RUNTIME_LIMIT_SECONDS + 1}, "greater than the maximum"),
    ],
)
def test_the_form_schema_refuses_out_of_range_values(changes: dict[str, Any], words: str) -> None:
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    params = ParamsDict(run_config.common_params(dataset_url="https://example.com/batch1.zip", prefix="ch06"))
    params.validate()  # the defaults pass
    with pytest.raises(ParamValidationError, match=words) as caught:
        params.update(changes)
        params.validate()
    assert f"param {next(iter(changes))}" in str(caught.value)


def test_the_form_offers_only_types_the_rule_accepts() -> None:
    for instance_type in training_config.GPU_TRAINING_TYPES:
        spec = training_spec(resolve(form(training_instance_type=instance_type)), 1)
        training_config.validate_spec(spec)


def test_the_form_has_the_few_fields_a_user_changes_on_top_and_the_rest_in_sections() -> None:
    both = {
        **run_config.common_params(
            dataset_url="https://x.example/a.zip", prefix="ch06", bucket_variable="sagemaker_mlops_incremental_bucket"
        ),
        **run_config.incremental_params(),
    }
    sections = {name: param.schema.get("section") for name, param in both.items()}
    top = [name for name, section in sections.items() if section is None]
    assert top == [
        "dataset_url",
        "dataset_sha256",
        "training_instance_type",
        "base_model_uri",
        "base_training_job",
        "use_spot",
        "resume_checkpoint_uri",
    ]
    assert next(iter(sections.values())) is None  # Airflow opens its default section, shown where it first appears
    assert set(sections.values()) - {None} == {
        run_config.STORAGE,
        run_config.TRAINING,
        run_config.HYPERPARAMETERS,
        run_config.DEPLOYMENT,
    }
    assert {sections[name] for name in run_config.HYPERPARAMETER_NAMES} == {run_config.HYPERPARAMETERS}
    assert sections["max_wait_seconds"] == sections["max_runtime_seconds"] == run_config.TRAINING


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"inference_instance_count": 2.0}, "inference_instance_count"),
        ({"training_instance_count": 4.0}, "training_instance_count"),
        ({"max_runtime_seconds": 86400.0}, "max_runtime_seconds"),
        ({"volume_size_gb": 100.0}, "volume_size_gb"),
        ({"keep_endpoint": True, "endpoint_ttl_hours": 24.0}, "endpoint_ttl_hours"),
        ({"training_instance_count": True}, "training_instance_count"),
    ],
)
def test_a_non_integer_count_is_refused_never_unpriced(changes: dict[str, Any], field: str) -> None:
    """Issue 20 review: Param(type="integer") passes 2.0 on; the budget then priced nothing (it returned {}) and
    resolve accepted the run with no budget. Now the budget fails closed naming the field."""
    found = problems(form(**changes))
    assert field in found and "integer" in found[field], found
