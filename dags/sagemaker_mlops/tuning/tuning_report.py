"""The tuning report: every trial (tuned hyperparameters, objective, status, billable seconds, cost) sorted by the
objective, the best one, and the total cost of the search. Pure: built from the Describe/List responses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sagemaker_mlops.core.report import estimate_cost


def _objective(summary: Mapping[str, Any]) -> float | None:
    metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    return metric.get("Value")


def trial_rows(
    summaries: Sequence[Mapping[str, Any]], jobs: Mapping[str, Mapping[str, Any]], region: str, maximize: bool = True
) -> list[dict[str, Any]]:
    """One row per trial, best objective first; trials without an objective (failed, stopped) last, by name.

    ``jobs``: DescribeTrainingJob by name (the summaries carry no billable seconds or instances).
    """
    rows = []
    for summary in summaries:
        job = jobs.get(summary["TrainingJobName"], {})
        resources = job.get("ResourceConfig", {})
        billable = job.get("BillableTimeInSeconds") or 0
        cost = estimate_cost(
            "training", resources.get("InstanceType", ""), int(resources.get("InstanceCount", 1)), billable, region
        )
        rows.append(
            {
                "training_job_name": summary["TrainingJobName"],
                "status": summary["TrainingJobStatus"],
                "hyperparameters": dict(summary.get("TunedHyperParameters", {})),
                "objective": _objective(summary),
                "billable_seconds": job.get("BillableTimeInSeconds"),
                "cost_usd": cost["usd"],
                "failure_reason": summary.get("FailureReason"),
            }
        )
    scored = sorted((r for r in rows if r["objective"] is not None), key=lambda r: r["objective"], reverse=maximize)
    unscored = sorted((r for r in rows if r["objective"] is None), key=lambda r: r["training_job_name"])
    return scored + unscored


def tuning_summary(tuning_job: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Status, counters, the best trial and the total cost (a trial whose price is unknown makes it None)."""
    costs = [row["cost_usd"] for row in rows]
    best = tuning_job.get("BestTrainingJob") or {}
    objective = tuning_job["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective", {})
    return {
        "tuning_job_name": tuning_job["HyperParameterTuningJobName"],
        "status": tuning_job["HyperParameterTuningJobStatus"],
        "strategy": tuning_job["HyperParameterTuningJobConfig"].get("Strategy"),
        "objective": f"{objective.get('MetricName')} ({objective.get('Type')})",
        "training_job_counters": dict(tuning_job.get("TrainingJobStatusCounters", {})),
        "best_training_job": best.get("TrainingJobName"),
        "best_objective": _objective(best),
        "best_hyperparameters": dict(best.get("TunedHyperParameters", {})),
        "total_cost_usd": None if None in costs else round(sum(costs), 4),
        "trials": list(rows),
    }


def render_markdown(summary: Mapping[str, Any]) -> str:
    lines = [
        f"# Tuning report: {summary['tuning_job_name']}",
        "",
        f"- Status: **{summary['status']}**, strategy {summary['strategy']}, objective {summary['objective']}",
        f"- Best training job: `{summary['best_training_job']}` ({summary['best_objective']}) with "
        f"{summary['best_hyperparameters']}",
        f"- Total estimated cost: {summary['total_cost_usd']} USD over {len(summary['trials'])} training jobs",
        "",
        "| training job | status | objective | billable s | cost USD | hyperparameters |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["trials"]:
        tuned = ", ".join(f"{k}={v}" for k, v in sorted(row["hyperparameters"].items()))
        lines.append(
            f"| {row['training_job_name']} | {row['status']} | {row['objective']} | {row['billable_seconds']} | "
            f"{row['cost_usd']} | {tuned} |"
        )
    return "\n".join(lines) + "\n"
