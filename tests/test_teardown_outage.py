"""Teardown deletes ride out a short outage (throttling, 5xx) with back-off, and when it lasts longer they fail
naming what is left (issue 11, item 9). The clients here do no retries of their own, so the teardown's loop is what
is tested."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_mlops.serving import teardown

from constants import ROLE_ARN
from emulator_helpers import IC_IMAGE


@pytest.fixture()
def config(aws: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(teardown, "OUTAGE_SECONDS", 1.2)
    monkeypatch.setattr(teardown, "FIRST_BACKOFF_SECONDS", 0.05)
    sm = aws("sagemaker")
    aws("s3").create_bucket(Bucket="td-bucket")
    aws("s3").put_object(Bucket="td-bucket", Key="model.tar.gz", Body=b"artifact")
    sm.create_model(
        ModelName="td-model",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IC_IMAGE, "ModelDataUrl": "s3://td-bucket/model.tar.gz"},
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "td-model", "InitialInstanceCount": 1}
    sm.create_endpoint_config(
        EndpointConfigName="td-config", ProductionVariants=[{**variant, "InstanceType": "ml.m5.xlarge"}]
    )
    return "td-config"


@pytest.mark.parametrize("error", ["ThrottlingException", "InternalFailure"])
def test_a_short_outage_is_ridden_out(aws: Any, emulator: Any, config: str, error: str) -> None:
    emulator.fail_api("DeleteEndpointConfig", error, seconds=0.3)
    emulator.fail_api("DeleteModel", error, count=3)
    assert teardown.delete_endpoint_config(aws("sagemaker"), config) is True
    assert teardown.delete_model(aws("sagemaker"), "td-model") is True
    assert aws("sagemaker").list_endpoint_configs()["EndpointConfigs"] == []


def test_a_longer_outage_fails_naming_what_is_left(aws: Any, emulator: Any, config: str) -> None:
    emulator.fail_api("DeleteEndpointConfig", "InternalFailure", seconds=30)
    with pytest.raises(teardown.DeleteFailed, match="endpoint config td-config is left") as failed:
        teardown.delete_endpoint_config(aws("sagemaker"), config)
    assert "reaper" in str(failed.value)
    assert [c["EndpointConfigName"] for c in aws("sagemaker").list_endpoint_configs()["EndpointConfigs"]] == [config]


def test_other_errors_are_not_retried(aws: Any, emulator: Any, config: str) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="ValidationException"):
        teardown.delete_model(aws("sagemaker"), "bad name!")
    assert [r["action"] for r in emulator.requests()].count("DeleteModel") == 1
