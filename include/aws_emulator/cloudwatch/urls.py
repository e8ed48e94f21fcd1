"""CloudWatch URLs (moto derives a backend's urls module from its models module)."""

from moto.cloudwatch.urls import url_bases  # noqa: F401

from aws_emulator.cloudwatch.responses import EmulatorCloudWatchResponse

url_paths = {"{0}/$": EmulatorCloudWatchResponse.dispatch}
