"""SageMaker state on the emulator: moto's backend, extended with validation and lifecycles.

moto 5.2.5 completes jobs at once, writes nothing, overwrites duplicates silently and lacks stop/update. This
subclass keeps moto's storage and describe/list/delete code and adds what SageMaker does: reject what it
rejects (before anything is created), run jobs and endpoints through their states in threads, and keep the
loaded model behind each InService endpoint for invoke_endpoint.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import threading
import uuid
from collections import Counter
from typing import Any

from moto.core.utils import utcnow
from moto.s3.exceptions import MissingBucket
from moto.sagemaker.models import (
    FakeEndpoint,
    FakeEndpointConfig,
    FakeTrainingJob,
    SageMakerModelBackend,
)
from moto.sagemaker.utils import arn_formatter

from aws_emulator import ic_algorithm
from aws_emulator.quotas.models import (
    ALL_TRAINING_INSTANCES,
    TUNING_INSTANCES,
    TUNING_PARALLEL_JOBS,
    endpoint_quota_name,
    quota_value,
    training_quota_name,
)
from aws_emulator.sagemaker import deployment, endpoint_metrics
from aws_emulator.sagemaker.contract import (
    IC_REPOSITORY,
    expected_ic_image,
    image_region,
    is_ic_training_instance,
    is_image_classification,
    is_real_ic_image,
)
from aws_emulator.sagemaker.exceptions import (
    ResourceInUseException,
    ResourceLimitExceeded,
    ValidationError,
    quota_exceeded,
)
from aws_emulator.sagemaker.training import TrainingRun, prepare_job
from aws_emulator.sagemaker.transform import TransformJobsMixin
from aws_emulator.sagemaker.tuning import TuningJob, TuningRun, validate_ranges
from aws_emulator.settings import SETTINGS
from aws_emulator.storage import S3Store, split_s3_uri


class RuntimeValidationError(Exception):
    """An InvokeEndpoint refusal; the runtime answers it with its own ValidationError shape."""


TERMINAL_TRAINING = {"Completed", "Failed", "Stopped"}
# botocore's EndpointStatus: SystemUpdating "cannot be updated or deleted or re-scaled until it has completed".
IN_TRANSITION = ("Creating", "Updating", "SystemUpdating", "Deleting")


class EmulatorEndpointConfig(FakeEndpointConfig):
    """moto's endpoint config without its static instance list: the service-model validator checks
    InstanceType against botocore's ProductionVariantInstanceType enum (ml.g5, ml.g6, ml.m6i, ... are valid)."""

    def validate_instance_type(self, instance_type: str) -> None:
        return None


def without_empty(response: dict[str, Any], *keys: str) -> dict[str, Any]:
    """AWS leaves out a configuration that was never set; moto sends it empty, without its required members."""
    return {k: v for k, v in response.items() if not (k in keys and not v)}


def endpoint_variants(config_variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariants as AWS returns them; moto drops falsy values, so a weight-0
    variant lost CurrentWeight/DesiredWeight."""
    variants = []
    for variant in config_variants:
        summary: dict[str, Any] = {"VariantName": variant["VariantName"]}
        if variant.get("InitialInstanceCount") is not None:
            summary["CurrentInstanceCount"] = summary["DesiredInstanceCount"] = int(variant["InitialInstanceCount"])
        weight = float(variant.get("InitialVariantWeight", 1.0))
        summary["CurrentWeight"] = summary["DesiredWeight"] = weight
        if variant.get("ServerlessConfig"):
            summary["CurrentServerlessConfig"] = summary["DesiredServerlessConfig"] = variant["ServerlessConfig"]
        variants.append(summary)
    return variants


# DescribeTrainingJob members AWS always returns, with its defaults when the request left them out (the SDK's
# Estimator.attach reads OutputDataConfig.KmsKeyId, ResourceConfig.VolumeSizeInGB, EnableNetworkIsolation, ...).
_TRAINING_DEFAULTS: dict[str, Any] = {
    "EnableNetworkIsolation": False,
    "EnableInterContainerTrafficEncryption": False,
    "EnableManagedSpotTraining": False,
    "HyperParameters": {},
}


def _complete_training_description(job: dict[str, Any]) -> dict[str, Any]:
    job = copy.deepcopy(job)
    for key, value in _TRAINING_DEFAULTS.items():
        job.setdefault(key, value if not isinstance(value, dict) else {})
    output = job.setdefault("OutputDataConfig", {})
    output.setdefault("KmsKeyId", "")
    output.setdefault("CompressionType", "GZIP")
    for channel in job.get("InputDataConfig") or []:
        channel.setdefault("CompressionType", "None")
        channel.setdefault("RecordWrapperType", "None")
        source = channel.get("DataSource", {}).get("S3DataSource")
        if source is not None:
            source.setdefault("S3DataDistributionType", "FullyReplicated")
    job.setdefault("ResourceConfig", {}).setdefault("VolumeSizeInGB", 30)
    job.setdefault("AlgorithmSpecification", {}).setdefault("EnableSageMakerMetricsTimeSeries", False)
    for key in (
        "VpcConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "TensorBoardOutputConfig",
        "ExperimentConfig",
        "CheckpointConfig",
    ):
        if job.get(key) in ({}, [], None):
            job.pop(key, None)
    if job.get("FailureReason") is not None:
        job["FailureReason"] = job["FailureReason"][:1024]
    return job


class EmulatorSageMakerBackend(TransformJobsMixin, SageMakerModelBackend):
    """moto's SageMaker backend plus SageMaker's validations, job/endpoint lifecycles and served models."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.training_runs: dict[str, TrainingRun] = {}
        self.tuning_runs: dict[str, TuningRun] = {}
        # endpoint -> {variant name: the model it serves}
        self.served_models: dict[str, dict[str, ic_algorithm.StandInModel]] = {}
        self._endpoint_generation: dict[str, int] = {}
        # endpoint -> instances it holds per type (what counts against "<type> for endpoint usage")
        self._endpoint_instances: dict[str, Counter] = {}
        # endpoint -> (share of traffic on the new fleet, its models) while a blue/green update shifts traffic
        self._canary: dict[str, tuple[float, dict[str, ic_algorithm.StandInModel], str]] = {}
        self._deployments: dict[str, dict[str, Any]] = {}  # endpoint -> LastDeploymentConfig / pending summary
        # endpoint config -> injected behaviour of its models {"latency_ms", "error_rate"} (control API)
        self.config_behaviour: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        for run in [*getattr(self, "tuning_runs", {}).values(), *getattr(self, "training_runs", {}).values()]:
            run.cancel()
        self.cancel_transform_runs()
        super().reset()

    # -- training jobs -------------------------------------------------------------------------------------
    def create_training_job(self, training_job_name: str, **kwargs: Any) -> FakeTrainingJob:  # type: ignore[override]
        tuning_job_arn = kwargs.pop("tuning_job_arn", None)  # set when a tuning job launches it
        self._validate_training_request(training_job_name, kwargs)
        with self._lock:
            if training_job_name in self.training_jobs:
                raise self._duplicate_job(training_job_name)
            self._check_training_quota(kwargs)
            request = {"AlgorithmSpecification": dict(kwargs["algorithm_specification"] or {})}
            job = super().create_training_job(training_job_name=training_job_name, **kwargs)
            prepare_job(job, request)
            job.tuning_job_arn = tuning_job_arn
            run = TrainingRun(job, self.account_id, self.region_name)
            self.training_runs[training_job_name] = run
        run.start()
        return job

    def _duplicate_job(self, name: str) -> ResourceInUseException:
        arn = FakeTrainingJob.arn_formatter(name, self.account_id, self.region_name)
        return ResourceInUseException(
            message="Training job names must be unique within an AWS account and region, and a training job with "
            f"this name already exists ({arn})"
        )

    def describe_training_job(self, training_job_name: str) -> dict[str, Any]:
        description = _complete_training_description(super().describe_training_job(training_job_name))
        tuning_job_arn = getattr(self.training_jobs[training_job_name], "tuning_job_arn", None)
        if tuning_job_arn:
            description["TuningJobArn"] = tuning_job_arn
        return description

    # -- hyperparameter tuning jobs (aws_emulator/sagemaker/tuning.py runs them) ------------------------------
    def create_tuning_job(self, request: dict[str, Any]) -> TuningJob:
        """Checked like SageMaker at create time: one definition, valid ranges, the trials' training request, and
        MaxParallelTrainingJobs x InstanceCount within the training quota."""
        name = request["HyperParameterTuningJobName"]
        definition = request.get("TrainingJobDefinition")
        if not definition or request.get("TrainingJobDefinitions"):
            raise ValidationError(
                message="The emulator runs tuning jobs with exactly one TrainingJobDefinition (no "
                "TrainingJobDefinitions)."
            )
        config = request["HyperParameterTuningJobConfig"]
        if request.get("WarmStartConfig") or request.get("Autotune"):
            raise ValidationError(message="The emulator does not run warm-start or Autotune tuning jobs.")
        validate_ranges(config.get("ParameterRanges") or {}, definition.get("StaticHyperParameters") or {})
        resources = definition.get("HyperParameterTuningResourceConfig") or definition.get("ResourceConfig")
        if not resources or not resources.get("InstanceType"):
            raise ValidationError(
                message="TrainingJobDefinition needs ResourceConfig or HyperParameterTuningResourceConfig."
            )
        trial_request = {
            "stopping_condition": definition.get("StoppingCondition"),
            "enable_managed_spot_training": definition.get("EnableManagedSpotTraining"),
            "algorithm_specification": definition.get("AlgorithmSpecification"),
            "resource_config": resources,
            "checkpoint_config": definition.get("CheckpointConfig"),
            "output_data_config": definition.get("OutputDataConfig"),
            "input_data_config": definition.get("InputDataConfig"),
            "role_arn": definition.get("RoleArn"),
        }
        self._validate_training_request(name, trial_request)
        parallel = int(config["ResourceLimits"]["MaxParallelTrainingJobs"])
        count = int(resources.get("InstanceCount", 1))
        settings = SETTINGS.snapshot()
        limit = quota_value(TUNING_PARALLEL_JOBS, settings)
        if parallel > limit:  # AWS: 10 parallel training jobs per tuning job by default (increasable to 100)
            raise ResourceLimitExceeded(
                f"The account-level service limit '{TUNING_PARALLEL_JOBS}' is {limit:g}, and the request asks for "
                f"MaxParallelTrainingJobs={parallel}. Please use AWS Service Quotas to request an increase for this "
                "quota."
            )
        spot = bool(definition.get("EnableManagedSpotTraining"))
        quotas = (training_quota_name(resources["InstanceType"], spot=spot), ALL_TRAINING_INSTANCES, TUNING_INSTANCES)
        for quota in quotas:
            limit = quota_value(quota, settings)
            if parallel * count > limit:
                raise quota_exceeded(quota, limit, 0, parallel * count)
        with self._lock:
            if name in self.tuning_runs:
                raise ResourceInUseException(
                    message=f"Resource Already Exists: Hyper Parameter Tuning Job with name {name} already exists. "
                    "Choose a different name."
                )
            job = TuningJob(name, request, self.account_id, self.region_name)
            run = TuningRun(self, job)
            self.tuning_runs[name] = run
        run.start()
        return job

    def _tuning_job(self, name: str) -> TuningJob:
        run = self.tuning_runs.get(name)
        if run is None:
            raise ValidationError(message=f"Amazon SageMaker can't find a tuning job with name {name}")
        return run.job

    def _trial_summary(self, tuning: TuningJob, name: str, tuned: dict[str, str]) -> dict[str, Any]:
        job = self.training_jobs[name]
        objective = tuning.config.get("HyperParameterTuningJobObjective") or {}
        metric = next(
            (m for m in job.final_metric_data_list or [] if m["MetricName"] == objective.get("MetricName")), None
        )
        status = job.training_job_status
        summary: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": job.arn,
            "TuningJobName": tuning.name,
            "CreationTime": job.creation_time,
            "TrainingJobStatus": status,
            "TunedHyperParameters": dict(tuned),
            "ObjectiveStatus": "Pending"
            if status in ("InProgress", "Stopping")
            else "Succeeded"
            if metric
            else "Failed",
        }
        if job.training_start_time is not None:
            summary["TrainingStartTime"] = job.training_start_time
        if job.training_end_time is not None:
            summary["TrainingEndTime"] = job.training_end_time
        if job.failure_reason:
            summary["FailureReason"] = job.failure_reason
        if metric is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": objective.get("Type", "Maximize"),
                "MetricName": metric["MetricName"],
                "Value": float(metric["Value"]),
            }
        return summary

    def _trial_summaries(self, tuning: TuningJob) -> list[dict[str, Any]]:
        return [self._trial_summary(tuning, name, tuned) for name, tuned in list(tuning.trials)]

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        tuning = self._tuning_job(name)
        summaries = self._trial_summaries(tuning)
        statuses = Counter(s["TrainingJobStatus"] for s in summaries)
        objectives = Counter(s["ObjectiveStatus"] for s in summaries)
        response: dict[str, Any] = {
            "HyperParameterTuningJobName": tuning.name,
            "HyperParameterTuningJobArn": tuning.arn,
            "HyperParameterTuningJobConfig": tuning.config,
            "TrainingJobDefinition": tuning.definition,
            "HyperParameterTuningJobStatus": tuning.status,
            "CreationTime": tuning.creation_time,
            "LastModifiedTime": tuning.last_modified_time,
            "TrainingJobStatusCounters": {
                "Completed": statuses["Completed"],
                "InProgress": statuses["InProgress"] + statuses["Stopping"],
                "RetryableError": 0,
                "NonRetryableError": statuses["Failed"],
                "Stopped": statuses["Stopped"],
            },
            "ObjectiveStatusCounters": {key: objectives[key] for key in ("Succeeded", "Pending", "Failed")},
        }
        scored = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        if scored:
            maximize = (tuning.config.get("HyperParameterTuningJobObjective") or {}).get("Type") != "Minimize"
            value = lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]  # noqa: E731
            best = max(scored, key=value) if maximize else min(scored, key=value)
            response["BestTrainingJob"] = best
        if tuning.end_time is not None:
            response["HyperParameterTuningEndTime"] = tuning.end_time
        if tuning.failure_reason:
            response["FailureReason"] = tuning.failure_reason
        return response

    def list_training_jobs_for_tuning_job(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Sorted (Name, CreationTime, Status, FinalObjectiveMetricValue), filtered, paged (default 10 a page)."""
        summaries = self._trial_summaries(self._tuning_job(name))
        if params.get("StatusEquals"):
            summaries = [s for s in summaries if s["TrainingJobStatus"] == params["StatusEquals"]]
        sort_by = params.get("SortBy") or "Name"
        descending = params.get("SortOrder") == "Descending"
        if sort_by == "FinalObjectiveMetricValue":
            scored = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
            rest = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" not in s]
            scored.sort(key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"], reverse=descending)
            summaries = scored + rest  # jobs without an objective value come last, either way
        else:
            key = {"Name": "TrainingJobName", "CreationTime": "CreationTime", "Status": "TrainingJobStatus"}[sort_by]
            summaries.sort(key=lambda s: s[key], reverse=descending)
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxResults") or 10)
        page: dict[str, Any] = {"TrainingJobSummaries": summaries[start : start + size]}
        if start + size < len(summaries):
            page["NextToken"] = str(start + size)
        return page

    def list_tuning_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        """ListHyperParameterTuningJobs over the emulator's tuning jobs (StatusEquals, NameContains; newest first;
        paged, default 10)."""
        summaries = []
        for run in sorted(self.tuning_runs.values(), key=lambda r: r.job.creation_time, reverse=True):
            full = self.describe_tuning_job(run.job.name)
            if params.get("StatusEquals") and full["HyperParameterTuningJobStatus"] != params["StatusEquals"]:
                continue
            if params.get("NameContains") and params["NameContains"] not in run.job.name:
                continue
            summary = {
                key: full[key]
                for key in (
                    "HyperParameterTuningJobName",
                    "HyperParameterTuningJobArn",
                    "HyperParameterTuningJobStatus",
                    "CreationTime",
                    "HyperParameterTuningEndTime",
                    "LastModifiedTime",
                    "TrainingJobStatusCounters",
                    "ObjectiveStatusCounters",
                )
                if key in full
            }
            summary["Strategy"] = run.job.config["Strategy"]
            summary["ResourceLimits"] = run.job.config["ResourceLimits"]
            summaries.append(summary)
        start, size = int(params.get("NextToken") or 0), int(params.get("MaxResults") or 10)
        page: dict[str, Any] = {"HyperParameterTuningJobSummaries": summaries[start : start + size]}
        if start + size < len(summaries):
            page["NextToken"] = str(start + size)
        return page

    def stop_tuning_job(self, name: str) -> None:
        tuning = self._tuning_job(name)
        if tuning.status != "InProgress":
            raise ValidationError(
                message=f"The hyperparameter tuning job {name} is in status {tuning.status} and cannot be stopped."
            )
        tuning.status = "Stopping"
        self.tuning_runs[name].request_stop()

    # -- quotas (ResourceLimitExceeded; in use = running training jobs and endpoints' instances) --------------
    def _training_in_use(self) -> tuple[Counter, Counter]:
        """(on-demand, spot) instances per type held by jobs that have not ended."""
        on_demand: Counter = Counter()
        spot: Counter = Counter()
        for job in self.training_jobs.values():
            if job.training_job_status in TERMINAL_TRAINING:
                continue
            counter = spot if job.enable_managed_spot_training else on_demand
            counter[job.resource_config.get("InstanceType")] += int(job.resource_config.get("InstanceCount", 1))
        return on_demand, spot

    def _check_training_quota(self, req: dict[str, Any]) -> None:
        resources = req.get("resource_config") or {}
        instance_type, count = resources.get("InstanceType"), int(resources.get("InstanceCount", 1))
        spot = bool(req.get("enable_managed_spot_training"))
        on_demand, spot_in_use = self._training_in_use()
        settings = SETTINGS.snapshot()
        name = training_quota_name(instance_type, spot=spot)
        in_use = (spot_in_use if spot else on_demand)[instance_type]
        limit = quota_value(name, settings)
        if in_use + count > limit:
            raise quota_exceeded(name, limit, in_use, count)
        total = sum(on_demand.values()) + sum(spot_in_use.values())
        limit = quota_value(ALL_TRAINING_INSTANCES, settings)
        if total + count > limit:
            raise quota_exceeded(ALL_TRAINING_INSTANCES, limit, total, count)

    def _config_instances(self, config_name: str) -> Counter:
        return _instances(self.endpoint_configs[config_name].production_variants)

    def _endpoints_in_use(self) -> Counter:
        in_use: Counter = Counter()
        for held in self._endpoint_instances.values():
            in_use.update(held)
        return in_use

    def _check_endpoint_quota(self, requested: Counter) -> None:
        in_use = self._endpoints_in_use()
        settings = SETTINGS.snapshot()
        for instance_type, count in sorted(requested.items()):
            name = endpoint_quota_name(instance_type)
            limit = quota_value(name, settings)
            if in_use[instance_type] + count > limit:
                raise quota_exceeded(name, limit, in_use[instance_type], count)

    def _validate_training_request(self, name: str, req: dict[str, Any]) -> None:
        stopping = req.get("stopping_condition") or {}
        max_runtime = stopping.get("MaxRuntimeInSeconds")
        max_wait = stopping.get("MaxWaitTimeInSeconds")
        spot = bool(req.get("enable_managed_spot_training"))
        if spot and max_wait is None:
            raise ValidationError(
                message="Invalid MaxWaitTimeInSeconds. It is required for managed spot training "
                "(EnableManagedSpotTraining=true)."
            )
        if max_wait is not None and not spot:
            raise ValidationError(
                message="Invalid MaxWaitTimeInSeconds. It can be set only when EnableManagedSpotTraining is true."
            )
        if max_wait is not None and max_runtime is not None and int(max_wait) < int(max_runtime):
            raise ValidationError(
                message=f"Invalid MaxWaitTimeInSeconds ({max_wait}). It must be present and be greater than or equal "
                f"to MaxRuntimeInSeconds ({max_runtime})."
            )
        image = (req.get("algorithm_specification") or {}).get("TrainingImage", "")
        instance_type = (req.get("resource_config") or {}).get("InstanceType", "")
        self._require_region_image(image)
        if is_image_classification(image) and not is_real_ic_image(image, self.region_name):
            # AWS cannot pull an image that is not the region's published one; the job never starts.
            raise ValidationError(
                message=f"Requested image {image} not found or not accessible: the built-in {IC_REPOSITORY} "
                f"algorithm's image in {self.region_name} is {expected_ic_image(self.region_name)}."
            )
        if is_image_classification(image) and not is_ic_training_instance(instance_type):
            raise ValidationError(
                message=f"Instance type {instance_type} is not supported by algorithm {IC_REPOSITORY}; only GPU "
                "instances are supported (ml.p2, ml.p3, ml.g4dn, ml.g5)."
            )
        checkpoint = (req.get("checkpoint_config") or {}).get("S3Uri")
        if checkpoint is not None:
            self._require_s3_uri(checkpoint, "CheckpointConfig.S3Uri")
        self._require_s3_uri(
            (req.get("output_data_config") or {}).get("S3OutputPath", ""), "OutputDataConfig.S3OutputPath"
        )
        s3 = S3Store(self.account_id, self.region_name)
        for channel in req.get("input_data_config") or []:
            uri = channel.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "")
            self._require_s3_uri(uri, f"InputDataConfig[{channel.get('ChannelName')}].S3Uri")
            bucket, _ = split_s3_uri(uri)
            if not s3.keys_under(uri):
                raise ValidationError(
                    message=f'No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that '
                    f"the bucket exists in the selected region ({self.region_name}), that objects exist under "
                    f'that S3 prefix, and that the role {req.get("role_arn")} has "s3:ListBucket" '
                    f'permissions on bucket "{bucket}".'
                )

    def _require_region_image(self, image: str) -> None:
        """SageMaker pulls images from the request's region only (aws/sagemaker-pytorch-inference-toolkit#7)."""
        region = image_region(image)
        if region is not None and region != self.region_name:
            raise ValidationError(
                message=f"Image {image} is in region {region}, but this request is in {self.region_name}: "
                "cross region ECR image pulls are not allowed. Use the image from "
                f"{self.region_name}'s registry."
            )

    @staticmethod
    def _require_s3_uri(uri: str, field: str) -> None:
        try:
            split_s3_uri(uri)
        except ValueError:
            raise ValidationError(message=f"{field} must be an s3:// URI; got {uri!r}.") from None

    def stop_training_job(self, training_job_name: str) -> None:
        job = self.training_jobs.get(training_job_name)
        if job is None:
            arn = FakeTrainingJob.arn_formatter(training_job_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find training job '{arn}'.")
        if job.training_job_status in TERMINAL_TRAINING:
            raise ValidationError(
                message=f"The training job {training_job_name} is in status {job.training_job_status} and cannot be "
                "stopped."
            )
        job.training_job_status = "Stopping"
        self.training_runs[training_job_name].request_stop()

    # -- models and endpoint configs: reject duplicates instead of overwriting ------------------------------
    def create_model(self, model_name: str, enable_network_isolation: bool = False, **kwargs: Any):  # type: ignore[override]
        if model_name in self._models:
            arn = arn_formatter("model", model_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Cannot create already existing model "{arn}".')
        containers = [kwargs.get("primary_container") or {}] + list(kwargs.get("containers") or [])
        s3 = S3Store(self.account_id, self.region_name)
        for container in containers:
            if container.get("Image"):
                self._require_region_image(container["Image"])
            data_url = container.get("ModelDataUrl")
            if data_url and not s3.object_exists(data_url):
                raise ValidationError(message=f"Could not find model data at {data_url}.")
        model = super().create_model(model_name=model_name, **kwargs)
        model.enable_network_isolation = bool(enable_network_isolation)
        return model

    def create_endpoint_config(self, endpoint_config_name: str, **kwargs: Any) -> FakeEndpointConfig:  # type: ignore[override]
        if endpoint_config_name in self.endpoint_configs:
            arn = FakeEndpointConfig.arn_formatter(endpoint_config_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Cannot create already existing endpoint configuration "{arn}".')
        variants = kwargs["production_variants"]
        self.validate_production_variants(variants)
        config = EmulatorEndpointConfig(
            account_id=self.account_id,
            region_name=self.region_name,
            endpoint_config_name=endpoint_config_name,
            production_variants=variants,
            async_inference_config=kwargs.get("async_inference_config"),
            data_capture_config=kwargs.get("data_capture_config"),
            tags=kwargs.get("tags"),
            kms_key_id=kwargs.get("kms_key_id"),
        )
        self.endpoint_configs[endpoint_config_name] = config
        return config

    # -- endpoints -----------------------------------------------------------------------------------------
    def create_endpoint(
        self, endpoint_name: str, endpoint_config_name: str, tags: list[dict[str, str]]
    ) -> FakeEndpoint:
        if endpoint_name in self.endpoints:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
        if endpoint_config_name in self.endpoint_configs:
            self._check_endpoint_quota(self._config_instances(endpoint_config_name))
        endpoint = super().create_endpoint(endpoint_name, endpoint_config_name, tags)
        endpoint.production_variants = endpoint_variants(
            self.endpoint_configs[endpoint_config_name].production_variants
        )
        self._endpoint_instances[endpoint_name] = self._config_instances(endpoint_config_name)
        endpoint.endpoint_status = "Creating"
        self._start_endpoint_change(endpoint, endpoint_config_name, SETTINGS.snapshot().endpoint_create_seconds)
        return endpoint

    def describe_endpoint(self, endpoint_name: str) -> dict[str, Any]:
        """As AWS: DataCaptureConfig as its summary (status, current percentage), LastDeploymentConfig after a
        guarded update, PendingDeploymentSummary while one runs."""
        response = without_empty(super().describe_endpoint(endpoint_name), "DataCaptureConfig")
        capture = response.pop("DataCaptureConfig", None)
        if capture:
            summary = {
                "EnableCapture": bool(capture.get("EnableCapture", False)),
                "CaptureStatus": "Started" if capture.get("EnableCapture") else "Stopped",
                "CurrentSamplingPercentage": int(capture.get("InitialSamplingPercentage", 0)),
                "DestinationS3Uri": capture.get("DestinationS3Uri", ""),
            }
            if capture.get("KmsKeyId"):
                summary["KmsKeyId"] = capture["KmsKeyId"]
            response["DataCaptureConfig"] = summary
        state = self._deployments.get(endpoint_name) or {}
        if state.get("last"):
            response["LastDeploymentConfig"] = copy.deepcopy(state["last"])
        if state.get("pending"):
            response["PendingDeploymentSummary"] = copy.deepcopy(state["pending"])
        return response

    def update_endpoint(
        self, endpoint_name: str, endpoint_config_name: str, deployment_config: dict[str, Any] | None = None
    ) -> FakeEndpoint:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        self.describe_endpoint_config(endpoint_config_name)  # raises when unknown
        if endpoint.endpoint_status != "InService":
            raise ValidationError(
                message=f'Cannot update in-progress endpoint "{endpoint.arn}" (status {endpoint.endpoint_status}).'
            )
        # The new fleet comes up beside the old one before traffic shifts: both count while Updating.
        requested = self._config_instances(endpoint_config_name)
        plan = None
        if deployment_config and deployment_config.get("RollingUpdatePolicy"):
            raise ValidationError(message="The emulator supports BlueGreenUpdatePolicy only, not RollingUpdatePolicy.")
        if deployment_config and deployment_config.get("BlueGreenUpdatePolicy"):
            plan = deployment.traffic_plan(deployment_config, sum(requested.values()))
            deployment.require_alarms(self.account_id, self.region_name, plan.alarms)
        self._check_endpoint_quota(requested)
        self._endpoint_instances[endpoint_name] = self._endpoint_instances.get(endpoint_name, Counter()) + requested
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = utcnow()
        if plan is None:
            self._start_endpoint_change(endpoint, endpoint_config_name, SETTINGS.snapshot().endpoint_update_seconds)
        else:
            self._deployments[endpoint_name] = {
                "last": copy.deepcopy(deployment_config),
                "pending": self._pending_summary(endpoint_config_name, 0.0, "Creating"),
            }
            self._start_blue_green(endpoint, endpoint_config_name, plan)
        return endpoint

    def _pending_summary(self, config_name: str, share: float, status: str) -> dict[str, Any]:
        variants = []
        for variant in self.endpoint_configs[config_name].production_variants:
            count = int(variant.get("InitialInstanceCount", 1))
            variants.append(
                {
                    "VariantName": variant["VariantName"],
                    "CurrentInstanceCount": count,
                    "DesiredInstanceCount": count,
                    "InstanceType": variant.get("InstanceType"),
                    "CurrentWeight": float(variant.get("InitialVariantWeight", 1.0)) * share,
                    "DesiredWeight": float(variant.get("InitialVariantWeight", 1.0)),
                    "VariantStatus": [{"Status": status, "StartTime": utcnow()}],
                }
            )
        return {"EndpointConfigName": config_name, "ProductionVariants": variants, "StartTime": utcnow()}

    def _start_blue_green(self, endpoint: FakeEndpoint, config_name: str, plan: deployment.TrafficPlan) -> None:
        """Provision the new fleet, shift traffic step by step with bakes, watch the alarms, finish or roll back."""
        name = endpoint.endpoint_name
        generation = self._endpoint_generation.get(name, 0) + 1
        self._endpoint_generation[name] = generation
        old_config = endpoint.endpoint_config_name

        def cancelled() -> bool:
            return self._endpoint_generation.get(name) != generation or self.endpoints.get(name) is not endpoint

        started = utcnow()

        def watch() -> list[str]:
            # the alarms judged on the AWS/SageMaker metrics published since the deployment began
            endpoint_metrics.breaching(self.account_id, self.region_name, plan.alarms, started)
            return deployment.alarms_in_alarm(self.account_id, self.region_name, plan.alarms)

        def roll_back(reason: str) -> None:
            self._canary.pop(name, None)
            if old_config in self.endpoint_configs:
                self._endpoint_instances[name] = self._config_instances(old_config)
            endpoint.failure_reason = reason[:1024]
            self._deployments[name]["pending"] = None
            endpoint.endpoint_status = "InService"
            endpoint.last_modified_time = utcnow()

        def run() -> None:
            threading.Event().wait(SETTINGS.snapshot().endpoint_update_seconds)
            if cancelled():
                return
            models, reason = self._serve_or_reason(config_name)
            if models is None:
                roll_back(reason)
                return
            deployment.trip_injected_alarm(self.account_id, self.region_name, plan.alarms)
            waits = [(share, seconds, "Baking") for share, seconds in zip(plan.shares, plan.bakes, strict=True)]
            waits.append((1.0, plan.termination_wait, "Baking"))
            for share, seconds, status in waits:
                self._canary[name] = (share, models, config_name)
                self._deployments[name]["pending"] = self._pending_summary(config_name, share, status)
                fired = deployment.bake(seconds, watch, cancelled)
                if cancelled():
                    return
                if fired:
                    roll_back(
                        f"Deployment of endpoint config {config_name} was rolled back: CloudWatch alarm(s) "
                        f"{', '.join(fired)} went into ALARM during the deployment (at {share:.0%} of traffic on "
                        f"the new fleet); the endpoint serves its previous config {old_config}."
                    )
                    return
            config = self.endpoint_configs[config_name]
            self._canary.pop(name, None)
            endpoint.endpoint_config_name = config_name
            endpoint.production_variants = endpoint_variants(config.production_variants)
            endpoint.data_capture_config = config.data_capture_config
            self._endpoint_instances[name] = self._config_instances(config_name)
            endpoint.failure_reason = None
            self.served_models[name] = models
            self._deployments[name]["pending"] = None
            endpoint.endpoint_status = "InService"
            endpoint.last_modified_time = utcnow()

        threading.Thread(target=run, name=f"endpoint-deploy-{name}", daemon=True).start()

    def begin_system_update(self, endpoint_name: str, seconds: float) -> dict[str, Any]:
        """SageMaker's own maintenance (fault injection): an InService endpoint is ``SystemUpdating`` for
        ``seconds`` emulated seconds, serving meanwhile but refusing UpdateEndpoint and DeleteEndpoint, then
        InService again. Nothing the customer set changes (botocore's EndpointStatus)."""
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None or endpoint.endpoint_status != "InService":
            raise ValueError(f"endpoint {endpoint_name!r} is not InService: only an InService endpoint is maintained")
        generation = self._endpoint_generation.get(endpoint_name, 0) + 1
        self._endpoint_generation[endpoint_name] = generation
        endpoint.endpoint_status = "SystemUpdating"
        endpoint.last_modified_time = utcnow()
        real = seconds / max(SETTINGS.snapshot().time_scale, 1e-6)

        def finish() -> None:
            threading.Event().wait(real)
            if self._endpoint_generation.get(endpoint_name) == generation and endpoint.endpoint_status == (
                "SystemUpdating"
            ):
                endpoint.endpoint_status = "InService"
                endpoint.last_modified_time = utcnow()

        threading.Thread(target=finish, name=f"endpoint-maintenance-{endpoint_name}", daemon=True).start()
        return {"endpoint": endpoint_name, "status": "SystemUpdating", "seconds": seconds}

    def set_config_behaviour(self, config_name: str, *, latency_ms: float, error_rate: float) -> dict[str, Any]:
        """The models of ``config_name`` answer slower / fail a share of requests (control API): a bad new model,
        as the rollback alarms see it in AWS/SageMaker metrics."""
        if not 0.0 <= error_rate <= 1.0 or latency_ms < 0:
            raise ValueError("error_rate must be 0-1 and latency_ms >= 0")
        self.config_behaviour[config_name] = {"latency_ms": latency_ms, "error_rate": error_rate}
        return {"endpoint_config": config_name, **self.config_behaviour[config_name]}

    def delete_endpoint(self, endpoint_name: str) -> None:
        """Refused while the endpoint is in transition (aws/amazon-sagemaker-examples#3432: one stuck in Creating
        cannot be deleted until it is InService or Failed); else Deleting for a moment, then gone."""
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            return super().delete_endpoint(endpoint_name)  # moto's "Could not find endpoint"
        if endpoint.endpoint_status in IN_TRANSITION:
            raise ValidationError(
                message=f'Cannot delete endpoint "{endpoint.arn}" while its status is {endpoint.endpoint_status}; '
                "wait until it is InService or Failed."
            )
        self.served_models.pop(endpoint_name, None)
        self._canary.pop(endpoint_name, None)
        self._deployments.pop(endpoint_name, None)
        generation = self._endpoint_generation.get(endpoint_name, 0) + 1
        self._endpoint_generation[endpoint_name] = generation
        endpoint.endpoint_status = "Deleting"
        endpoint.last_modified_time = utcnow()
        delay = SETTINGS.snapshot().endpoint_delete_seconds

        def remove() -> None:
            threading.Event().wait(delay)
            if (
                self.endpoints.get(endpoint_name) is endpoint
                and self._endpoint_generation.get(endpoint_name) == generation
            ):
                del self.endpoints[endpoint_name]
                self._endpoint_instances.pop(endpoint_name, None)

        threading.Thread(target=remove, name=f"endpoint-delete-{endpoint_name}", daemon=True).start()

    # -- model registry: what moto leaves out ---------------------------------------------------------------
    def create_model_package_group(self, model_package_group_name: str, **kwargs: Any) -> str:  # type: ignore[override]
        """AWS refuses a second group of the same name (moto replaced the first, and its packages' group)."""
        existing = self.model_package_groups.get(model_package_group_name)
        if existing is not None:
            raise ValidationError(message=f"Model Package Group already exists: {existing.arn}")
        return super().create_model_package_group(model_package_group_name, **kwargs)

    def create_model_package(self, **kwargs: Any) -> str:  # type: ignore[override]
        """As SageMaker validates a package: no Tags on a version (botocore's CreateModelPackage.Tags: with
        ``ModelPackageGroupName`` "you cannot supply a tag argument"; AWS's wording from aws/aws-cdk#33699), the
        images in this region, every ModelDataUrl an existing object."""
        if kwargs.get("model_package_group_name") and kwargs.get("tags"):
            raise ValidationError(
                message="Tags are not supported in Model Package versions. Please add them to the Model Package Group"
            )
        s3 = S3Store(self.account_id, self.region_name)
        for container in (kwargs.get("inference_specification") or {}).get("Containers", []):
            self._require_region_image(container["Image"])
            data_url = container.get("ModelDataUrl")
            if data_url and not s3.object_exists(data_url):
                raise ValidationError(message=f"Could not find model data at {data_url}.")
        arn = super().create_model_package(**kwargs)
        self.model_packages[arn].tags = self.model_packages[arn].tags or []  # ListTags of an untagged one: []
        return arn

    def update_model_package(  # type: ignore[override]
        self,
        model_package_arn: str,
        model_approval_status: str | None,
        approval_description: str | None,
        customer_metadata_properties: dict[str, str] | None,
        customer_metadata_properties_to_remove: list[str],
        additional_inference_specifications_to_add: list[Any] | None,
    ) -> str:
        """AWS changes only what the request names; moto also erased the package's CustomerMetadataProperties
        and ApprovalDescription whenever they were left out (an approval lost the package's provenance)."""
        package = self.describe_model_package(model_package_arn)
        kept_metadata = dict(package.customer_metadata_properties or {})
        kept_description = package.approval_description
        arn = super().update_model_package(
            model_package_arn,
            model_approval_status or package.model_approval_status,
            approval_description,
            customer_metadata_properties,
            customer_metadata_properties_to_remove,
            additional_inference_specifications_to_add,
        )
        merged = {**kept_metadata, **(customer_metadata_properties or {})}
        for key in customer_metadata_properties_to_remove or []:
            merged.pop(key, None)
        package.customer_metadata_properties = merged or None
        package.approval_description = approval_description if approval_description is not None else kept_description
        return arn

    # -- tags ----------------------------------------------------------------------------------------------
    def _get_resource_from_arn(self, arn: str) -> Any:
        if ":model-package/" in arn:  # name/version: moto's one-slash split cannot read it
            package = self.model_packages.get(arn)
            if package is None:
                raise ValidationError(message=f"Could not find resource with ARN {arn!r}.")
            return package
        if ":hyper-parameter-tuning-job/" in arn:  # the emulator's own tuning jobs, not moto's (tuning.py)
            run = self.tuning_runs.get(arn.rsplit("/", 1)[-1])
            if run is None or run.job.arn != arn:
                raise ValidationError(message=f"Could not find resource with ARN {arn!r}.")
            return run.job
        try:
            resource = super()._get_resource_from_arn(arn)
        except (AttributeError, ValueError):
            resource = None
        if resource is None:  # moto crashes on it (HTTP 500); AWS answers a ValidationException
            raise ValidationError(message=f"Could not find resource with ARN {arn!r}.")
        return resource

    def add_tags(self, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        """AWS overwrites the value of a key that exists; moto appends a second tag with the same key."""
        resource = self._get_resource_from_arn(arn)
        new = {tag["Key"]: tag for tag in tags}
        resource.tags = [new.pop(tag["Key"], tag) for tag in resource.tags] + list(new.values())
        return resource.tags

    def _start_endpoint_change(self, endpoint: FakeEndpoint, config_name: str, delay: float) -> None:
        name = endpoint.endpoint_name
        generation = self._endpoint_generation.get(name, 0) + 1
        self._endpoint_generation[name] = generation
        creating = endpoint.endpoint_status == "Creating"

        def settle() -> None:
            threading.Event().wait(delay)
            if self._endpoint_generation.get(name) != generation or self.endpoints.get(name) is not endpoint:
                return  # deleted or superseded meanwhile
            models, reason = self._serve_or_reason(config_name)
            if models is None:
                endpoint.failure_reason = reason[:1024]
                endpoint.endpoint_status = "Failed" if creating else "InService"
                if creating:  # a failed endpoint holds no instances
                    self._endpoint_instances.pop(name, None)
                elif endpoint.endpoint_config_name in self.endpoint_configs:  # rolled back to the old fleet
                    self._endpoint_instances[name] = self._config_instances(endpoint.endpoint_config_name)
            else:
                config = self.endpoint_configs[config_name]
                endpoint.endpoint_config_name = config_name
                endpoint.production_variants = endpoint_variants(config.production_variants)
                endpoint.data_capture_config = config.data_capture_config
                self._endpoint_instances[name] = self._config_instances(config_name)
                endpoint.failure_reason = None
                self.served_models[name] = models
                endpoint.endpoint_status = "InService"
            endpoint.last_modified_time = utcnow()

        threading.Thread(target=settle, name=f"endpoint-{name}", daemon=True).start()

    def _serve_or_reason(self, config_name: str) -> tuple[Any, str]:
        """The config's loaded models, or None and why they cannot serve (an injected failure, a bad artifact)."""
        try:
            injected = SETTINGS.take_endpoint_failure()
            if injected is not None:
                raise ic_algorithm.AlgorithmError(injected)
            return self._load_models_for(config_name), ""
        except (ic_algorithm.AlgorithmError, ValidationError, KeyError, ValueError) as err:
            return None, str(getattr(err, "message", None) or err)

    def _load_models_for(self, config_name: str) -> dict[str, ic_algorithm.StandInModel]:
        """Every production variant's model, loaded as its container would at startup (bad artifact: Failed)."""
        config = self.endpoint_configs[config_name]
        return {variant["VariantName"]: self._load_variant(variant) for variant in config.production_variants}

    def _load_variant(self, variant: dict[str, Any]) -> ic_algorithm.StandInModel:
        model = self.describe_model(variant["ModelName"])
        container = model.primary_container or (model.containers[0] if model.containers else {})
        image = container.get("Image", "")
        if not is_image_classification(image):
            raise ic_algorithm.AlgorithmError(
                f"The primary container for production variant {variant.get('VariantName')} did not pass the ping "
                f"health check: the local emulator serves only the image-classification stand-in, not {image!r}."
            )
        data_url = container.get("ModelDataUrl")
        if not data_url:
            raise ic_algorithm.AlgorithmError("Model has no ModelDataUrl: nothing to serve.")
        try:
            artifact = S3Store(self.account_id, self.region_name).read(data_url)
        except KeyError:
            raise ic_algorithm.AlgorithmError(
                f"Failed to download model data from {data_url}: the object does not exist."
            ) from None
        return ic_algorithm.load_model(artifact)

    def capture(self, endpoint_name: str, variant: str, content_type: str, body: bytes, output: str) -> str | None:
        """Data capture: a sampled request and its answer as one JSON line, in SageMaker's capture format, under
        ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/`` (AWS batches lines per file; one per request
        here). Returns the object's URI, or None when capture is off or this request was not sampled."""
        endpoint = self.endpoints.get(endpoint_name)
        capture = (endpoint.data_capture_config if endpoint else None) or {}
        if not capture.get("EnableCapture") or random.random() * 100 >= float(
            capture.get("InitialSamplingPercentage", 0)
        ):
            return None
        modes = {o.get("CaptureMode") for o in capture.get("CaptureOptions") or []} or {"Input", "Output"}
        now = utcnow()
        event_id = uuid.uuid4().hex
        data: dict[str, Any] = {}
        if "Input" in modes:
            data["endpointInput"] = {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": base64.b64encode(body).decode(),
                "encoding": "BASE64",
            }
        if "Output" in modes:
            data["endpointOutput"] = {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": output,
                "encoding": "JSON",
            }
        record = {
            "captureData": data,
            "eventMetadata": {"eventId": event_id, "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }
        base = capture["DestinationS3Uri"].rstrip("/")
        uri = f"{base}/{endpoint_name}/{variant}/{now:%Y/%m/%d/%H}/{now:%M-%S-%f}-{event_id}.jsonl"
        try:
            S3Store(self.account_id, self.region_name).write(uri, (json.dumps(record) + "\n").encode())
        except (KeyError, ValueError, MissingBucket):
            return None  # no such bucket: AWS drops the capture too (the invocation still answers)
        return uri

    def served_model(
        self, endpoint_name: str, target_variant: str | None = None
    ) -> tuple[str, ic_algorithm.StandInModel]:
        """(variant, model) answering a request: TargetVariant when given, else the heaviest-weighted variant."""
        variant, model, _config = self.served_by(endpoint_name, target_variant)
        return variant, model

    def served_by(
        self, endpoint_name: str, target_variant: str | None = None
    ) -> tuple[str, ic_algorithm.StandInModel, str]:
        """(variant, model, the endpoint config whose fleet answers): during a blue/green update a request lands
        on the new fleet with the traffic share shifted so far, and its metrics carry that config's name."""
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None or endpoint.endpoint_status == "Deleting":
            raise RuntimeValidationError(f"Endpoint {endpoint_name} of account {self.account_id} not found.")
        models = self.served_models.get(endpoint_name)
        if endpoint.endpoint_status not in ("InService", "Updating") or not models:
            raise RuntimeValidationError(
                f"Endpoint {endpoint_name} of account {self.account_id} is not in service "
                f"(status {endpoint.endpoint_status})."
            )
        if target_variant:
            if target_variant not in models:
                raise RuntimeValidationError(
                    f"The variant {target_variant} does not exist for endpoint "
                    f"{endpoint_name}; variants: {sorted(models)}."
                )
            return target_variant, models[target_variant], endpoint.endpoint_config_name
        canary = self._canary.get(endpoint_name)
        if canary is not None and canary[1] and random.random() < canary[0]:
            models = canary[1]  # this request lands on the new fleet's share of traffic
            config_name = canary[2]
        else:
            config_name = endpoint.endpoint_config_name
        config = self.endpoint_configs.get(config_name)
        weights = {
            v["VariantName"]: float(v.get("InitialVariantWeight", 1.0))
            for v in (config.production_variants if config else [])
        }  # moto drops 0.0 weights
        chosen = max(models, key=lambda variant: weights.get(variant, 1.0))
        return chosen, models[chosen], config_name


def _instances(variants: list[dict[str, Any]]) -> Counter:
    counter: Counter = Counter()
    for variant in variants:
        if variant.get("InstanceType"):
            counter[variant["InstanceType"]] += int(variant.get("InitialInstanceCount", 1))
    return counter
