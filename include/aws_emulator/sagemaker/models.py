"""SageMaker state on the emulator: moto's backend, extended with validation and lifecycles.

moto 5.2.5 completes jobs at once, writes nothing, overwrites duplicates silently and lacks stop/update. This
subclass keeps moto's storage and describe/list/delete code and adds what SageMaker does: reject what it
rejects (before anything is created), run jobs and endpoints through their states in threads, and keep the
loaded model behind each InService endpoint for invoke_endpoint.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import (
    FakeEndpoint,
    FakeEndpointConfig,
    FakeTrainingJob,
    SageMakerModelBackend,
)
from moto.sagemaker.utils import arn_formatter

from aws_emulator import ic_algorithm
from aws_emulator.sagemaker.contract import IC_REPOSITORY, is_ic_training_instance, is_image_classification
from aws_emulator.sagemaker.training import TrainingRun, prepare_job
from aws_emulator.settings import SETTINGS
from aws_emulator.storage import S3Store, split_s3_uri

TERMINAL_TRAINING = {"Completed", "Failed", "Stopped"}


class EmulatorSageMakerBackend(SageMakerModelBackend):
    """moto's SageMaker backend plus SageMaker's validations, job/endpoint lifecycles and served models."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.training_runs: dict[str, TrainingRun] = {}
        # endpoint -> {variant name: the model it serves}
        self.served_models: dict[str, dict[str, ic_algorithm.StandInModel]] = {}
        self._endpoint_generation: dict[str, int] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        for run in getattr(self, "training_runs", {}).values():
            run.cancel()
        super().reset()

    # -- training jobs -------------------------------------------------------------------------------------
    def create_training_job(self, training_job_name: str, **kwargs: Any) -> FakeTrainingJob:  # type: ignore[override]
        self._validate_training_request(training_job_name, kwargs)
        with self._lock:
            if training_job_name in self.training_jobs:
                raise self._duplicate_job(training_job_name)
            request = {"AlgorithmSpecification": dict(kwargs["algorithm_specification"] or {})}
            job = super().create_training_job(training_job_name=training_job_name, **kwargs)
            prepare_job(job, request)
            run = TrainingRun(job, self.account_id, self.region_name)
            self.training_runs[training_job_name] = run
        run.start()
        return job

    def _duplicate_job(self, name: str) -> ValidationError:
        arn = FakeTrainingJob.arn_formatter(name, self.account_id, self.region_name)
        return ValidationError(
            message="Training job names must be unique within an AWS account and region, and a training job with "
                    f"this name already exists ({arn})")

    def _validate_training_request(self, name: str, req: dict[str, Any]) -> None:
        stopping = req.get("stopping_condition") or {}
        max_runtime = stopping.get("MaxRuntimeInSeconds")
        max_wait = stopping.get("MaxWaitTimeInSeconds")
        spot = bool(req.get("enable_managed_spot_training"))
        if spot and max_wait is None:
            raise ValidationError(message="Invalid MaxWaitTimeInSeconds. It is required for managed spot training "
                                          "(EnableManagedSpotTraining=true).")
        if max_wait is not None and not spot:
            raise ValidationError(message="Invalid MaxWaitTimeInSeconds. It can be set only when "
                                          "EnableManagedSpotTraining is true.")
        if max_wait is not None and max_runtime is not None and int(max_wait) < int(max_runtime):
            raise ValidationError(
                message=f"Invalid MaxWaitTimeInSeconds ({max_wait}). It must be present and be greater than or equal "
                        f"to MaxRuntimeInSeconds ({max_runtime}).")
        image = (req.get("algorithm_specification") or {}).get("TrainingImage", "")
        instance_type = (req.get("resource_config") or {}).get("InstanceType", "")
        if is_image_classification(image) and not is_ic_training_instance(instance_type):
            raise ValidationError(
                message=f"Instance type {instance_type} is not supported by algorithm {IC_REPOSITORY}; only GPU "
                        "instances are supported (ml.p2, ml.p3, ml.g4dn, ml.g5).")
        checkpoint = (req.get("checkpoint_config") or {}).get("S3Uri")
        if checkpoint is not None:
            self._require_s3_uri(checkpoint, "CheckpointConfig.S3Uri")
        self._require_s3_uri((req.get("output_data_config") or {}).get("S3OutputPath", ""),
                             "OutputDataConfig.S3OutputPath")
        s3 = S3Store(self.account_id, self.region_name)
        for channel in req.get("input_data_config") or []:
            uri = channel.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "")
            self._require_s3_uri(uri, f"InputDataConfig[{channel.get('ChannelName')}].S3Uri")
            bucket, _ = split_s3_uri(uri)
            if not s3.keys_under(uri):
                raise ValidationError(
                    message=f'No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that '
                            f"the bucket exists in the selected region ({self.region_name}), that objects exist under "
                            f"that S3 prefix, and that the role {req.get('role_arn')} has \"s3:ListBucket\" "
                            f'permissions on bucket "{bucket}".')

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
                        "stopped.")
        job.training_job_status = "Stopping"
        self.training_runs[training_job_name].request_stop()

    # -- models and endpoint configs: reject duplicates instead of overwriting ------------------------------
    def create_model(self, model_name: str, enable_network_isolation: bool = False, **kwargs: Any):  # type: ignore[override]
        if model_name in self._models:
            arn = arn_formatter("model", model_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Cannot create already existing model "{arn}".')
        model = super().create_model(model_name=model_name, **kwargs)
        model.enable_network_isolation = bool(enable_network_isolation)
        return model

    def create_endpoint_config(self, endpoint_config_name: str, **kwargs: Any) -> FakeEndpointConfig:  # type: ignore[override]
        if endpoint_config_name in self.endpoint_configs:
            arn = FakeEndpointConfig.arn_formatter(endpoint_config_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Cannot create already existing endpoint configuration "{arn}".')
        return super().create_endpoint_config(endpoint_config_name=endpoint_config_name, **kwargs)

    # -- endpoints -----------------------------------------------------------------------------------------
    def create_endpoint(self, endpoint_name: str, endpoint_config_name: str,
                        tags: list[dict[str, str]]) -> FakeEndpoint:
        if endpoint_name in self.endpoints:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
        endpoint = super().create_endpoint(endpoint_name, endpoint_config_name, tags)
        endpoint.endpoint_status = "Creating"
        self._start_endpoint_change(endpoint, endpoint_config_name, SETTINGS.snapshot().endpoint_create_seconds)
        return endpoint

    def update_endpoint(self, endpoint_name: str, endpoint_config_name: str) -> FakeEndpoint:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        self.describe_endpoint_config(endpoint_config_name)  # raises when unknown
        if endpoint.endpoint_status != "InService":
            raise ValidationError(
                message=f"Cannot update in-progress endpoint \"{endpoint.arn}\" (status {endpoint.endpoint_status}).")
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = utcnow()
        self._start_endpoint_change(endpoint, endpoint_config_name, SETTINGS.snapshot().endpoint_update_seconds)
        return endpoint

    def delete_endpoint(self, endpoint_name: str) -> None:
        super().delete_endpoint(endpoint_name)
        self.served_models.pop(endpoint_name, None)
        self._endpoint_generation[endpoint_name] = self._endpoint_generation.get(endpoint_name, 0) + 1

    def _start_endpoint_change(self, endpoint: FakeEndpoint, config_name: str, delay: float) -> None:
        name = endpoint.endpoint_name
        generation = self._endpoint_generation.get(name, 0) + 1
        self._endpoint_generation[name] = generation
        creating = endpoint.endpoint_status == "Creating"

        def settle() -> None:
            threading.Event().wait(delay)
            if self._endpoint_generation.get(name) != generation or self.endpoints.get(name) is not endpoint:
                return  # deleted or superseded meanwhile
            try:
                injected = SETTINGS.take_endpoint_failure()
                if injected is not None:
                    raise ic_algorithm.AlgorithmError(injected)
                models = self._load_models_for(config_name)
            except (ic_algorithm.AlgorithmError, ValidationError, KeyError, ValueError) as err:
                endpoint.failure_reason = str(getattr(err, "message", None) or err)
                endpoint.endpoint_status = "Failed" if creating else "InService"
            else:
                config = self.endpoint_configs[config_name]
                endpoint.endpoint_config_name = config_name
                endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
                endpoint.failure_reason = None
                self.served_models[name] = models
                endpoint.endpoint_status = "InService"
            endpoint.last_modified_time = utcnow()

        threading.Thread(target=settle, name=f"endpoint-{name}", daemon=True).start()

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
                f"health check: the local emulator serves only the image-classification stand-in, not {image!r}.")
        data_url = container.get("ModelDataUrl")
        if not data_url:
            raise ic_algorithm.AlgorithmError("Model has no ModelDataUrl: nothing to serve.")
        try:
            artifact = S3Store(self.account_id, self.region_name).read(data_url)
        except KeyError:
            raise ic_algorithm.AlgorithmError(
                f"Failed to download model data from {data_url}: the object does not exist.") from None
        return ic_algorithm.load_model(artifact)

    def served_model(self, endpoint_name: str,
                     target_variant: str | None = None) -> tuple[str, ic_algorithm.StandInModel]:
        """(variant, model) answering a request: TargetVariant when given, else the heaviest-weighted variant."""
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            raise ValidationError(message=f"Endpoint {endpoint_name} of account {self.account_id} not found.")
        models = self.served_models.get(endpoint_name)
        if endpoint.endpoint_status not in ("InService", "Updating") or not models:
            raise ValidationError(
                message=f"Endpoint {endpoint_name} of account {self.account_id} is not in service "
                        f"(status {endpoint.endpoint_status}).")
        if target_variant:
            if target_variant not in models:
                raise ValidationError(message=f"The variant {target_variant} does not exist for endpoint "
                                              f"{endpoint_name}; variants: {sorted(models)}.")
            return target_variant, models[target_variant]
        config = self.endpoint_configs.get(endpoint.endpoint_config_name)
        weights = {v["VariantName"]: float(v.get("InitialVariantWeight", 1.0))
                   for v in (config.production_variants if config else [])}  # moto drops 0.0 weights
        chosen = max(models, key=lambda variant: weights.get(variant, 1.0))
        return chosen, models[chosen]
