"""Blue/green endpoint updates with deployment guardrails (UpdateEndpoint with a DeploymentConfig).

What SageMaker does, and moto does not: the new fleet comes up beside the old one, traffic shifts in steps (all at
once, a canary share, or linear steps) with a bake time after each, then the old fleet waits
``TerminationWaitInSeconds`` before it goes. Throughout, the CloudWatch alarms named in
``AutoRollbackConfiguration`` are watched; one in ``ALARM`` rolls the deployment back: all traffic returns to the
old fleet, the endpoint is ``InService`` on its *old* config with a ``FailureReason`` — nothing else says that
the update did not happen (the silent-rollback trap, hashicorp/terraform-provider-aws#39099). Waits are emulated
seconds (``time_scale`` of them per real second).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from aws_emulator.sagemaker.exceptions import ValidationError
from aws_emulator.settings import SETTINGS

MAX_CANARY_PERCENT = 50  # "the canary size must be ≤ 50% of the new fleet's capacity" (SageMaker guardrails docs)
POLL_SECONDS = 0.02


@dataclass
class TrafficPlan:
    """The shares of traffic on the new fleet after each step, the bake after each, the final termination wait."""

    shares: list[float]
    bakes: list[float]
    termination_wait: float
    alarms: list[str] = field(default_factory=list)


def _share(size: dict[str, Any], instances: int, field_name: str) -> float:
    value = int(size["Value"])
    if size["Type"] == "CAPACITY_PERCENT":
        if value > 100:
            raise ValidationError(message=f"{field_name}.Value {value} is above 100 percent.")
        return value / 100.0
    if value > instances:
        raise ValidationError(
            message=f"{field_name}.Value {value} (INSTANCE_COUNT) exceeds the new fleet's {instances} instances."
        )
    return value / max(instances, 1)


def traffic_plan(deployment: dict[str, Any], new_instances: int) -> TrafficPlan:
    """The steps a BlueGreenUpdatePolicy asks for; refused as SageMaker refuses (canary above 50%, ...)."""
    policy = deployment["BlueGreenUpdatePolicy"]
    routing = policy["TrafficRoutingConfiguration"]
    kind, wait = routing["Type"], float(routing["WaitIntervalInSeconds"])
    if kind == "CANARY":
        size = routing.get("CanarySize")
        if not size:
            raise ValidationError(message="CanarySize is required when TrafficRoutingConfiguration.Type is CANARY.")
        share = _share(size, new_instances, "CanarySize")
        if share > MAX_CANARY_PERCENT / 100.0:
            raise ValidationError(
                message=f"CanarySize must be at most {MAX_CANARY_PERCENT}% of the new fleet's capacity; "
                f"got {share:.0%}."
            )
        shares, bakes = [share, 1.0], [wait, 0.0]
    elif kind == "LINEAR":
        size = routing.get("LinearStepSize")
        if not size:
            raise ValidationError(message="LinearStepSize is required when TrafficRoutingConfiguration.Type is LINEAR.")
        step = _share(size, new_instances, "LinearStepSize")
        steps = math.ceil(1.0 / step)
        shares = [min(1.0, step * (i + 1)) for i in range(steps)]
        bakes = [wait] * (steps - 1) + [0.0]
    else:  # ALL_AT_ONCE: the bake follows the full shift
        shares, bakes = [1.0], [wait]
    alarms = [a["AlarmName"] for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms") or []]
    return TrafficPlan(shares, bakes, float(policy.get("TerminationWaitInSeconds", 0)), alarms)


def alarms_backend(account_id: str, region: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account_id][region]


def require_alarms(account_id: str, region: str, names: list[str]) -> None:
    """SageMaker reads the rollback alarms with the execution role; unknown ones are refused up front."""
    known = alarms_backend(account_id, region).alarms
    missing = [name for name in names if name not in known]
    if missing:
        raise ValidationError(
            message=f"The CloudWatch alarm(s) {missing} given in AutoRollbackConfiguration do not exist in "
            f"{region}; create them (PutMetricAlarm) before the update."
        )


def alarms_in_alarm(account_id: str, region: str, names: list[str]) -> list[str]:
    known = alarms_backend(account_id, region).alarms
    return [name for name in names if name in known and known[name].state_value == "ALARM"]


def trip_injected_alarm(account_id: str, region: str, names: list[str]) -> None:
    """An injected fault (control API ``faults/alarm``): the next deployment's alarm fires during its bake."""
    wanted = SETTINGS.take_alarm_during_bake()
    if wanted is None or not names:
        return
    name = wanted or names[0]
    alarm = alarms_backend(account_id, region).alarms.get(name)
    if alarm is not None:
        alarm.update_state(
            "Threshold Crossed: injected by the emulator during the deployment's bake time", "{}", "ALARM"
        )


def bake(seconds: float, watch: Any, cancelled: Any) -> list[str]:
    """Waits ``seconds`` emulated seconds; returns the alarms that fired (empty: the bake passed)."""
    real = seconds / max(SETTINGS.snapshot().time_scale, 1e-6)
    event = threading.Event()
    waited = 0.0
    while True:
        fired = watch()
        if fired or cancelled():
            return fired
        if waited >= real:
            return []
        step = min(POLL_SECONDS, real - waited)
        event.wait(step)
        waited += step
