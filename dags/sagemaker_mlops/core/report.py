"""The training report: accuracy, seconds, estimated cost (from a price table kept as data) and spot savings."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).parent.parent / "data" / "prices.json"


@functools.cache
def prices() -> dict[str, Any]:
    return json.loads(PRICES_FILE.read_text())


def estimate_cost(kind: str, instance_type: str, instance_count: int, seconds: float, region: str) -> dict[str, Any]:
    """USD estimate for ``seconds`` of ``instance_count`` instances; ``None`` price when the table lacks the type."""
    table = prices()
    hourly = table[kind].get(instance_type)
    usd = None if hourly is None else round(hourly * instance_count * seconds / 3600.0, 4)
    note = None if region == table["region"] else f"prices are {table['region']}'s; {region} differs"
    return {
        "usd": usd,
        "hourly_usd": hourly,
        "instance_type": instance_type,
        "instance_count": instance_count,
        "seconds": seconds,
        "price_region": table["region"],
        "price_as_of": table["as_of"],
        "note": note,
    }


def spot_savings_percent(training_seconds: int | None, billable_seconds: int | None) -> float | None:
    """The book's managed-spot savings: (1 - BillableTimeInSeconds / TrainingTimeInSeconds) x 100."""
    if not training_seconds or billable_seconds is None:
        return None
    return round((1.0 - billable_seconds / training_seconds) * 100.0, 1)


def cost_lines(worst: dict[str, Any] | None, billed: dict[str, Any], on_demand: dict[str, Any], spot: bool) -> dict:
    """Worst case (the budget guard's), estimated actual training cost and spot savings, side by side."""
    actual, full = billed["usd"], on_demand["usd"]
    return {
        "worst_case_usd": None if worst is None else worst["usd"],
        "worst_case_terms": None if worst is None else worst.get("terms"),
        "max_cost_usd": None if worst is None else worst.get("max_cost_usd"),
        "estimated_actual_usd": actual,
        "spot_savings_usd": round(full - actual, 4) if spot and actual is not None and full is not None else None,
    }


def training_report(
    job: dict[str, Any],
    *,
    region: str,
    dataset: dict[str, Any] | None = None,
    worst_case: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-friendly summary of a DescribeTrainingJob response; ``worst_case``: the budget guard's figures."""
    metrics = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
    resource = job.get("ResourceConfig", {})
    count = int(resource.get("InstanceCount", 1))
    training = job.get("TrainingTimeInSeconds")
    billable = job.get("BillableTimeInSeconds")
    spot = bool(job.get("EnableManagedSpotTraining"))
    billed = estimate_cost("training", resource.get("InstanceType", ""), count, billable or 0, region)
    on_demand = estimate_cost("training", resource.get("InstanceType", ""), count, training or 0, region)
    transitions = [t["Status"] for t in job.get("SecondaryStatusTransitions", [])]
    return {
        "training_job_name": job["TrainingJobName"],
        "training_job_arn": job.get("TrainingJobArn"),
        "status": job["TrainingJobStatus"],
        "secondary_status": job.get("SecondaryStatus"),
        "secondary_status_transitions": transitions,
        "model_artifact": job.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
        "validation_accuracy": metrics.get("validation:accuracy"),
        "train_accuracy": metrics.get("train:accuracy"),
        "training_seconds": training,
        "billable_seconds": billable,
        "managed_spot": spot,
        "spot_savings_percent": spot_savings_percent(training, billable) if spot else None,
        "spot_interruptions": transitions.count("Interrupted"),
        "estimated_cost": billed,
        "on_demand_cost": on_demand,
        "costs": cost_lines(worst_case, billed, on_demand, spot),
        "dataset": dataset or {},
    }


def render_markdown(report: dict[str, Any]) -> str:
    cost = report["estimated_cost"]
    lines = [
        f"# Training report: {report['training_job_name']}",
        "",
        f"- Status: **{report['status']}** ({' → '.join(report['secondary_status_transitions'])})",
        f"- Model artifact: `{report['model_artifact']}`",
        f"- Validation accuracy: {report['validation_accuracy']}",
        f"- Training seconds: {report['training_seconds']}; billable seconds: {report['billable_seconds']}",
        f"- Estimated cost: {cost['usd']} USD ({cost['instance_count']} × {cost['instance_type']} at "
        f"{cost['hourly_usd']} USD/h, {cost['price_region']} prices as of {cost['price_as_of']})",
    ]
    costs = report.get("costs") or {}
    if costs.get("worst_case_usd") is not None:
        lines += [
            f"- Cost: worst case {costs['worst_case_usd']} USD (budget {costs['max_cost_usd']} USD) · estimated "
            f"actual {costs['estimated_actual_usd']} USD (training) · spot savings {costs['spot_savings_usd']} USD"
        ]
        if costs.get("worst_case_terms"):
            terms = ", ".join(f"{name} {usd} USD" for name, usd in costs["worst_case_terms"].items())
            lines += [f"- Worst case per term: {terms}"]
    if report["managed_spot"]:
        lines += [
            f"- Managed spot savings: {report['spot_savings_percent']}% "
            f"(on-demand would cost {report['on_demand_cost']['usd']} USD); "
            f"interruptions: {report['spot_interruptions']}"
        ]
    if report.get("dataset"):
        lines += [f"- Dataset: {json.dumps(report['dataset'], sort_keys=True)}"]
    return "\n".join(lines) + "\n"
