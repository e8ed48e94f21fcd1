"""The provider's transform operator, whose deferred wait polls the run's region and which stops its job when the
task is killed while the job runs (the teardown ``stop_transform_jobs`` covers a failed run as well)."""

from __future__ import annotations

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTransformOperator

from sagemaker_mlops.core.operators import PollsItsRegion


class RegionalTransformOperator(PollsItsRegion, SageMakerTransformOperator):
    """SageMakerTransformOperator polled in the job's region; ``on_kill`` stops the running job."""

    def on_kill(self) -> None:
        config = self.config if isinstance(self.config, dict) else {}
        name = config.get("Transform", config).get("TransformJobName")
        if not name:
            return
        try:
            status = self.hook.conn.describe_transform_job(TransformJobName=name)["TransformJobStatus"]
            if status == "InProgress":
                self.hook.conn.stop_transform_job(TransformJobName=name)
                self.log.warning("Stopped transform job %s: the task was stopped while it ran.", name)
        except Exception:  # the teardown stop_transform_jobs tries again
            self.log.exception("Could not stop transform job %s; the teardown will", name)
