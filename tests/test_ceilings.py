"""Issue 20, items 1 and 2: what a user who may only trigger runs can no longer make the package do.

Admin ceilings (Variables) bound every run and the form cannot raise them; conf keys a DAG does not declare are
refused; the training image comes from the region's algorithm account; network isolation stays on; a region outside
the admin's list is refused; the production DAG has its own per-day ceiling. Each refusal names the field, the
ceiling and the Variable that sets it, before anything is created.
"""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_mlops.core import ceilings
from sagemaker_mlops.core.validation import ParamError

from constants import ROLE_ARN
from dag_runs import ACTIONS_THAT_CREATE, run_dag

DAG_ID = "mnist_train_deploy"
# The issue's attack: undeclared keys that made the old guard price 20 x ml.p3.2xlarge for 28 days at ~11 USD.
ATTACK_CONF = {
    "use_spot": True,
    "max_wait_seconds": 0.5,
    "training_instance_type": "ml.p3.2xlarge",
    "training_instance_count": 20,
    "max_runtime_seconds": 2419200,
}


def _form(tuning: bool = False) -> dict[str, Any]:
    from sagemaker_mlops.run import run_config

    params = {
        name: p.value
        for name, p in run_config.common_params(dataset_url="https://example.com/batch1.zip", prefix="ch06").items()
    }
    if tuning:
        from sagemaker_mlops.tuning import tasks as tuning_tasks

        params.update({name: p.value for name, p in tuning_tasks.tuning_params().items()})
    return params


def _resolve(variables: dict[str, str] | None = None, *, tuning: bool = False, declared=None, **changes: Any):
    from sagemaker_mlops.run import run_config

    known = {"sagemaker_mlops_bucket": "mlops-test-bucket", "sagemaker_mlops_role_arn": ROLE_ARN, **(variables or {})}
    form = _form(tuning)
    return run_config.resolve(
        {**form, **changes},
        dag_id=DAG_ID,
        run_id="manual__2026-03-01T12:00:00+00:00",
        aws_conn_id="aws_default",
        variable=known.get,
        connection_region=lambda: "us-east-1",
        declared=set(form) if declared is None else declared,
    )


def _refusal(variables: dict[str, str] | None = None, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ParamError) as caught:
        _resolve(variables, **kwargs)
    return {error.field: str(error) for error in caught.value.errors}


def test_the_defaults_pass_with_no_variables_beyond_todays():
    cfg = _resolve()
    assert cfg.network_isolation is True and cfg.extra["budget"]["usd"] == 54.76
    _resolve(tuning=True)


def test_undeclared_conf_keys_are_refused_by_name_and_never_priced():
    found = _refusal(max_wait_seconds=0.5, use_spot=True)
    assert list(found) == ["conf"]
    assert "mnist_train_deploy does not declare as Params: max_wait_seconds, use_spot" in found["conf"]
    assert "Fix: remove them from the conf" in found["conf"]


def test_the_issues_attack_conf_is_refused_on_every_count():
    found = _refusal(**ATTACK_CONF)
    assert "max_wait_seconds, use_spot" in found["conf"]
    assert (
        "20 is above the admin's ceiling of 4 (Variable sagemaker_mlops_max_training_instance_count)"
        in (found["training_instance_count"])
    )
    assert "Variable sagemaker_mlops_max_runtime_seconds" in found["max_runtime_seconds"]


@pytest.mark.parametrize(
    ("changes", "field", "variable"),
    [
        ({"training_instance_count": 5}, "training_instance_count", "sagemaker_mlops_max_training_instance_count"),
        ({"inference_instance_count": 3}, "inference_instance_count", "sagemaker_mlops_max_inference_instance_count"),
        ({"max_runtime_seconds": 86401}, "max_runtime_seconds", "sagemaker_mlops_max_runtime_seconds"),
        ({"volume_size_gb": 101}, "volume_size_gb", "sagemaker_mlops_max_volume_size_gb"),
        (
            {"endpoint_ttl_hours": 25, "keep_endpoint": True},
            "endpoint_ttl_hours",
            "sagemaker_mlops_max_endpoint_ttl_hours",
        ),
        ({"max_cost_usd": 201}, "max_cost_usd", "sagemaker_mlops_max_cost_usd"),
    ],
)
def test_a_value_above_a_default_ceiling_names_the_field_the_ceiling_and_the_variable(changes, field, variable):
    found = _refusal(**changes)
    assert list(found) == [field], found
    assert "admin's ceiling" in found[field] and variable in found[field] and "Fix:" in found[field]


def test_tuning_trials_and_parallelism_are_bounded():
    found = _refusal(tuning=True, max_number_of_training_jobs=21, max_parallel_training_jobs=4)
    assert "sagemaker_mlops_max_tuning_jobs" in found["max_number_of_training_jobs"]
    assert "sagemaker_mlops_max_parallel_training_jobs" in found["max_parallel_training_jobs"]


def test_the_form_may_lower_the_budget_never_raise_it():
    variables = {"sagemaker_mlops_max_cost_usd": "60"}
    assert _resolve(variables, max_cost_usd=55).extra["budget"]["max_cost_usd"] == 55.0
    found = _refusal(variables, max_cost_usd=1000)
    assert "1000 USD is above the admin's ceiling of 60 USD" in found["max_cost_usd"]
    assert "never raise" in found["max_cost_usd"]


def test_admins_narrow_instance_types_and_widen_counts():
    variables = {
        "sagemaker_mlops_allowed_training_instance_types": "ml.g4dn.xlarge, ml.g5.xlarge",
        "sagemaker_mlops_allowed_inference_instance_types": '["ml.m5.large"]',
        "sagemaker_mlops_max_training_instance_count": "8",
    }
    found = _refusal(variables)
    assert "'ml.p2.xlarge' is not in the admin's list (ml.g4dn.xlarge, ml.g5.xlarge" in found["training_instance_type"]
    assert "sagemaker_mlops_allowed_inference_instance_types" in found["inference_instance_type"]
    _resolve(
        variables,
        training_instance_type="ml.g4dn.xlarge",
        inference_instance_type="ml.m5.large",
        training_instance_count=8,
    )


def test_a_broken_ceiling_variable_is_named():
    found = _refusal({"sagemaker_mlops_max_volume_size_gb": "lots"})
    assert (
        "sagemaker_mlops_max_volume_size_gb: the admin ceiling is 'lots'" in found["sagemaker_mlops_max_volume_size_gb"]
    )


def test_a_region_outside_the_admins_list_is_refused_naming_the_variable():
    found = _refusal({"sagemaker_mlops_allowed_regions": "eu-west-1,us-west-2"}, region="us-east-1")
    assert list(found) == ["region"]
    assert (
        "'us-east-1' is not in the admin's list (eu-west-1, us-west-2; Variable sagemaker_mlops_allowed_regions)"
        in (found["region"])
    )
    assert _resolve({"sagemaker_mlops_allowed_regions": "eu-west-1"}, region="eu-west-1").region == "eu-west-1"


def test_an_unpriced_region_is_refused_by_default_and_fails_closed_when_allowed():
    found = _refusal(region="ap-east-1")  # has an algorithm image, no price factor
    assert "sagemaker_mlops_allowed_regions" in found["region"]
    found = _refusal({"sagemaker_mlops_allowed_regions": "ap-east-1"}, region="ap-east-1")
    assert "'ap-east-1' has no price factor" in found["region"] and "region_multipliers" in found["region"]


def test_another_accounts_image_is_refused_unless_an_admin_allows_its_repository():
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
    found = _refusal(training_image=image)
    assert list(found) == ["training_image"]
    assert (
        "not the image-classification algorithm's image of us-east-1 (AWS account 811284229777"
        in (found["training_image"])
    )
    assert "Variable sagemaker_mlops_allowed_image_repositories" in found["training_image"]
    repository = "123456789012.dkr.ecr.us-east-1.amazonaws.com/image-classification"
    allowed = {"sagemaker_mlops_allowed_image_repositories": repository}
    assert _resolve(allowed, training_image=image).image_uri == image
    # The algorithm's own image, given explicitly, is fine without any Variable.
    own = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
    assert _resolve(training_image=own).image_uri == own


def test_network_isolation_stays_on_unless_an_admin_allows_access():
    found = _refusal(network_isolation=False)
    assert list(found) == ["network_isolation"]
    assert "sagemaker_mlops_allow_network_access" in found["network_isolation"]
    assert (
        _resolve({"sagemaker_mlops_allow_network_access": "true"}, network_isolation=False).network_isolation is False
    )


def test_the_production_dag_has_its_own_ceilings_and_per_day_budget():
    from sagemaker_mlops.production import production_config as pc

    params = {"instance_type": "ml.m5.xlarge", "instance_count": 1, "bake_seconds": 300, "termination_wait_seconds": 60}
    worst = pc.check_production_ceilings(params, "us-east-1", {}.get)
    # 1 x 0.23 USD/h x 24 h = 5.52 USD, and on an update day the new fleet beside it for 1 h + 300 s + 60 s.
    assert worst["terms"] == {"serving_24h": 5.52, "update_overlap": 0.26} and worst["usd_per_day"] == 5.78
    with pytest.raises(ParamError) as caught:
        pc.check_production_ceilings(
            {**params, "instance_type": "ml.p4d.24xlarge", "instance_count": 10}, "us-east-1", {}.get
        )
    fields = {e.field: str(e) for e in caught.value.errors}
    assert "sagemaker_mlops_allowed_production_instance_types" in fields["instance_type"]
    assert "sagemaker_mlops_max_production_instance_count" in fields["instance_count"]
    with pytest.raises(
        ParamError, match=r"above the admin's ceiling of 25 USD per day \(Variable sagemaker_mlops_production"
    ):
        pc.check_production_ceilings(
            {**params, "instance_type": "ml.g4dn.xlarge", "instance_count": 2}, "us-east-1", {}.get
        )
    with pytest.raises(ParamError, match="sagemaker_mlops_allowed_regions"):
        pc.check_production_ceilings(params, "ap-east-1", {}.get)


def test_every_ceiling_variable_has_a_distinct_name_under_the_package_prefix():
    names = [c.variable for c in ceilings.ALL]
    assert len(set(names)) == len(names) and all(n.startswith("sagemaker_mlops_") for n in names)


@pytest.mark.e2e
def test_the_attack_conf_is_refused_before_any_create_call(airflow_db, airflow_aws, datasets, capfd):
    run, states = run_dag(DAG_ID, datasets.conf(**ATTACK_CONF))
    out = capfd.readouterr().out
    assert str(run.state) == "failed" and states["validate_and_preflight"] == "failed", states
    assert "does not declare as Params: max_wait_seconds, use_spot" in out
    assert "sagemaker_mlops_max_training_instance_count" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())
    assert not [a for a in airflow_aws.actions("sagemaker") if a.startswith("Create")]


@pytest.mark.e2e
def test_the_reaper_refuses_undeclared_conf(airflow_db, airflow_aws, capfd):
    run, states = run_dag("sagemaker_mlops_reaper", {"dry_run": False, "delete_everything": True})
    out = capfd.readouterr().out
    assert str(run.state) == "failed" and "does not declare as Params: delete_everything" in out, states
    assert not [a for a in airflow_aws.actions("sagemaker") if a.startswith(("Delete", "Stop"))]


@pytest.mark.e2e
def test_the_production_dag_refuses_undeclared_conf(airflow_db, airflow_aws, capfd, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_PRODUCTION_ENABLED", "true")
    conf = {"model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1", "variants": 5}
    _run, states = run_dag("mnist_deploy_production", conf)
    out = capfd.readouterr().out
    assert states["plan_deployment"] == "failed" and "does not declare as Params: variants" in out, states
    assert not [a for a in airflow_aws.actions("sagemaker") if a.startswith(("Create", "Update"))]
