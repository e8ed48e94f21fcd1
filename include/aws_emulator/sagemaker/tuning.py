"""Hyperparameter tuning jobs on the emulator: real child training jobs, at most MaxParallelTrainingJobs at a time.

moto 5.2.5 stores a tuning job as Completed at once with a made-up best job. Here a thread launches the trials
through the backend's own ``create_training_job`` (so the stand-in algorithm really trains each, and the training
quotas apply), counts their states as SageMaker does, and picks the best by the objective metric. As on AWS, the
tuning job's tags are propagated to every training job it launches, and ListTags/AddTags/DeleteTags take its ARN.

**The search is random, whatever the Strategy says** (Bayesian is accepted and reported as requested): each trial
draws every range independently, seeded by the tuning job's name and the trial's number, so a run is reproducible.
``TrainingJobEarlyStoppingType`` is accepted and not acted on (no trial is stopped early). A tuning job whose every
trial failed ends ``Failed``; that is the emulator's rule (AWS may give up sooner).
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from moto.core.utils import utcnow
from moto.sagemaker.utils import arn_formatter

from aws_emulator.sagemaker.exceptions import ValidationError


class TrainingBackend(Protocol):
    """What a tuning run needs of the SageMaker backend: its training jobs, and starting and stopping one. The
    backend (models.py) passes itself down; this protocol keeps this module from importing models.py back."""

    training_jobs: Mapping[str, Any]

    def create_training_job(self, **kwargs: Any) -> Any: ...

    def stop_training_job(self, training_job_name: str) -> Any: ...


RUNNING = ("InProgress", "Stopping")
POLL_SECONDS = 0.2


def trial_name(tuning_job_name: str, index: int) -> str:
    """AWS's child names: ``<tuning job>-<NNN>-<8 hex>`` (why the tuning job's name is limited to 32)."""
    digest = hashlib.sha256(f"{tuning_job_name}:{index}".encode()).hexdigest()[:8]
    return f"{tuning_job_name}-{index:03d}-{digest}"


def _draw_number(rng: random.Random, spec: dict[str, Any], integer: bool) -> str:
    low, high = float(spec["MinValue"]), float(spec["MaxValue"])
    if spec.get("ScalingType") == "Logarithmic" and low > 0:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    if integer:
        return str(min(int(high), max(int(low), round(value))))
    return repr(round(value, 8))


def draw(ranges: dict[str, Any], tuning_job_name: str, index: int) -> dict[str, str]:
    """One trial's tuned values, as the strings a training job's HyperParameters carry."""
    rng = random.Random(f"{tuning_job_name}:{index}")
    values: dict[str, str] = {}
    for spec in ranges.get("ContinuousParameterRanges") or []:
        values[spec["Name"]] = _draw_number(rng, spec, integer=False)
    for spec in ranges.get("IntegerParameterRanges") or []:
        values[spec["Name"]] = _draw_number(rng, spec, integer=True)
    for spec in ranges.get("CategoricalParameterRanges") or []:
        values[spec["Name"]] = rng.choice(list(spec["Values"]))
    return values


def range_names(ranges: dict[str, Any]) -> list[str]:
    return [spec["Name"] for kind in ranges.values() for spec in (kind or [])]


def validate_ranges(ranges: dict[str, Any], static: dict[str, str]) -> None:
    """SageMaker's checks at create time: min <= max, log scaling above 0, no name both tuned and static."""
    for kind in ("ContinuousParameterRanges", "IntegerParameterRanges"):
        for spec in ranges.get(kind) or []:
            try:
                low, high = float(spec["MinValue"]), float(spec["MaxValue"])
            except ValueError:
                raise ValidationError(message=f"Hyperparameter '{spec['Name']}' range is not a number.") from None
            if kind == "IntegerParameterRanges" and not (low.is_integer() and high.is_integer()):
                raise ValidationError(message=f"The hyperparameter '{spec['Name']}' range must be integers.")
            if low > high:
                raise ValidationError(
                    message=f"The MinValue {spec['MinValue']} of hyperparameter '{spec['Name']}' is greater than "
                    f"its MaxValue {spec['MaxValue']}."
                )
            if spec.get("ScalingType") in ("Logarithmic", "ReverseLogarithmic") and low <= 0:
                raise ValidationError(
                    message=f"Logarithmic scaling of hyperparameter '{spec['Name']}' needs MinValue > 0."
                )
    names = range_names(ranges)
    if not names:
        raise ValidationError(message="The tuning job must have at least one hyperparameter range.")
    both = sorted(set(names) & set(static))
    if both:
        raise ValidationError(message=f"Hyperparameters {both} cannot be both static and tunable.")
    if len(set(names)) != len(names):
        raise ValidationError(message="A hyperparameter can have only one range.")


class TuningJob:
    """The tuning job's state (what DescribeHyperParameterTuningJob answers)."""

    def __init__(self, name: str, request: dict[str, Any], account_id: str, region: str) -> None:
        self.name = name
        self.arn = arn_formatter("hyper-parameter-tuning-job", name, account_id, region)
        self.config = request["HyperParameterTuningJobConfig"]
        self.definition = request["TrainingJobDefinition"]
        self.tags = list(request.get("Tags") or [])
        self.status = "InProgress"
        self.creation_time = self.last_modified_time = utcnow()
        self.end_time = None
        self.failure_reason: str | None = None
        self.trials: list[tuple[str, dict[str, str]]] = []  # (training job name, tuned values), launch order

    @property
    def limits(self) -> tuple[int, int]:
        limits = self.config["ResourceLimits"]
        parallel = int(limits["MaxParallelTrainingJobs"])
        return int(limits.get("MaxNumberOfTrainingJobs") or parallel), parallel


class TuningRun:
    """Launches a tuning job's trials and follows them to the job's end, in a background thread."""

    def __init__(self, backend: TrainingBackend, job: TuningJob) -> None:
        self.backend = backend
        self.job = job
        self._stop = threading.Event()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tuning-{job.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _statuses(self) -> list[str]:
        return [self.backend.training_jobs[name].training_job_status for name, _ in self.job.trials]

    def _run(self) -> None:
        job = self.job
        max_jobs, parallel = job.limits
        try:
            while not self._cancelled.is_set():
                if self._stop.is_set():
                    self._stop_trials()
                    return
                statuses = self._statuses()
                running = sum(status in RUNNING for status in statuses)
                if len(job.trials) < max_jobs and running < parallel:
                    self._launch(len(job.trials) + 1)
                    continue
                if len(job.trials) >= max_jobs and running == 0:
                    self._finish(statuses)
                    return
                self._stop.wait(POLL_SECONDS)
        except Exception as err:  # the emulator's fault: end the job visibly rather than hang
            job.failure_reason = f"InternalServerError: the emulator failed running this tuning job: {err!r}"
            job.status, job.end_time = "Failed", utcnow()

    def _launch(self, index: int) -> None:
        """Start trial ``index`` as a real training job; a full quota waits, as SageMaker queues the trial."""
        from aws_emulator.sagemaker.exceptions import ResourceLimitExceeded

        job = self.job
        tuned = draw(job.config.get("ParameterRanges") or {}, job.name, index)
        name = trial_name(job.name, index)
        definition = job.definition
        resources = definition.get("HyperParameterTuningResourceConfig") or definition.get("ResourceConfig") or {}
        try:
            self.backend.create_training_job(
                training_job_name=name,
                hyper_parameters={**(definition.get("StaticHyperParameters") or {}), **tuned},
                algorithm_specification=definition["AlgorithmSpecification"],
                role_arn=definition["RoleArn"],
                input_data_config=definition.get("InputDataConfig") or [],
                output_data_config=definition["OutputDataConfig"],
                resource_config={
                    k: v for k, v in resources.items() if k in ("InstanceType", "InstanceCount", "VolumeSizeInGB")
                },
                vpc_config=definition.get("VpcConfig") or {},
                stopping_condition=definition["StoppingCondition"],
                tags=[dict(tag) for tag in job.tags],  # AWS copies the tuning job's tags at launch
                enable_network_isolation=bool(definition.get("EnableNetworkIsolation")),
                enable_inter_container_traffic_encryption=bool(definition.get("EnableInterContainerTrafficEncryption")),
                enable_managed_spot_training=bool(definition.get("EnableManagedSpotTraining")),
                checkpoint_config=definition.get("CheckpointConfig") or {},
                debug_hook_config={},
                debug_rule_configurations=[],
                tensor_board_output_config={},
                experiment_config={},
                tuning_job_arn=job.arn,
            )
        except ResourceLimitExceeded:
            self._stop.wait(POLL_SECONDS)  # other jobs hold the instances: try again when they end
            return
        job.trials.append((name, tuned))
        job.last_modified_time = utcnow()

    def _stop_trials(self) -> None:
        job = self.job
        job.status = "Stopping"
        for name, _ in job.trials:
            if self.backend.training_jobs[name].training_job_status == "InProgress":
                self.backend.stop_training_job(name)
        while any(status in RUNNING for status in self._statuses()) and not self._cancelled.is_set():
            threading.Event().wait(POLL_SECONDS)
        job.status, job.end_time = "Stopped", utcnow()
        job.last_modified_time = job.end_time

    def _finish(self, statuses: list[str]) -> None:
        job = self.job
        if "Completed" not in statuses:
            first = next((self.backend.training_jobs[n] for n, _ in job.trials), None)
            reason = getattr(first, "failure_reason", None) or "no reason given"
            job.failure_reason = (
                f"All training jobs failed. No training job succeeded: {len(statuses)} of {len(statuses)} ended "
                f"{', '.join(sorted(set(statuses)))}. First failure: {reason}"
            )[:1024]
            job.status = "Failed"
        else:
            job.status = "Completed"
        job.end_time = job.last_modified_time = utcnow()
