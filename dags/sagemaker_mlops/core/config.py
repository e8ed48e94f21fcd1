"""The run's configuration record: what :func:`sagemaker_mlops.run.run_config.resolve` validated, as one frozen
dataclass that travels through XCom as a dict. Only the record lives here, below every capability, so their tasks
can read it without importing the resolver (which imports them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything the run's tasks need, JSON-friendly so it travels through XCom unchanged."""

    dag_id: str
    run_id: str
    aws_conn_id: str
    region: str
    bucket: str
    prefix: str
    create_bucket: bool
    role_arn: str
    image_uri: str
    dataset_url: str
    dataset_sha256: str | None
    training_instance_type: str
    training_instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    network_isolation: bool
    hyperparameters: dict[str, Any]
    inference_instance_type: str
    inference_instance_count: int
    smoke_sample_size: int
    min_accuracy: float
    keep_endpoint: bool
    expires_at: str
    names: dict[str, str]
    tags: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The fields, plus ``training_job_name`` at the top: operators read the config task's outputs one key deep
        (``config["training_job_name"]``), as the provider's example DAGs do."""
        return {**dataclasses.asdict(self), "training_job_name": self.names["job"]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        return cls(**{key: value for key, value in data.items() if key != "training_job_name"})
