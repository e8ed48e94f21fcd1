"""SageMaker Runtime URLs, routed to the emulator's invoke_endpoint."""

from moto.sagemakerruntime.urls import url_bases  # noqa: F401

from aws_emulator.runtime.responses import EmulatorRuntimeResponse

url_paths = {
    "{0}/endpoints/(?P<name>[^/]+)/async-invocations$": EmulatorRuntimeResponse.dispatch,
    "{0}/endpoints/(?P<name>[^/]+)/invocations$": EmulatorRuntimeResponse.dispatch,
}
