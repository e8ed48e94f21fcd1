"""SageMaker Runtime state: none of its own; invoke_endpoint asks the SageMaker backend for the served model."""

from moto.sagemakerruntime.models import SageMakerRuntimeBackend


class EmulatorRuntimeBackend(SageMakerRuntimeBackend):
    """moto's runtime backend; subclassed so moto routes requests to this package's ``urls``."""
