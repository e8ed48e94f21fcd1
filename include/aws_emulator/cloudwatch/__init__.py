"""CloudWatch on the emulator: moto's backend with PutMetricData's and PutMetricAlarm's documented limits, and
alarms whose state is evaluated from the metric data."""
