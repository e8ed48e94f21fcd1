"""The one provider operator this package extends: training that explains how a job ended.

The deferred SageMakerTrainingOperator fails with ``Error while running job: {event}``; for a managed-spot job out
of MaxWaitTimeInSeconds that says nothing of the kept checkpoints or how to resume. This subclass describes the
job and fails with the reason and the fix; everything else is the provider's.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator

from sagemaker_mlops import training


class ExplainedTrainingOperator(SageMakerTrainingOperator):
    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, dict]:
        if event and event.get("status") != "success" and event.get("job_name"):
            training.raise_for_status(self.hook.describe_training_job(event["job_name"]))
        return super().execute_complete(context, event)
