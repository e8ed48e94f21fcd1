"""What the emulator knows about images and instance types, at request time (before any thread runs)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

IC_REPOSITORY = "image-classification"
# The built-in image-classification algorithm trains on GPU only (P2, P3, G4dn, G5).
IC_TRAINING_FAMILIES = ("ml.p2.", "ml.p3.", "ml.g4dn.", "ml.g5.")
# The algorithm's registry URI per region, generated with the sagemaker SDK (image_uris.retrieve); the emulator
# reads the project's table rather than a copy of it.
ALGORITHM_IMAGES = Path(__file__).resolve().parents[3] / "dags" / "sagemaker_mlops" / "data" / "algorithm_images.json"
_ECR = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/(?P<rest>.+)$")


def is_image_classification(image_uri: str) -> bool:
    """True for the built-in algorithm's ECR image
    (``<acct>.dkr.ecr.<region>.amazonaws.com/image-classification:1``)."""
    repository = image_uri.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return repository == IC_REPOSITORY


def is_ic_training_instance(instance_type: str) -> bool:
    return instance_type.startswith(IC_TRAINING_FAMILIES)


def image_region(image_uri: str) -> str | None:
    """The region of an ECR image URI's registry, None when it is not an ECR URI."""
    match = _ECR.match(image_uri)
    return match.group("region") if match else None


@functools.cache
def algorithm_images() -> dict[str, str]:
    if not ALGORITHM_IMAGES.exists():
        return {}
    return dict(json.loads(ALGORITHM_IMAGES.read_text(encoding="utf-8"))["uris"])


def expected_ic_image(region: str) -> str | None:
    return algorithm_images().get(region)


def is_real_ic_image(image_uri: str, region: str) -> bool:
    """The region's published image (tag ``1`` or ``latest``): anything else under that name cannot be pulled."""
    expected = expected_ic_image(region)
    if expected is None:
        return True  # no table (or an unknown region): nothing to compare with
    registry_and_repo = expected.rsplit(":", 1)[0]
    return image_uri in (expected, f"{registry_and_repo}:latest", registry_and_repo)
