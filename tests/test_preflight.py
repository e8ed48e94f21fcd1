"""Quota preflight: applied values over AWS defaults, and the message that names quota, fix and substitute."""

from __future__ import annotations

import pytest

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.training import preflight


class FakeQuotas:
    """Service Quotas answering from two tables, the way AWS splits defaults from applied values."""

    def __init__(self, defaults: dict[str, float], applied: dict[str, float]) -> None:
        self.tables = {"list_aws_default_service_quotas": defaults, "list_service_quotas": applied}

    def get_paginator(self, operation: str):
        table = self.tables[operation]

        class Pages:
            def paginate(self, ServiceCode: str):
                assert ServiceCode == "sagemaker"
                yield {
                    "Quotas": [
                        {"QuotaName": n, "QuotaCode": f"L-{i:08d}", "Value": v}
                        for i, (n, v) in enumerate(table.items())
                    ]
                }

        return Pages()


P2 = "ml.p2.xlarge for training job usage"
G4 = "ml.g4dn.xlarge for training job usage"


def test_a_quota_still_at_its_default_counts():
    client = FakeQuotas(defaults={P2: 2.0, G4: 1.0}, applied={})
    preflight.check_quotas(client, [("training_instance_type", P2, 2)], "us-east-1")


def test_an_applied_value_overrides_the_default_and_the_error_names_quota_fix_and_substitute():
    client = FakeQuotas(defaults={P2: 2.0, G4: 4.0}, applied={P2: 0.0})
    with pytest.raises(ParamError) as excinfo:
        preflight.check_quotas(client, [("training_instance_type", P2, 2)], "us-east-1")
    message = str(excinfo.value)
    assert message.startswith("training_instance_type:") and P2 in message and "is 0" in message
    assert "request-service-quota-increase" in message and "ml.g4dn.xlarge (quota 4)" in message


def test_a_quota_unknown_to_the_account_is_reported_missing():
    client = FakeQuotas(defaults={G4: 4.0}, applied={})
    with pytest.raises(ParamError, match="does not exist in this account/region"):
        preflight.check_quotas(client, [("training_instance_type", P2, 1)], "us-east-1")


TUNING = preflight.TUNING_PARALLEL_JOBS


def test_a_tuning_job_above_the_accounts_parallel_quota_is_refused_naming_the_fix():
    client = FakeQuotas(defaults={P2: 20.0, TUNING: 10.0}, applied={TUNING: 4.0})
    with pytest.raises(ParamError) as excinfo:
        preflight.check_quotas(client, [("training_instance_type", P2, 5)], "us-east-1", tuning=(5, 1))
    message = str(excinfo.value)
    assert message.startswith("max_parallel_training_jobs:") and f"'{TUNING}' is 4" in message
    assert "request-service-quota-increase" in message
    preflight.check_quotas(client, [("training_instance_type", P2, 4)], "us-east-1", tuning=(4, 1))


def test_without_the_quota_in_service_quotas_awss_default_of_ten_applies():
    client = FakeQuotas(defaults={P2: 40.0}, applied={})
    preflight.check_quotas(client, [("training_instance_type", P2, 10)], "us-east-1", tuning=(10, 1))
    with pytest.raises(ParamError, match="AWS's default"):
        preflight.check_quotas(client, [("training_instance_type", P2, 11)], "us-east-1", tuning=(11, 1))


def test_a_tuning_jobs_instances_must_fit_the_accounts_instances_across_all_training_jobs():
    client = FakeQuotas(defaults={P2: 40.0, preflight.ALL_TRAINING_INSTANCES: 8.0}, applied={})
    with pytest.raises(ParamError, match="above 'Number of instances across all training jobs'"):
        preflight.check_quotas(client, [("training_instance_type", P2, 10)], "us-east-1", tuning=(5, 2))
