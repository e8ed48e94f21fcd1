"""SageMaker wire format for what the emulator adds to moto: every request checked against botocore's service
model first, StopTrainingJob, UpdateEndpoint, model isolation."""

from __future__ import annotations

import json

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.responses import SageMakerResponse

from aws_emulator.sagemaker.exceptions import ValidationError
from aws_emulator.sagemaker.models import EmulatorSageMakerBackend, without_empty
from aws_emulator.service_model_validation import validation_errors, validation_message


class EmulatorSageMakerResponse(SageMakerResponse):
    @property
    def sagemaker_backend(self) -> EmulatorSageMakerBackend:  # type: ignore[override]
        from moto.sagemaker import models

        return models.sagemaker_backends[self.current_account][self.region]  # the emulator's BackendDict

    def call_action(self) -> TYPE_RESPONSE:
        """Refuse what the service model forbids before moto sees it, as SageMaker does."""
        try:
            request = json.loads(self.body) if self.body else {}
        except ValueError:
            request = None
        if isinstance(request, dict):
            errors = validation_errors("sagemaker", self._get_action(), request)
            if errors:
                status, headers, body = self.serialized(ActionResult(ValidationError(validation_message(errors))))
                return status, headers, body
        return super().call_action()

    def create_model(self) -> ActionResult:
        model = self.sagemaker_backend.create_model(
            model_name=self._get_param("ModelName"),
            execution_role_arn=self._get_param("ExecutionRoleArn"),
            primary_container=self._get_param("PrimaryContainer"),
            vpc_config=self._get_param("VpcConfig"),
            containers=self._get_param("Containers"),
            tags=self._get_param("Tags"),
            enable_network_isolation=bool(self._get_param("EnableNetworkIsolation")),
        )
        return ActionResult(model.response_create)

    def describe_model(self) -> ActionResult:
        """As AWS: no VpcConfig member when none was set (moto sends an empty one, missing its required lists)."""
        model = self.sagemaker_backend.describe_model(self._get_param("ModelName"))
        return ActionResult(without_empty(model.response_object, "VpcConfig"))

    def describe_endpoint_config(self) -> ActionResult:
        """As AWS: no DataCaptureConfig/AsyncInferenceConfig when none was set (moto's are empty)."""
        config = self.sagemaker_backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
        return ActionResult(without_empty(config, "DataCaptureConfig", "AsyncInferenceConfig"))

    def stop_training_job(self) -> ActionResult:
        self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
        return EmptyResult()

    # -- hyperparameter tuning: the emulator's own jobs (moto's complete at once with a made-up best job) --------
    def create_hyper_parameter_tuning_job(self) -> ActionResult:
        job = self.sagemaker_backend.create_tuning_job(json.loads(self.body))
        return ActionResult({"HyperParameterTuningJobArn": job.arn})

    def describe_hyper_parameter_tuning_job(self) -> ActionResult:
        return ActionResult(self.sagemaker_backend.describe_tuning_job(self._get_param("HyperParameterTuningJobName")))

    def list_training_jobs_for_hyper_parameter_tuning_job(self) -> ActionResult:
        params = json.loads(self.body) if self.body else {}
        return ActionResult(
            self.sagemaker_backend.list_training_jobs_for_tuning_job(params["HyperParameterTuningJobName"], params)
        )

    def list_hyper_parameter_tuning_jobs(self) -> ActionResult:
        return ActionResult(self.sagemaker_backend.list_tuning_jobs(json.loads(self.body) if self.body else {}))

    def stop_hyper_parameter_tuning_job(self) -> ActionResult:
        self.sagemaker_backend.stop_tuning_job(self._get_param("HyperParameterTuningJobName"))
        return EmptyResult()

    # -- batch transform (aws_emulator/sagemaker/transform.py runs the jobs) ----------------------------------------
    def create_transform_job(self) -> ActionResult:
        job = self.sagemaker_backend.start_transform_job(json.loads(self.body))
        return ActionResult({"TransformJobArn": job.arn})

    def describe_transform_job(self) -> ActionResult:
        return ActionResult(self.sagemaker_backend.describe_transform_job(self._get_param("TransformJobName")))

    def list_transform_jobs(self) -> ActionResult:
        return ActionResult(self.sagemaker_backend.list_transform_jobs_page(json.loads(self.body) if self.body else {}))

    def stop_transform_job(self) -> ActionResult:
        self.sagemaker_backend.stop_transform_job(self._get_param("TransformJobName"))
        return EmptyResult()

    def update_endpoint(self) -> ActionResult:
        endpoint = self.sagemaker_backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
            deployment_config=self._get_param("DeploymentConfig"),
        )
        return ActionResult({"EndpointArn": endpoint.arn})
