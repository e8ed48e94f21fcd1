"""SageMaker URLs (moto derives a backend's urls module from its models module)."""

from moto.sagemaker.urls import url_bases  # noqa: F401

from aws_emulator.sagemaker.responses import EmulatorSageMakerResponse

url_paths = {"{0}/$": EmulatorSageMakerResponse.dispatch}
