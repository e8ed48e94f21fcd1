"""Service Quotas URLs, routed to the emulator's responses."""

from moto.servicequotas.urls import url_bases  # noqa: F401

from aws_emulator.quotas.responses import EmulatorServiceQuotasResponse

url_paths = {"{0}/$": EmulatorServiceQuotasResponse.dispatch}
