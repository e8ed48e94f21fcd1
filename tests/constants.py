"""Values every test module shares: the repository, the emulated account and the emulator's fast phase timings.

A plain module (not ``conftest``, which pytest imports in its own way) so test files and helpers import from it.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/service-role/AmazonSageMaker-ExecutionRole"
DATA_BUCKET = "mlops-test-bucket"
HOLDOUT_BUCKET = "mlops-holdout-bucket"  # the admin's pinned holdout (Variables sagemaker_mlops_holdout_uri/_sha256)
HOLDOUT_KEY = "holdout/batch3.zip"
INCREMENTAL_BUCKET = "mlops-test-incremental"
FAST = {
    "starting_seconds": 0.05,
    "downloading_seconds": 0.05,
    "epoch_seconds": 0.05,
    "uploading_seconds": 0.05,
    "endpoint_create_seconds": 0.2,
    "endpoint_update_seconds": 0.2,
    "endpoint_delete_seconds": 0.1,
}
NOTHING_LEFT = {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}
LOOPBACK_DATASET_HOSTS = "127.0.0.1"  # Variable sagemaker_mlops_allowed_dataset_hosts: any port (free ones are picked)
