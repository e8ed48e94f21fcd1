"""The provider's endpoint operator, whose deferred wait for InService polls the run's region."""

from __future__ import annotations

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerEndpointOperator

from sagemaker_mlops.core.operators import PollsItsRegion


class RegionalEndpointOperator(PollsItsRegion, SageMakerEndpointOperator):
    """SageMakerEndpointOperator whose deferred wait for InService polls the endpoint's region."""
