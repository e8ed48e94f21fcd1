"""SageMaker instance quotas by their real names, shaped like a current account's Service Quotas.

Names follow Service Quotas' wording: "<type> for training job usage", "<type> for spot training job usage",
"<type> for endpoint usage", "<type> for transform job usage", plus the account-wide "Number of instances across
all training jobs". Instance types come from botocore's SageMaker model. ListAWSDefaultServiceQuotas answers every
default; ListServiceQuotas only the quotas whose applied value differs from it (set through the control API), as
on AWS.

Quota codes: botocore carries none for SageMaker, and AWS publishes no offline table. The codes in
:data:`PUBLISHED_CODES` were found in public material (cited there); every other code is a stable hash of the
name (``L-`` + 8 hex digits, the real codes' form) and is NOT the real code: look quotas up by name, as the DAGs do.

Profiles (setting ``quota_profile``): ``default`` keeps the book's ml.p2 runnable; ``p2-retired`` is what many
accounts show today, every ml.p2 quota 0, so the preflight's substitute message is exercised.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import botocore.session
from moto.servicequotas.exceptions import NoSuchResource
from moto.servicequotas.models import ServiceQuotasBackend

from aws_emulator.settings import QUOTA_PROFILES, SETTINGS, Settings

SAGEMAKER = "sagemaker"
SERVICE_NAME = "Amazon SageMaker"
ALL_TRAINING_INSTANCES = "Number of instances across all training jobs"
# AWS's "Resource Limits for Automatic Model Tuning" page names this limit (default 10, "can be increased to 100");
# its Service Quotas name is not known offline: this is the page's wording, its code a stand-in hash like the rest.
TUNING_PARALLEL_JOBS = "Number of parallel training jobs per hyperparameter tuning job"
TUNING_PARALLEL_JOBS_DEFAULT = 10.0
# Stand-in (no public name found): the instances all of one tuning job's concurrent trials hold
# (MaxParallelTrainingJobs x InstanceCount); defaults to the account-wide training instance quota.
TUNING_INSTANCES = "Number of instances across all training jobs of a hyperparameter tuning job"
PROFILES = QUOTA_PROFILES

# Seen in a public runbook listing measured codes (one source; not confirmed against AWS's console offline).
PUBLISHED_CODES = {"ml.m5.xlarge for training job usage": "L-CCE2AFA6"}


@functools.cache
def _instance_types() -> tuple[tuple[str, ...], tuple[str, ...]]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return (
        tuple(model.shape_for("TrainingInstanceType").enum),
        tuple(model.shape_for("ProductionVariantInstanceType").enum),
    )


@functools.cache
def _transform_instance_types() -> tuple[str, ...]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return tuple(model.shape_for("TransformInstanceType").enum)


def training_quota_name(instance_type: str, *, spot: bool = False) -> str:
    return f"{instance_type} for {'spot ' if spot else ''}training job usage"


def endpoint_quota_name(instance_type: str) -> str:
    return f"{instance_type} for endpoint usage"


def transform_quota_name(instance_type: str) -> str:
    return f"{instance_type} for transform job usage"


@functools.cache
def quota_names() -> tuple[str, ...]:
    training, endpoint = _instance_types()
    names = [training_quota_name(t) for t in training]
    names += [training_quota_name(t, spot=True) for t in training]
    names += [endpoint_quota_name(t) for t in endpoint]
    names += [transform_quota_name(t) for t in _transform_instance_types()]
    names += [ALL_TRAINING_INSTANCES, TUNING_PARALLEL_JOBS, TUNING_INSTANCES]
    return tuple(names)


def quota_code(name: str) -> str:
    return PUBLISHED_CODES.get(name) or "L-" + hashlib.sha1(name.encode()).hexdigest()[:8].upper()


_code_of = quota_code  # get_service_quota's parameter shadows the name


def default_value(name: str, settings: Settings) -> float:
    """AWS's default for this account profile (the value ListAWSDefaultServiceQuotas shows)."""
    if settings.quota_profile not in PROFILES:
        raise ValueError(f"unknown quota_profile {settings.quota_profile!r}; known: {PROFILES}")
    if name in (ALL_TRAINING_INSTANCES, TUNING_INSTANCES):
        return float(settings.all_training_instances_quota)
    if name == TUNING_PARALLEL_JOBS:
        return TUNING_PARALLEL_JOBS_DEFAULT
    if settings.quota_profile == "p2-retired" and name.startswith("ml.p2."):
        return 0.0
    return float(settings.default_quota)


def quota_value(name: str, settings: Settings | None = None) -> float:
    """The value in force: the applied value when one was set, else the default."""
    settings = settings or SETTINGS.snapshot()
    return float(settings.quotas[name]) if name in settings.quotas else default_value(name, settings)


class EmulatorServiceQuotasBackend(ServiceQuotasBackend):
    """moto's Service Quotas plus the SageMaker instance quotas."""

    def _quota(self, name: str, value: float) -> dict[str, Any]:
        code = quota_code(name)
        return {
            "ServiceCode": SAGEMAKER,
            "ServiceName": SERVICE_NAME,
            "QuotaArn": f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:{SAGEMAKER}/{code}",
            "QuotaCode": code,
            "QuotaName": name,
            "Value": float(value),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }

    def list_service_quotas(self, service_code: str) -> list[dict[str, Any]]:
        if service_code == SAGEMAKER:
            settings = SETTINGS.snapshot()
            return [
                self._quota(n, settings.quotas[n])
                for n in quota_names()
                if n in settings.quotas and float(settings.quotas[n]) != default_value(n, settings)
            ]
        return self.list_aws_default_service_quotas(service_code)

    def list_aws_default_service_quotas(self, service_code: str) -> list[dict[str, Any]]:
        if service_code == SAGEMAKER:
            settings = SETTINGS.snapshot()
            return [self._quota(n, default_value(n, settings)) for n in quota_names()]
        return super().list_aws_default_service_quotas(service_code)

    def get_service_quota(self, service_code: str, quota_code: str) -> dict[str, Any]:
        if service_code == SAGEMAKER:
            settings = SETTINGS.snapshot()
            for name in quota_names():
                if _code_of(name) == quota_code:
                    return self._quota(name, quota_value(name, settings))
            raise NoSuchResource
        return super().get_service_quota(service_code, quota_code)
