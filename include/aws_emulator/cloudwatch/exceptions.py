"""CloudWatch's error shapes as moto defines them (botocore's model: InvalidParameterValue,
InvalidParameterCombination, MissingRequiredParameter), so ``client.exceptions.<Name>`` matches as on AWS."""

from __future__ import annotations

from moto.cloudwatch.exceptions import CloudWatchException, InvalidParameterCombination, InvalidParameterValue

__all__ = ["InvalidParameterCombination", "InvalidParameterValue", "MissingRequiredParameter"]


class MissingRequiredParameter(CloudWatchException):
    code = "MissingParameter"
