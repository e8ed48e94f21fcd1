"""The budget guard: the worst case from the price table, checked with the run config (the DAG run that proves it
stops before any Create call is test_pipeline1's bad-param run)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.run import budget

from constants import ROLE_ARN

BOOK_ENDPOINT = budget.EndpointLimits("ml.m5.xlarge", instance_count=1)


def test_pipeline_1_worst_case_is_every_instance_for_the_whole_max_runtime_plus_the_endpoint():
    worst = budget.worst_case(
        training=budget.TrainingLimits("ml.p2.xlarge", instance_count=2, max_runtime_seconds=86400),
        endpoint=BOOK_ENDPOINT,
    )
    # 2 x 24 h x 1.125 USD/h = 54 USD; the endpoint 1 x (3600 + 1800) s x 0.23 USD/h = 0.345 USD (no volume here).
    assert worst["training_usd"] == 54.0 and worst["endpoint_usd"] == 0.35  # rounded up to the cent
    assert worst["usd"] == 54.35 and worst["training_limit"] == "max_runtime_seconds"
    assert worst["how"][0] == "training 2 x ml.p2.xlarge x 86400 s (max_runtime_seconds) x 1.125 USD/h = 54.00 USD"


def test_spot_is_priced_by_its_max_runtime_and_tuning_counts_every_job():
    # Billable time is capped by MaxRuntimeInSeconds; waiting for capacity (up to max wait) is not billed.
    spot = budget.worst_case(
        training=budget.TrainingLimits("ml.p2.xlarge", 2, 1800, use_spot=True, max_wait_seconds=3600),
        endpoint=budget.EndpointLimits("ml.m5.xlarge", 1, variants=2),
    )
    assert spot["training_usd"] == 1.13 and spot["training_limit"] == "max_runtime_seconds"
    assert "1800 s (max_runtime_seconds (spot: billable time <= max runtime, priced on demand))" in spot["how"][0]
    assert spot["endpoint_usd"] == pytest.approx(0.69, abs=0.01)  # both served models, each on its instances
    tuning = budget.worst_case(training=budget.TrainingLimits("ml.g4dn.xlarge", 1, 3600, jobs=20))
    assert tuning["usd"] == 14.72 and tuning["endpoint_usd"] == 0.0
    assert "x 20 jobs" in tuning["how"][0]


def test_over_budget_says_the_worst_case_how_and_which_param_lowers_it():
    worst = budget.worst_case(training=budget.TrainingLimits("ml.p2.xlarge", 2, 86400), endpoint=BOOK_ENDPOINT)
    budget.check(worst, 60.0)  # within
    with pytest.raises(ParamError) as err:
        budget.check(worst, 10.0, "Variable sagemaker_mlops_max_cost_usd")
    message = str(err.value)
    assert message.startswith("max_cost_usd: the worst case of this run is 54.35 USD, above the budget of 10 USD")
    assert "(Variable sagemaker_mlops_max_cost_usd)" in message and "2 x ml.p2.xlarge x 86400 s" in message
    assert "Fix: lower max_runtime_seconds or training_instance_count" in message


def test_the_budget_comes_from_the_form_then_the_variable_then_the_default():
    assert budget.budget_from(25, "50") == (25.0, "param max_cost_usd")
    assert budget.budget_from(None, "50") == (50.0, "Variable sagemaker_mlops_max_cost_usd")
    assert budget.budget_from("", None) == (budget.DEFAULT_MAX_COST_USD, "the package default")
    with pytest.raises(ParamError, match="sagemaker_mlops_max_cost_usd is 'lots'"):
        budget.budget_from(None, "lots")


def test_an_unpriced_type_is_refused_not_guessed():
    with pytest.raises(ParamError, match=r"training_instance_type: ml\.p4d\.24xlarge has no training price"):
        budget.worst_case(training=budget.TrainingLimits("ml.p4d.24xlarge", 1, 3600))


def _resolve(
    variables: dict[str, str] | None = None, pipeline_2: bool = False, evaluation_jobs: int = 1, **changes: Any
):
    from sagemaker_mlops.run import run_config

    params = {
        name: p.value
        for name, p in run_config.common_params(dataset_url="https://example.com/batch1.zip", prefix="ch06").items()
    }
    if pipeline_2:
        params.update({name: p.value for name, p in run_config.incremental_params().items()})
    known = {"sagemaker_mlops_bucket": "mlops-test-bucket", "sagemaker_mlops_role_arn": ROLE_ARN, **(variables or {})}
    return run_config.resolve(
        {**params, **changes},
        dag_id="mnist_train_deploy",
        run_id="manual__2026-03-01T12:00:00+00:00",
        aws_conn_id="aws_default",
        variable=known.get,
        connection_region=lambda: "us-east-1",
        evaluation_jobs=2 if pipeline_2 else evaluation_jobs,
    )


def test_the_run_config_carries_the_worst_case_for_the_report():
    worst = _resolve().extra["budget"]
    # 54 USD of training, 2 x 30 GB x 0.14 USD/GB-month x 24 h / 730 h = 0.28 USD of volumes, 0.345 USD endpoint,
    # the holdout evaluation's transform job: 1 x ml.m5.large x (3600 + 600) s x 0.115 USD/h = 0.134 USD.
    assert (worst["usd"], worst["max_cost_usd"], worst["source"]) == (54.76, 200.0, "the package default")
    assert worst["terms"] == {"training": 54.0, "training_storage": 0.28, "endpoint": 0.35, "transform": 0.14}
    spot = _resolve({"sagemaker_mlops_max_cost_usd": "5"}, pipeline_2=True).extra["budget"]
    # Pipeline 2's defaults: 2 x ml.p2.xlarge to the 1800 s max runtime (spot waiting is not billed), the endpoint
    # serving the new model, two transform jobs (the new and the base model on the holdout).
    assert (spot["usd"], spot["source"]) == (1.75, "Variable sagemaker_mlops_max_cost_usd")
    assert spot["terms"]["transform"] == 0.27


def test_over_budget_is_reported_with_every_other_problem_at_once():
    with pytest.raises(ParamError) as caught:
        _resolve(max_cost_usd=5, role_arn="AmazonSageMaker-ExecutionRole")
    assert {e.field for e in caught.value.errors} == {"role_arn", "max_cost_usd"}
    with pytest.raises(ParamError, match="above the budget of 1 USD"):
        _resolve({"sagemaker_mlops_max_cost_usd": "1"}, pipeline_2=True)


def test_the_tuning_pipeline_prices_every_trial_at_its_max_runtime():
    from sagemaker_mlops.tuning import tasks as tuning_tasks

    tuning = {name: p.value for name, p in tuning_tasks.tuning_params().items()}
    worst = _resolve(evaluation_jobs=2, **tuning).extra["budget"]
    # 20 trials x 2 x ml.p2.xlarge (1.125 USD/h) x the 3600 s per-trial default = 45 USD, + the endpoint serving
    # the best trial: 0.345, + 20 x 2 x 30 GB volumes for 1 h: 0.23, + two transform jobs (the best trial and the
    # champion on the holdout): 0.268.
    assert worst["usd"] == 45.85
    with pytest.raises(ParamError, match="x 20 jobs"):
        _resolve(**{**tuning, "max_runtime_seconds": 86400})  # 24 h per trial: 1,080 USD of training


def _doc_rows() -> dict[str, list[float]]:
    import re

    from constants import REPO

    rows = {}
    for line in (REPO / "docs" / "budget.md").read_text().splitlines():
        match = re.fullmatch(r"\| `([a-z_]+)`( \(kept\))? \| (.*) \|", line)
        if match:
            rows[match[1] + (match[2] or "")] = [float(cell) for cell in match[3].split(" | ")]
    return rows


def test_the_docs_show_each_dags_worst_case_per_term_as_the_code_computes_it():
    from budget_defaults import DAGS, production_worst_day, worst_case

    rows = _doc_rows()
    for dag_id in DAGS:
        for suffix, changes in (("", {}), (" (kept)", {"keep_endpoint": True})):
            worst = worst_case(dag_id, **changes)
            terms = worst["terms"]
            expected = [
                terms["training"],
                terms["training_storage"],
                terms["endpoint"],
                terms["transform"],
                worst["usd"],
            ]
            assert rows[dag_id + suffix] == expected, dag_id + suffix
    day = production_worst_day()
    assert rows["mnist_deploy_production"] == [*day["terms"].values(), day["usd_per_day"]]


def test_a_kept_endpoint_is_priced_over_its_whole_ttl_and_every_region_by_its_factor():
    kept = budget.worst_case(
        training=budget.TrainingLimits("ml.p2.xlarge", 1, 3600),
        endpoint=budget.EndpointLimits("ml.m5.xlarge", 2, variants=2, kept_hours=720),
    )
    # 2 instances x 2 variants x (720 h + the reaper's hour) x 0.23 USD/h
    assert kept["endpoint_usd"] == 663.32 and "kept: endpoint_ttl_hours 720 h" in kept["how"][2]
    with pytest.raises(ParamError, match="lower inference_instance_count or endpoint_ttl_hours"):
        budget.check(kept, 200.0)
    paris = budget.worst_case(training=budget.TrainingLimits("ml.p2.xlarge", 1, 3600), region="eu-west-3")
    assert paris["training_usd"] == round(1.125 * paris["region_factor"], 2) and paris["region_factor"] > 1
    with pytest.raises(ParamError, match="region: 'ap-east-1' has no price factor"):
        budget.worst_case(training=budget.TrainingLimits("ml.p2.xlarge", 1, 3600), region="ap-east-1")


def test_storage_volumes_are_priced_per_gb_month_prorated_by_runtime():
    worst = budget.worst_case(training=budget.TrainingLimits("ml.p2.xlarge", 2, 730 * 3600, volume_size_gb=16384))
    # 2 x 16 TB x 0.14 USD/GB-month for a whole 730 h month
    assert worst["storage_usd"] == 4587.52 and worst["terms"]["training_storage"] == 4587.52


def test_the_training_report_shows_each_term_of_the_worst_case():
    from sagemaker_mlops.core import report

    worst = {**_resolve().extra["budget"]}
    job = {
        "TrainingJobName": "j",
        "TrainingJobStatus": "Completed",
        "ResourceConfig": {"InstanceType": "ml.p2.xlarge", "InstanceCount": 2},
        "TrainingTimeInSeconds": 600,
        "BillableTimeInSeconds": 600,
    }
    summary = report.training_report(job, region="us-east-1", worst_case=worst)
    assert summary["costs"]["worst_case_terms"] == {
        "training": 54.0,
        "training_storage": 0.28,
        "endpoint": 0.35,
        "transform": 0.14,
    }
    text = report.render_markdown(summary)
    assert (
        "- Worst case per term: training 54.0 USD, training_storage 0.28 USD, endpoint 0.35 USD, transform 0.14 USD"
        in text
    )


def test_the_holdout_evaluation_s_transform_jobs_are_priced_per_job_region_and_wait():
    """Each batch transform job of the evaluation: one cheapest CPU instance for the operator's wait plus the
    teardown's stop, at the inference price (Batch Transform's list price), times the region's factor."""
    from sagemaker_mlops.core import prices
    from sagemaker_mlops.evaluation import transform_config as tc

    training = budget.TrainingLimits("ml.p2.xlarge", 1, 3600)
    cheapest = tc.cheapest_cpu_instance(prices.table()["inference"])
    assert cheapest == "ml.m5.large" and tc.WORST_BILLED_SECONDS == 4200
    two = budget.TransformLimits(cheapest, jobs=2, seconds=tc.WORST_BILLED_SECONDS)
    without = budget.worst_case(training=training)
    with_two = budget.worst_case(training=training, transform=two)
    assert without["terms"]["transform"] == 0.0
    assert with_two["terms"]["transform"] == 0.27  # 2 x 4200 s x 0.115 USD/h = 0.268, up to the cent
    assert with_two["usd"] == round(without["usd"] + 0.27, 2)
    assert "holdout evaluation 2 batch transform job(s) x 1 x ml.m5.large x 4200 s" in with_two["how"][-1]
    sao_paulo = budget.worst_case(training=training, transform=two, region="sa-east-1")
    assert sao_paulo["terms"]["transform"] == math.ceil(0.268333 * sao_paulo["region_factor"] * 100) / 100
    # pipeline 2 and the tuning DAG score the champion too: two jobs; pipeline 1 one
    from budget_defaults import worst_case

    assert [worst_case(d)["terms"]["transform"] for d in ("mnist_train_deploy", "mnist_incremental_spot")] == [
        0.14,
        0.27,
    ]
