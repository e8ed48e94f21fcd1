"""What every extended provider operator shares: a deferred wait that polls the run's region.

The provider's SageMakerTrainingOperator, SageMakerEndpointOperator and SageMakerTuningOperator (9.34.0) build
their trigger without ``region_name``/``verify``/``botocore_config``, so the triggerer polls the *connection's*
region: a run in another region (form or Variable) failed its wait, and the teardown then stopped a healthy job.
:class:`PollsItsRegion` fills them in from the operator before deferring; the trigger stays the provider's class
(the triggerer imports it as usual), only its serialized kwargs gain the region.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger


class PollsItsRegion:
    """Mixin for provider operators: a trigger they defer to polls where the operator works."""

    def defer(self, *, trigger: Any, **kwargs: Any) -> Any:
        if isinstance(trigger, AwsBaseWaiterTrigger):
            trigger.region_name = trigger.region_name or self.hook.conn_region_name
            if trigger.verify is None:
                trigger.verify = self.verify
            if trigger.botocore_config is None:
                trigger.botocore_config = self.botocore_config
        return super().defer(trigger=trigger, **kwargs)
