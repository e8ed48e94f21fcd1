"""IAM URLs (moto derives a backend's urls module from its models module)."""

from moto.iam.urls import url_bases  # noqa: F401

from aws_emulator.iam.responses import EmulatorIamResponse

url_paths = {"{0}/$": EmulatorIamResponse.dispatch}
