"""Service Quotas for SageMaker instance types (moto knows only the vpc service)."""
