"""One training job's life on the emulator: real states, real (stand-in) training, artifacts, checkpoints, logs.

A thread walks the job through SageMaker's states — InProgress with SecondaryStatus Starting → Downloading →
Training → Uploading, then Completed; or Failed with a FailureReason; or Stopped (stop_training_job,
MaxRuntimeExceeded, or managed spot running out of MaxWaitTimeInSeconds: MaxWaitTimeExceeded).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from moto.core.utils import utcnow

from aws_emulator import ic_algorithm
from aws_emulator.sagemaker import metrics
from aws_emulator.sagemaker.contract import is_image_classification
from aws_emulator.settings import SETTINGS, Settings
from aws_emulator.storage import LogWriter, S3Store

if TYPE_CHECKING:
    from moto.sagemaker.models import FakeTrainingJob

log = logging.getLogger(__name__)

IC_METRIC_DEFINITIONS = [
    {"Name": "train:accuracy", "Regex": r"Epoch\[\d+\] Train-accuracy=([0-9\.]+)"},
    {"Name": "validation:accuracy", "Regex": r"Epoch\[\d+\] Validation-accuracy=([0-9\.]+)"},
]


class _Stop(Exception):
    """Ends the job as Stopped with the given secondary status."""

    def __init__(self, secondary: str, message: str) -> None:
        super().__init__(message)
        self.secondary = secondary


CAPACITY_PREFIX = "CapacityError:"


class _NoCapacity(Exception):
    """AWS could not provision the instances: the job fails in Starting (distinct from an algorithm error)."""


class _SpotInterruption(Exception):
    def __init__(self, capacity_wait: float) -> None:
        super().__init__("spot interruption")
        self.capacity_wait = capacity_wait


class TrainingRun:
    """Drives one FakeTrainingJob from InProgress to a terminal state in a background thread."""

    def __init__(self, job: FakeTrainingJob, account_id: str, region: str) -> None:
        self.job = job
        self.account_id = account_id
        self.region = region
        self.settings: Settings = SETTINGS.snapshot()
        self._stop_requested = threading.Event()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"training-{job.training_job_name}", daemon=True)
        self._run_seconds = 0.0  # time on instances (billable basis), emulated seconds
        self._waited_seconds = 0.0  # spot capacity waits, emulated seconds
        self._segment_start = 0.0
        self.interruptions = 0
        self.logs: LogWriter | None = None
        self._last_launch: int | None = None  # epoch seconds in the previous launch's stream names
        self.meter = metrics.UsageMeter()  # the job thread's CPU, memory and disk, for CloudWatch's instance metrics

    # -- control -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop_requested.set()

    def cancel(self) -> None:
        """Abandon silently (emulator reset)."""
        self._cancelled.set()
        self._stop_requested.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # -- state helpers -------------------------------------------------------------------------------------
    def _transition(self, secondary: str, message: str, status: str | None = None) -> None:
        now = utcnow()
        transitions = self.job.secondary_status_transitions
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = now
        transitions.append({"Status": secondary, "StartTime": now, "StatusMessage": message})
        self.meter.mark(secondary)
        self.job.secondary_status = secondary
        if status:
            self.job.training_job_status = status
        self.job.last_modified_time = now

    def _sleep(self, seconds: float) -> None:
        if self._stop_requested.wait(max(0.0, seconds)):
            raise _Stop("Stopped", "Training job stopped by the user (StopTrainingJob).")

    def _log(self, message: str) -> None:
        if self.logs is not None:
            self.logs.write(message)

    def _clock_run(self) -> float:
        return self._run_seconds + (time.monotonic() - self._segment_start) * self.settings.time_scale

    def _check_limits(self) -> None:
        stopping = self.job.stopping_condition or {}
        max_runtime = stopping.get("MaxRuntimeInSeconds")
        if max_runtime and self._clock_run() > float(max_runtime):
            raise _Stop("MaxRuntimeExceeded", f"Training job exceeded MaxRuntimeInSeconds={max_runtime}.")

    # -- the run -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        job = self.job
        try:
            self._segment_start = time.monotonic()
            self._launch()
            result = self._train_until_done()
            self._transition("Uploading", "Uploading generated training model")
            self._sleep(self.settings.uploading_seconds)
            self._upload(result)
            # No "Training seconds"/"Billable seconds" lines: the SDK prints those itself from Describe, not the job.
            self._finish("Completed", "Completed", "Training job completed")
        except _Stop as stop:
            if self._cancelled.is_set():
                return
            self._transition("Stopping", "Stopping the training job", status="Stopping")
            self._log(str(stop))
            self._finish("Stopped", stop.secondary, str(stop))
        except _NoCapacity as err:
            if self._cancelled.is_set():
                return
            self._fail(str(err))
        except ic_algorithm.AlgorithmError as err:
            if self._cancelled.is_set():
                return
            self._log(f"ERROR: {err}")
            self._fail(str(err))
        except Exception as err:  # anything else is the emulator's fault; report it, don't hang
            if self._cancelled.is_set():
                return
            log.exception("training job %s crashed", job.training_job_name)
            self._log(traceback.format_exc())
            self._fail(f"InternalServerError: the emulator failed running this job: {err!r}")

    def _launch(self) -> None:
        job = self.job
        self._transition("Starting", "Preparing the instances for training", status="InProgress")
        self._sleep(self.settings.starting_seconds)
        if job.training_start_time is None:
            capacity = SETTINGS.take_training_failure_if(lambda reason: reason.startswith(CAPACITY_PREFIX))
            if capacity is not None:  # no instances: fails in Starting, nothing ran or was billed
                raise _NoCapacity(capacity)
            if job.enable_managed_spot_training and SETTINGS.take_spot_no_capacity():
                self._wait_for_spot_capacity()
        if self.logs is None:  # one stream per instance and launch, as SageMaker writes them
            instance_count = int(job.resource_config.get("InstanceCount", 1))
            self.logs = LogWriter(
                self.account_id, self.region, job.training_job_name, instance_count, self._last_launch
            )
            self._last_launch = self.logs.started
        if job.training_start_time is None:  # billing starts once instances run (API doc: TrainingStartTime)
            job.training_start_time = utcnow()
            self._segment_start = time.monotonic()
            self.meter = metrics.UsageMeter()  # instance metrics start with the instances
        self._transition("Downloading", "Downloading input data")
        self._sleep(self.settings.downloading_seconds)

    def _wait_for_spot_capacity(self) -> None:
        """No spot capacity at all: wait in Starting until MaxWaitTimeInSeconds (emulated) runs out."""
        max_wait = float((self.job.stopping_condition or {}).get("MaxWaitTimeInSeconds") or 0)
        self._transition("Starting", "Insufficient capacity error from EC2 while launching instances, retrying!")
        self._log("Spot capacity is not available; waiting for capacity.")
        self._sleep(max_wait / max(self.settings.time_scale, 1e-9))
        raise _Stop(
            "MaxWaitTimeExceeded",
            f"Training job exceeded MaxWaitTimeInSeconds={int(max_wait)} waiting for spot capacity; it never started.",
        )

    def _download(self) -> dict[str, dict[str, bytes]]:
        s3 = S3Store(self.account_id, self.region)
        channels: dict[str, dict[str, bytes]] = {}
        for channel in self.job.input_data_config or []:
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            files = s3.read_prefix(uri)
            if not files:
                raise ic_algorithm.AlgorithmError(
                    f'ClientError: Data download failed: No S3 objects found under S3 URL "{uri}" given in input '
                    f'data source "{channel["ChannelName"]}".'
                )
            channels[channel["ChannelName"]] = files
        self.meter.disk_bytes = sum(len(data) for files in channels.values() for data in files.values())
        return channels

    def _checkpoints(self) -> dict[str, bytes]:
        uri = (self.job.checkpoint_config or {}).get("S3Uri")
        return S3Store(self.account_id, self.region).read_prefix(uri) if uri else {}

    def _train_until_done(self) -> ic_algorithm.TrainResult:
        job = self.job
        image = job.algorithm_specification.get("TrainingImage", "")
        if not is_image_classification(image):
            raise ic_algorithm.AlgorithmError(
                f"AlgorithmError: the local emulator runs only the built-in image-classification algorithm "
                f"(a stand-in of it); it cannot run the container image {image!r}. Use real SageMaker for other "
                "images."
            )
        while True:
            channels = self._download()
            injected = SETTINGS.take_training_failure()
            self._transition("Training", "Training image download completed. Training in progress.")
            if injected is not None:
                raise ic_algorithm.AlgorithmError(injected)
            try:
                return ic_algorithm.train(
                    channels,
                    job.hyper_parameters or {},
                    checkpoints=self._checkpoints(),
                    on_epoch=self._on_epoch,
                    log=self._log,
                )
            except _SpotInterruption as interruption:
                self._interrupted(interruption.capacity_wait)

    def _on_epoch(self, report: ic_algorithm.EpochReport) -> None:
        uri = (self.job.checkpoint_config or {}).get("S3Uri")
        if uri:
            s3 = S3Store(self.account_id, self.region)
            for name, data in report.checkpoint_files.items():
                s3.write(f"{uri.rstrip('/')}/{name}", data)
                self.meter.disk_bytes += len(data)
        self.meter.mark("Training")
        self._sleep(self.settings.epoch_seconds)
        self._check_limits()
        total_epochs = int((self.job.hyper_parameters or {}).get("epochs", "30"))
        if self.job.enable_managed_spot_training and report.epoch < total_epochs:
            wait = SETTINGS.take_spot_interruption()
            if wait is not None:
                raise _SpotInterruption(wait)

    def _interrupted(self, capacity_wait: float) -> None:
        """A spot reclaim: pause billing, wait for capacity, relaunch, and resume from the checkpoints."""
        self.interruptions += 1
        self._run_seconds = self._clock_run()
        self._transition("Interrupted", "The training job was interrupted by a spot capacity reclaim.")
        self._log(
            f"Spot capacity reclaimed (interruption {self.interruptions}); waiting {capacity_wait:.0f}s for capacity."
        )
        self._waited_seconds += capacity_wait
        stopping = self.job.stopping_condition or {}
        max_wait = float(stopping.get("MaxWaitTimeInSeconds") or math.inf)
        if self._run_seconds + self._waited_seconds > max_wait:
            raise _Stop(
                "MaxWaitTimeExceeded",
                f"Training job exceeded MaxWaitTimeInSeconds={stopping.get('MaxWaitTimeInSeconds')} "
                f"waiting for spot capacity; checkpoints are kept in "
                f"{(self.job.checkpoint_config or {}).get('S3Uri', '(no CheckpointConfig)')}.",
            )
        self._segment_start = time.monotonic()
        self.logs = None  # the relaunched instances write new streams (algo-<n>-<this launch's epoch>)
        self._launch()

    def _upload(self, result: ic_algorithm.TrainResult) -> None:
        artifact = self.job.model_artifacts["S3ModelArtifacts"]
        s3 = S3Store(self.account_id, self.region)
        bucket = artifact.split("/", 3)[2]
        if not s3.bucket_exists(bucket):
            raise ic_algorithm.AlgorithmError(
                f"ClientError: Failed to upload model artifacts to {artifact}: bucket {bucket!r} does not exist."
            )
        s3.write(artifact, result.model_tar_gz)
        now = utcnow()
        self.job.final_metric_data_list = [
            {"MetricName": name, "Value": float(value), "Timestamp": now}
            for name, value in sorted(result.final_metrics.items())
        ]

    def _finish(self, status: str, secondary: str, message: str) -> None:
        job = self.job
        if job.training_start_time is not None:  # a job that never got instances has no training times
            self._run_seconds = self._clock_run()
            training = max(1, math.ceil(self._run_seconds))
            billable = training
            if job.enable_managed_spot_training:
                billable = max(1, math.ceil(self._run_seconds * (1.0 - self.settings.spot_discount)))
            job.training_time_in_seconds = training
            job.billable_time_in_seconds = billable
            # TrainingTimeInSeconds = TrainingEndTime - TrainingStartTime, as on AWS. Emulated seconds run
            # time_scale times faster than the wall clock, so with time_scale > 1 the end time lies ahead of it.
            job.training_end_time = job.training_start_time + timedelta(seconds=training)
        self._transition(secondary, message)
        job.secondary_status_transitions[-1]["EndTime"] = utcnow()
        if job.training_start_time is not None:
            self._publish_metrics()
        job.training_job_status = status

    def _publish_metrics(self) -> None:
        """The instance metrics of the job's life, per host, before the job reads as ended (as on AWS, where
        they are there by the time a report is made)."""
        job = self.job
        resource = job.resource_config or {}
        points = metrics.datapoints(
            self.meter,
            origin=job.training_start_time,
            time_scale=self.settings.time_scale,
            instance_type=resource.get("InstanceType", ""),
            volume_gb=float(resource.get("VolumeSizeInGB", 30)),
            mini_batch_size=int((job.hyper_parameters or {}).get("mini_batch_size", "32")),
        )
        metrics.publish(
            self.account_id, self.region, job.training_job_name, int(resource.get("InstanceCount", 1)), points
        )
        self._log(metrics.SYNTHETIC_NOTE)

    def _fail(self, reason: str) -> None:
        self.job.failure_reason = reason[:1024]  # AWS's FailureReason is at most 1,024 characters
        self._finish("Failed", "Failed", self.job.failure_reason)


def prepare_job(job: FakeTrainingJob, request: dict[str, Any]) -> None:
    """Undo moto's instant completion: the job starts InProgress with no results, as on SageMaker."""
    job.algorithm_specification = dict(request.get("AlgorithmSpecification") or {})
    if is_image_classification(job.algorithm_specification.get("TrainingImage", "")):
        job.algorithm_specification.setdefault("MetricDefinitions", IC_METRIC_DEFINITIONS)
    now = utcnow()
    job.training_job_status = "InProgress"
    job.secondary_status = "Starting"
    job.secondary_status_transitions = []
    job.final_metric_data_list = None
    job.training_start_time = None
    job.training_end_time = None
    job.creation_time = job.last_modified_time = now
    job.failure_reason = None
    job.training_time_in_seconds = None
    job.billable_time_in_seconds = None
