"""The reaper's AWS side: find the package's SageMaker resources, and carry out what :mod:`.rules` decided.

Finding costs one List call per page and kind (``NameContains="mlops-"``: only the package's names, which the
IAM policy scopes the Airflow role to; tuning and training jobs only ``InProgress``) and one ListTags per ``mlops-``
resource; nothing is read from, or done to, other names. Carrying out reuses the teardown's idempotent deletes (an
endpoint is waited for until gone, so its instances have stopped billing) and the training and tuning teardowns'
stops (stopping a tuning job stops its trials). One failure does not stop the others: each outcome is recorded,
and the caller fails the run when any failed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sagemaker_mlops.core.naming import NAME_PREFIX
from sagemaker_mlops.reaper.rules import JOB_KINDS, Decision, Resource, is_candidate
from sagemaker_mlops.serving import teardown
from sagemaker_mlops.training import job as training
from sagemaker_mlops.tuning import job as tuning_job

log = logging.getLogger(__name__)

# kind -> (paginated List operation, result key, name key, ARN key, status key or None)
_LISTINGS = {
    "endpoint": ("list_endpoints", "Endpoints", "EndpointName", "EndpointArn", "EndpointStatus"),
    "endpoint_config": ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "EndpointConfigArn", None),
    "model": ("list_models", "Models", "ModelName", "ModelArn", None),
    "tuning_job": (
        "list_hyper_parameter_tuning_jobs",
        "HyperParameterTuningJobSummaries",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobArn",
        "HyperParameterTuningJobStatus",
    ),
    "training_job": (
        "list_training_jobs",
        "TrainingJobSummaries",
        "TrainingJobName",
        "TrainingJobArn",
        "TrainingJobStatus",
    ),
}


def _tags(sagemaker: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
    return tags


def inventory(sagemaker: Any) -> list[Resource]:
    """Every endpoint, endpoint config and model, and every running tuning and training job, named ``mlops-…``,
    with its status and tags."""
    found = []
    for kind, (operation, key, name_key, arn_key, status_key) in _LISTINGS.items():
        filters = {"NameContains": f"{NAME_PREFIX}-"}
        if kind in JOB_KINDS:  # only a running job can be acted on; ended ones are many and never touched
            filters["StatusEquals"] = "InProgress"
        for page in sagemaker.get_paginator(operation).paginate(**filters):
            for item in page.get(key, []):
                if not is_candidate(item[name_key]):  # NameContains matches anywhere in the name
                    continue
                found.append(
                    Resource(
                        kind=kind,
                        name=item[name_key],
                        arn=item[arn_key],
                        status=item.get(status_key) if status_key else None,
                        tags=_tags(sagemaker, item[arn_key]),
                    )
                )
    return found


def _carry_out(sagemaker: Any, decision: Decision) -> str:
    resource = decision.resource
    if decision.action == "stop":
        stop = {"training_job": training.stop_if_running, "tuning_job": tuning_job.stop_if_running}[resource.kind]
        return "stopped" if stop(sagemaker, resource.name) else "gone"
    delete = {
        "endpoint": teardown.delete_endpoint,
        "endpoint_config": teardown.delete_endpoint_config,
        "model": teardown.delete_model,
    }[resource.kind]
    return "deleted" if delete(sagemaker, resource.name) else "gone"


def carry_out(sagemaker: Any, decisions: Iterable[Decision]) -> dict[str, str]:
    """ARN -> "deleted" | "stopped" | "gone" (already) | "error: …", for every decision that acts."""
    outcomes = {}
    for decision in decisions:
        if decision.action == "keep":
            continue
        try:
            outcomes[decision.resource.arn] = _carry_out(sagemaker, decision)
        except Exception as error:
            log.exception("Could not %s %s %s", decision.action, decision.resource.kind, decision.resource.name)
            outcomes[decision.resource.arn] = f"error: {type(error).__name__}: {error}"
    return outcomes
