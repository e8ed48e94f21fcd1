"""Service Quotas preflight: fail before training or deploying when the account cannot run the instance types.

ml.p2 (the book's type) is retired in many accounts, where its quotas are 0 or absent; finding that out from a
failed CreateTrainingJob is slow and confusing, so check the quotas by name first and suggest a substitute.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.training.training_config import SUGGESTED_TRAINING_INSTANCE_TYPES as SUBSTITUTES

log = logging.getLogger(__name__)


def training_quota_name(instance_type: str, *, spot: bool = False) -> str:
    return f"{instance_type} for {'spot ' if spot else ''}training job usage"


def endpoint_quota_name(instance_type: str) -> str:
    return f"{instance_type} for endpoint usage"


# AWS's "Resource Limits for Automatic Model Tuning": 10 parallel training jobs per tuning job by default, "can be
# increased to 100". Looked up in Service Quotas by this name; where the account lists none, the documented default.
TUNING_PARALLEL_JOBS = "Number of parallel training jobs per hyperparameter tuning job"
TUNING_PARALLEL_JOBS_DEFAULT = 10
ALL_TRAINING_INSTANCES = "Number of instances across all training jobs"


def tuning_quota_problems(
    quotas: Mapping[str, Mapping[str, Any]], parallel: int, instances_per_trial: int, region: str
) -> list[ParamError]:
    """A tuning job's own limits: its parallel trials within the per-tuning-job quota (or AWS's default 10), and
    parallel x instances within the account's instances across all training jobs (when Service Quotas lists it)."""
    problems = []
    quota = quotas.get(TUNING_PARALLEL_JOBS)
    limit = float(quota["Value"]) if quota else float(TUNING_PARALLEL_JOBS_DEFAULT)
    if parallel > limit:
        code = quota["QuotaCode"] if quota else "<code>"
        problems.append(
            ParamError(
                "max_parallel_training_jobs",
                f"{parallel} parallel training jobs, but '{TUNING_PARALLEL_JOBS}' is {limit:g}"
                + ("" if quota else " (AWS's default; Service Quotas lists no such quota here)"),
                f"use at most {limit:g}, or raise the quota (up to 100): `aws service-quotas "
                f"request-service-quota-increase --service-code sagemaker --quota-code {code} --desired-value "
                f"{parallel} --region {region}`",
            )
        )
    total = quotas.get(ALL_TRAINING_INSTANCES)
    if total is not None and parallel * instances_per_trial > float(total["Value"]):
        problems.append(
            ParamError(
                "max_parallel_training_jobs",
                f"{parallel} trials x {instances_per_trial} instance(s) = {parallel * instances_per_trial}, above "
                f"'{ALL_TRAINING_INSTANCES}' ({float(total['Value']):g})",
                "run fewer trials at once, or raise that quota",
            )
        )
    return problems


def sagemaker_quotas(client: Any) -> dict[str, dict[str, Any]]:
    """Every SageMaker quota by name: the account's applied values over AWS's defaults.

    ListServiceQuotas leaves out quotas never changed from their default, so the defaults come first.
    """
    quotas: dict[str, dict[str, Any]] = {}
    for operation in ("list_aws_default_service_quotas", "list_service_quotas"):
        for page in client.get_paginator(operation).paginate(ServiceCode="sagemaker"):
            for quota in page.get("Quotas", []):
                quotas[quota["QuotaName"]] = quota
    return quotas


def quota_problems(
    quotas: Mapping[str, Mapping[str, Any]], needs: Iterable[tuple[str, str, int]], region: str
) -> list[ParamError]:
    """needs: (form field, quota name, instances needed). One ParamError per quota that is missing or too low."""
    problems = []
    for field, name, needed in needs:
        quota = quotas.get(name)
        value = float(quota["Value"]) if quota else 0.0
        if value >= needed:
            continue
        kind = name.split(" for ", 1)[1]
        alternatives = [
            f"{sub} (quota {quotas[alt]['Value']:g})"
            for sub in SUBSTITUTES
            if (alt := name.replace(name.split(" ", 1)[0], sub, 1)) in quotas
            and float(quotas[alt]["Value"]) >= needed
            and sub != name.split(" ", 1)[0]
        ]
        how = (
            f"raise it in the Service Quotas console (Amazon SageMaker → '{name}' → Request increase at "
            f"account level) or `aws service-quotas request-service-quota-increase --service-code sagemaker "
            f"--quota-code {quota['QuotaCode'] if quota else '<code>'} --desired-value {needed} --region {region}`"
        )
        substitute = (
            f"; or choose a supported substitute with quota: {', '.join(alternatives)}"
            if alternatives
            else f"; or choose {' / '.join(SUBSTITUTES)}, which the algorithm supports"
        )
        state = f"is {value:g}" if quota else "does not exist in this account/region"
        problems.append(
            ParamError(
                field, f"Service Quota '{name}' {state}, but {needed} {kind} instance(s) are needed", how + substitute
            )
        )
    return problems


def check_quotas(
    client: Any, needs: Iterable[tuple[str, str, int]], region: str, *, tuning: tuple[int, int] | None = None
) -> None:
    """Raise one ParamError for every quota too low. If quotas cannot be read (no permission), warn and go on.
    ``tuning``: (parallel training jobs, instances per trial) of a tuning job, checked against its own limits."""
    from botocore.exceptions import ClientError

    try:
        quotas = sagemaker_quotas(client)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("AccessDeniedException", "NoSuchResourceException"):
            log.warning(
                "Cannot read SageMaker Service Quotas (%s); skipping the quota preflight. Grant "
                "servicequotas:ListServiceQuotas to check quotas before training.",
                err,
            )
            return
        raise
    problems = quota_problems(quotas, list(needs), region)
    if tuning is not None:
        problems += tuning_quota_problems(quotas, tuning[0], tuning[1], region)
    if problems:
        raise ParamError.combine(problems)
