"""CloudWatch URLs: moto's own (moto finds a backend's URLs beside its class)."""

from moto.cloudwatch.urls import url_bases, url_paths  # noqa: F401
