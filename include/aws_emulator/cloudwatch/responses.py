"""CloudWatch wire format on the emulator: moto's, with PutMetricData's and PutMetricAlarm's documented limits
checked before anything is stored (aws_emulator/cloudwatch/validators.py)."""

from __future__ import annotations

from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow

from aws_emulator.cloudwatch.models import EmulatorCloudWatchBackend
from aws_emulator.cloudwatch.validators import validate_put_metric_alarm, validate_put_metric_data


class EmulatorCloudWatchResponse(CloudWatchResponse):
    @property
    def cloudwatch_backend(self) -> EmulatorCloudWatchBackend:  # type: ignore[override]
        from moto.cloudwatch import models

        return models.cloudwatch_backends[self.current_account][self.region]  # the emulator's BackendDict

    def put_metric_data(self) -> ActionResult:
        validate_put_metric_data(self._get_param("Namespace"), self._get_param("MetricData", []), utcnow())
        return super().put_metric_data()

    def put_metric_alarm(self) -> ActionResult:
        validate_put_metric_alarm(
            {
                key: self._get_param(key)
                for key in (
                    "MetricName",
                    "Metrics",
                    "AlarmRule",
                    "EvaluationPeriods",
                    "DatapointsToAlarm",
                    "Statistic",
                    "ExtendedStatistic",
                    "Period",
                    "Threshold",
                    "ThresholdMetricId",
                    "Dimensions",
                    "TreatMissingData",
                    "Unit",
                )
            }
        )
        return super().put_metric_alarm()
