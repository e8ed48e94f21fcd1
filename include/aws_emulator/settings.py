"""Knobs and injected faults, shared by the emulator's services and changed through the control API."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Settings:
    """Current emulator behaviour. Durations are real seconds, small by default so waits are real but short."""

    starting_seconds: float = 0.5
    downloading_seconds: float = 0.3
    epoch_seconds: float = 0.3
    uploading_seconds: float = 0.3
    endpoint_create_seconds: float = 1.0
    endpoint_update_seconds: float = 1.0
    # DeleteEndpoint is asynchronous: the endpoint shows Deleting this long, then is gone.
    endpoint_delete_seconds: float = 1.0
    # Emulated seconds per real second, for TrainingTimeInSeconds / BillableTimeInSeconds.
    time_scale: float = 1.0
    # Managed spot: BillableTimeInSeconds = run time x (1 - spot_discount).
    spot_discount: float = 0.7
    # Added before each S3 request (real S3 answers small requests in ~100-200 ms).
    s3_latency_ms: float = 0.0
    # Service Quotas: AWS's default for every SageMaker instance quota ("default" profile), the account-wide
    # "Number of instances across all training jobs", applied values by quota name, and the account profile
    # ("default": the book's ml.p2 runnable; "p2-retired": every ml.p2 quota 0, as in many accounts today).
    default_quota: float = 4.0
    all_training_instances_quota: float = 8.0
    quotas: dict[str, float] = field(default_factory=dict)
    quota_profile: str = "default"

    # Faults, consumed by the next matching operation.
    fail_next_training_jobs: list[str] = field(default_factory=list)
    spot_interruptions: int = 0
    spot_capacity_wait_seconds: float = 0.0
    fail_next_endpoints: list[str] = field(default_factory=list)
    # Batch transform: the next jobs fail with these reasons once their instances are up.
    fail_next_transform_jobs: list[str] = field(default_factory=list)
    # Batch transform: while true, every job's instances keep starting (InProgress, as on a busy region) until it
    # is cleared: a gate, so a caller's first look finds the job InProgress however slow the host is.
    hold_transform_jobs: bool = False
    # A managed-spot job finds no capacity at all: it waits in Starting until MaxWaitTimeInSeconds runs out.
    spot_no_capacity: int = 0
    # API faults: {"<Operation>": {"error": "ThrottlingException"|"InternalFailure", "count": N, "until": epoch}}
    api_faults: dict[str, dict] = field(default_factory=dict)
    # Deployment guardrails: the next blue/green updates' rollback alarm (a name, or "" for the update's first
    # alarm) goes into ALARM during the bake, so the update rolls back.
    alarm_during_next_bakes: list[str] = field(default_factory=list)


_TUNABLE = {f.name for f in fields(Settings)}
QUOTA_PROFILES = ("default", "p2-retired")


class SettingsStore:
    """Thread-safe holder: the HTTP threads and the training/endpoint threads read and change it concurrently."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings = Settings()

    def snapshot(self) -> Settings:
        with self._lock:
            return Settings(
                **{k: (v.copy() if isinstance(v, (list, dict)) else v) for k, v in asdict(self._settings).items()}
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self.snapshot())

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(changes) - _TUNABLE)
        if unknown:
            raise ValueError(f"unknown emulator settings {unknown}; known: {sorted(_TUNABLE)}")
        if changes.get("quota_profile", "default") not in QUOTA_PROFILES:
            raise ValueError(f"unknown quota_profile {changes['quota_profile']!r}; known: {QUOTA_PROFILES}")
        with self._lock:
            for key, value in changes.items():
                if key == "quotas":
                    self._settings.quotas.update({str(k): float(v) for k, v in value.items()})
                elif key == "api_faults":
                    self._settings.api_faults.update({str(k): dict(v) for k, v in value.items()})
                else:
                    setattr(self._settings, key, value)
        return self.as_dict()

    def reset(self) -> None:
        with self._lock:
            self._settings = Settings()

    def take_training_failure(self) -> str | None:
        with self._lock:
            return self._settings.fail_next_training_jobs.pop(0) if self._settings.fail_next_training_jobs else None

    def take_training_failure_if(self, matches: Any) -> str | None:
        """The next injected training failure, only when ``matches(reason)`` (capacity faults fire earlier)."""
        with self._lock:
            queue = self._settings.fail_next_training_jobs
            return queue.pop(0) if queue and matches(queue[0]) else None

    def take_endpoint_failure(self) -> str | None:
        with self._lock:
            return self._settings.fail_next_endpoints.pop(0) if self._settings.fail_next_endpoints else None

    def take_transform_failure(self) -> str | None:
        with self._lock:
            queue = self._settings.fail_next_transform_jobs
            return queue.pop(0) if queue else None

    def take_alarm_during_bake(self) -> str | None:
        with self._lock:
            queue = self._settings.alarm_during_next_bakes
            return queue.pop(0) if queue else None

    def take_spot_no_capacity(self) -> bool:
        with self._lock:
            if self._settings.spot_no_capacity <= 0:
                return False
            self._settings.spot_no_capacity -= 1
            return True

    def take_api_fault(self, operation: str, now: float) -> str | None:
        """The error code to answer this call of ``operation`` with, consuming one of a counted fault."""
        with self._lock:
            fault = self._settings.api_faults.get(operation)
            if not fault:
                return None
            if fault.get("until") is not None:
                if now < float(fault["until"]):
                    return str(fault["error"])
                del self._settings.api_faults[operation]
                return None
            fault["count"] = int(fault.get("count", 1)) - 1
            if fault["count"] <= 0:
                del self._settings.api_faults[operation]
            return str(fault["error"])

    def take_spot_interruption(self) -> float | None:
        """Returns the capacity wait (emulated seconds) of one injected interruption, or None."""
        with self._lock:
            if self._settings.spot_interruptions <= 0:
                return None
            self._settings.spot_interruptions -= 1
            return self._settings.spot_capacity_wait_seconds


SETTINGS = SettingsStore()
