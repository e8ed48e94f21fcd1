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

MAX_CANARY_PERCENT = 50  # botocore's CanarySize: "Value must be less than or equal to 50% of the variant's total
# instance count"; LinearStepSize: "Value must be 10-50% of the variant's total instance count".
MIN_LINEAR_PERCENT = 10
POLL_SECONDS = 0.02


@dataclass
class TrafficPlan:
    """The shares of traffic on the new fleet after each step, the bake after each, the final termination wait."""

    shares: list[float]
    bakes: list[float]
    termination_wait: float
    alarms: list[str] = field(default_factory=list)


def step_instances(size: dict[str, Any], instances: int, field_name: str) -> int:
    """A step's size in whole instances of the new fleet, as SageMaker turns traffic on instance by instance: a
    CAPACITY_PERCENT is rounded up to a whole instance (at least one), an INSTANCE_COUNT taken as is."""
    value = int(size["Value"])
    if size["Type"] == "CAPACITY_PERCENT":
        if not 1 <= value <= 100:
            raise ValidationError(message=f"{field_name}.Value {value} must be a percentage of 1-100.")
        return max(1, math.ceil(instances * value / 100.0))
    if value < 1:
        raise ValidationError(message=f"{field_name}.Value {value} must be at least 1 instance.")
    return value


def _sizing_error(field_name: str, size: dict[str, Any], count: int, instances: int, rule: str) -> ValidationError:
    return ValidationError(
        message=f"{field_name}.Value must be {rule} of the variant's total instance count: {size['Value']} "
        f"({size['Type']}) is {instances} of the new fleet's {count} instance(s). Use a fleet of at least "
        f"{2 if field_name == 'CanarySize' else 10} instances for this step, or ALL_AT_ONCE with a bake."
    )


def traffic_plan(deployment: dict[str, Any], new_instances: int) -> TrafficPlan:
    """The steps a BlueGreenUpdatePolicy asks for, sized in whole instances; refused as botocore's documentation
    says SageMaker refuses (a canary above 50% of the fleet, a linear step outside 10-50%)."""
    policy = deployment["BlueGreenUpdatePolicy"]
    routing = policy["TrafficRoutingConfiguration"]
    kind, wait = routing["Type"], float(routing["WaitIntervalInSeconds"])
    count = max(int(new_instances), 1)
    if kind == "CANARY":
        size = routing.get("CanarySize")
        if not size:
            raise ValidationError(message="CanarySize is required when TrafficRoutingConfiguration.Type is CANARY.")
        canary = step_instances(size, count, "CanarySize")
        if canary * 100 > count * MAX_CANARY_PERCENT:
            raise _sizing_error("CanarySize", size, count, canary, f"less than or equal to {MAX_CANARY_PERCENT}%")
        shares, bakes = [canary / count, 1.0], [wait, 0.0]
    elif kind == "LINEAR":
        size = routing.get("LinearStepSize")
        if not size:
            raise ValidationError(message="LinearStepSize is required when TrafficRoutingConfiguration.Type is LINEAR.")
        step = step_instances(size, count, "LinearStepSize")
        if step * 100 > count * MAX_CANARY_PERCENT or step * 100 < count * MIN_LINEAR_PERCENT:
            raise _sizing_error("LinearStepSize", size, count, step, f"{MIN_LINEAR_PERCENT}-{MAX_CANARY_PERCENT}%")
        steps = math.ceil(count / step)
        shares = [min(1.0, step * (i + 1) / count) for i in range(steps)]
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
