"""What the emulator knows about images and instance types, at CreateTrainingJob time (before any thread runs)."""

from __future__ import annotations

IC_REPOSITORY = "image-classification"
# The built-in image-classification algorithm trains on GPU only (P2, P3, G4dn, G5).
IC_TRAINING_FAMILIES = ("ml.p2.", "ml.p3.", "ml.g4dn.", "ml.g5.")


def is_image_classification(image_uri: str) -> bool:
    """True for the built-in algorithm's ECR image
    (``<acct>.dkr.ecr.<region>.amazonaws.com/image-classification:1``)."""
    repository = image_uri.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return repository == IC_REPOSITORY


def is_ic_training_instance(instance_type: str) -> bool:
    return instance_type.startswith(IC_TRAINING_FAMILIES)
