"""Monitoring: the training job's resource utilisation, read from CloudWatch, as a report and a chart."""
