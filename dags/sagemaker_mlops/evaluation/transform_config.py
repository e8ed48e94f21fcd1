"""CreateTransformJob requests for the holdout evaluation (pure, stdlib only; checked against botocore's model in
the tests), the job names, and the instance type.

One object per image (``application/x-image``, ``SplitType`` None), as the algorithm's batch transform takes
images; the output is one ``.out`` per image under the job's own prefix, so a re-run never reads another job's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemaker_mlops.core.naming import NAME_PREFIX, is_valid_sagemaker_name, resource_name
from sagemaker_mlops.core.tags import as_tag_list

# The algorithm's batch transform runs on these CPU families (and GPUs); the evaluation takes the cheapest of them
# in the price table, so it costs cents.
CPU_FAMILIES = ("ml.c4.", "ml.c5.", "ml.m4.", "ml.m5.")
CONTENT_TYPE = "application/x-image"
ACCEPT = "application/json"
MAX_PAYLOAD_MB = 6  # an MNIST PNG is < 1 KB; the algorithm's default
# The job's own wait: images x (a few ms) plus the instance start, far below an hour even for 20,000 images.
MAX_RUNTIME_SECONDS = 3600
# The teardown waits this long for a job it stopped to reach Stopped (its instances bill until then).
STOP_WAIT_SECONDS = 600
# What one evaluation job can bill at most: the operator's wait, then the teardown's stop (the budget guard's term).
WORST_BILLED_SECONDS = MAX_RUNTIME_SECONDS + STOP_WAIT_SECONDS
KINDS = {"challenger": "eval", "champion": "evalchamp"}


def cheapest_cpu_instance(hourly: Mapping[str, float]) -> str:
    """The cheapest instance type of the algorithm's CPU families in a price table (type -> USD per hour)."""
    candidates = {name: price for name, price in hourly.items() if name.startswith(CPU_FAMILIES)}
    if not candidates:
        raise ValueError(f"no {'/'.join(f.rstrip('.') for f in CPU_FAMILIES)} type in the price table")
    return min(candidates, key=lambda name: (candidates[name], name))


def transform_job_name(dag_id: str, run_id: str, which: str) -> str:
    """``mlops-eval-<run>-<token>`` (challenger) / ``mlops-evalchamp-...`` (champion): deterministic per run, so a
    retry or a teardown finds the job, and under the IAM policy's ``transform-job/mlops-*``."""
    return resource_name(NAME_PREFIX, KINDS[which], dag_id, run_id)


def output_prefix(bucket: str, prefix: str, job_name: str) -> str:
    return f"s3://{bucket}/{prefix.strip('/')}/evaluation/{job_name}/"


def build_transform_request(
    job_name: str,
    model_name: str,
    input_uri: str,
    output_uri: str,
    instance_type: str,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """CreateTransformJob over every image object under ``input_uri`` with one instance of ``instance_type``."""
    if not is_valid_sagemaker_name(job_name) or not job_name.startswith(f"{NAME_PREFIX}-"):
        raise ValueError(f"TransformJobName {job_name!r}: must be a SageMaker name starting with {NAME_PREFIX}-")
    return {
        "TransformJobName": job_name,
        "ModelName": model_name,
        "MaxPayloadInMB": MAX_PAYLOAD_MB,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": CONTENT_TYPE,
            "SplitType": "None",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": ACCEPT, "AssembleWith": "None"},
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": 1},
        "Tags": as_tag_list(dict(tags)),
    }
