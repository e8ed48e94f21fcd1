"""SageMaker wire format for what the emulator adds to moto: StopTrainingJob, UpdateEndpoint, model isolation."""

from __future__ import annotations

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.responses import SageMakerResponse

from aws_emulator.sagemaker.models import EmulatorSageMakerBackend


class EmulatorSageMakerResponse(SageMakerResponse):
    @property
    def sagemaker_backend(self) -> EmulatorSageMakerBackend:  # type: ignore[override]
        from moto.sagemaker import models

        return models.sagemaker_backends[self.current_account][self.region]  # the emulator's BackendDict

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

    def stop_training_job(self) -> ActionResult:
        self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
        return EmptyResult()

    def update_endpoint(self) -> ActionResult:
        endpoint = self.sagemaker_backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
        )
        return ActionResult({"EndpointArn": endpoint.arn})
