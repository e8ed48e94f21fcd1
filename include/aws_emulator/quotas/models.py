"""SageMaker instance quotas by their real names, with values set through the control API.

Names follow Service Quotas' wording: "<type> for training job usage", "<type> for spot training job usage",
"<type> for endpoint usage". Instance types come from botocore's SageMaker model. Quota codes are stable
hashes of the name (real accounts use codes such as L-3F53BF0F): look quotas up by name, as the DAGs do.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import botocore.session
from moto.servicequotas.exceptions import NoSuchResource
from moto.servicequotas.models import ServiceQuotasBackend

from aws_emulator.settings import SETTINGS

SAGEMAKER = "sagemaker"
SERVICE_NAME = "Amazon SageMaker"


@functools.cache
def _instance_types() -> tuple[tuple[str, ...], tuple[str, ...]]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return (tuple(model.shape_for("TrainingInstanceType").enum),
            tuple(model.shape_for("ProductionVariantInstanceType").enum))


@functools.cache
def quota_names() -> tuple[str, ...]:
    training, endpoint = _instance_types()
    names = [f"{t} for training job usage" for t in training]
    names += [f"{t} for spot training job usage" for t in training]
    names += [f"{t} for endpoint usage" for t in endpoint]
    return tuple(names)


def quota_code(name: str) -> str:
    return "L-" + hashlib.sha1(name.encode()).hexdigest()[:8].upper()


class EmulatorServiceQuotasBackend(ServiceQuotasBackend):
    """moto's Service Quotas plus the SageMaker instance quotas."""

    def _sagemaker_quotas(self) -> list[dict[str, Any]]:
        settings = SETTINGS.snapshot()
        return [{
            "ServiceCode": SAGEMAKER,
            "ServiceName": SERVICE_NAME,
            "QuotaArn": f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:{SAGEMAKER}/{quota_code(n)}",
            "QuotaCode": quota_code(n),
            "QuotaName": n,
            "Value": float(settings.quotas.get(n, settings.default_quota)),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        } for n in quota_names()]

    def list_service_quotas(self, service_code: str) -> list[dict[str, Any]]:
        if service_code == SAGEMAKER:
            return self._sagemaker_quotas()
        return self.list_aws_default_service_quotas(service_code)

    def list_aws_default_service_quotas(self, service_code: str) -> list[dict[str, Any]]:
        if service_code == SAGEMAKER:
            return [dict(q, Value=SETTINGS.snapshot().default_quota) for q in self._sagemaker_quotas()]
        return super().list_aws_default_service_quotas(service_code)

    def get_service_quota(self, service_code: str, quota_code: str) -> dict[str, Any]:
        if service_code == SAGEMAKER:
            for quota in self._sagemaker_quotas():
                if quota["QuotaCode"] == quota_code:
                    return quota
            raise NoSuchResource
        return super().get_service_quota(service_code, quota_code)
