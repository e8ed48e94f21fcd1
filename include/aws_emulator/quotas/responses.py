"""Service Quotas wire format for ListServiceQuotas (paginated), which moto does not implement."""

from __future__ import annotations

import json

from moto.servicequotas.responses import ServiceQuotasResponse

from aws_emulator.quotas.models import EmulatorServiceQuotasBackend


class EmulatorServiceQuotasResponse(ServiceQuotasResponse):
    @property
    def backend(self) -> EmulatorServiceQuotasBackend:  # type: ignore[override]
        from moto.servicequotas import models

        return models.servicequotas_backends[self.current_account][self.region]

    def list_service_quotas(self) -> str:
        params = json.loads(self.body)
        quotas = self.backend.list_service_quotas(str(params.get("ServiceCode")))
        return json.dumps(_page(quotas, params))

    def list_aws_default_service_quotas(self) -> str:
        params = json.loads(self.body)
        quotas = self.backend.list_aws_default_service_quotas(str(params.get("ServiceCode")))
        return json.dumps(_page(quotas, params))


def _page(quotas: list[dict], params: dict) -> dict:
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxResults") or 100)
    page: dict = {"Quotas": quotas[start : start + size]}
    if start + size < len(quotas):
        page["NextToken"] = str(start + size)
    return page
