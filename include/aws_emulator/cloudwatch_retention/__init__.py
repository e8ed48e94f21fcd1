"""CloudWatch with its documented retention rules (moto's backend, subclassed; see models.py)."""
