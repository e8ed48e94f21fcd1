"""make run's production summary line: it described every update as a canary, and crashed (KeyError 'CanarySize')
once a one-instance fleet was updated all at once (issue 19 item 2)."""

from __future__ import annotations

import run_production


def test_an_all_at_once_update_is_described_without_a_canary() -> None:
    text = run_production.describe_update({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60})
    assert text == "all-at-once update, 60 s bake"


def test_a_canary_update_names_its_size_and_unit() -> None:
    percent = {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}, "WaitIntervalInSeconds": 90}
    count = {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 90}
    assert run_production.describe_update(percent) == "canary update: 50% first, 90 s bake"
    assert run_production.describe_update(count) == "canary update: 1 instance(s) first, 90 s bake"
