"""The training image of the built-in image-classification algorithm, per region, without the SageMaker SDK.

Why vendored: the only thing the DAGs would need the SDK for is ``image_uris.retrieve("image-classification",
region, "1")``, which is a lookup in a small JSON map; importing the SDK costs ~2 s and ~300 MB per parse. The map
lives in ``data/algorithm_images.json`` (generated from the SDK's ``image_uri_config``), read once and cached.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from sagemaker_mlops.core.validation import ParamError

__all__ = [
    "ALGORITHM",
    "ECR_IMAGE_URI_RE",
    "EXAMPLE_IMAGE_URI",
    "IMAGES_FILE",
    "algorithm_accounts",
    "check_image_source",
    "is_ecr_image_uri",
    "supported_regions",
    "training_image_uri",
    "validate_image_uri",
]

ALGORITHM = "image-classification"
IMAGES_FILE = Path(__file__).parent.parent / "data" / "algorithm_images.json"

# <12-digit account>.dkr.ecr.<region>.<partition domain>/<repository>(:<tag>|@sha256:<digest>)
ECR_IMAGE_URI_RE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2})"
    r"\.(?P<domain>amazonaws\.com(?:\.cn)?|c2s\.ic\.gov|sc2s\.sgov\.gov|csp\.hci\.ic\.gov|cloud\.adc-e\.uk)"
    r"/(?P<repository>(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))"
)
EXAMPLE_IMAGE_URI = "433757028032.dkr.ecr.us-west-2.amazonaws.com/image-classification:1"


def is_ecr_image_uri(value: object) -> bool:
    """Whether ``value`` looks like ``<acct>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>:<tag>`` (or ``@sha256:``)."""
    return isinstance(value, str) and ECR_IMAGE_URI_RE.fullmatch(value) is not None


def validate_image_uri(value: object, field: str = "training_image_uri", region: str | None = None) -> str:
    """Return ``value`` if it is an ECR image URI (in ``region`` when given), else raise ParamError naming ``field``.

    SageMaker pulls training images from ECR in the job's own region only, so a URI for another region would fail
    at CreateTrainingJob time.
    """
    match = ECR_IMAGE_URI_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ParamError(
            field,
            f"{value!r} is not an ECR image URI",
            f"use the form <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>, e.g. {EXAMPLE_IMAGE_URI!r}",
        )
    if region is not None and match["region"] != region:
        raise ParamError(
            field,
            f"{value!r} is in region {match['region']!r} but the job runs in {region!r}",
            "use the image of the job's region (SageMaker pulls training images from the job's own region)",
        )
    return match.string


@functools.cache
def _load_uris(path: Path) -> Mapping[str, str]:
    """Region -> image URI from the vendored JSON; checked once per path, then cached (the file never changes)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamError(
            "training_image_uri",
            f"the algorithm image map {str(path)!r} is missing",
            "restore dags/sagemaker_mlops/data/algorithm_images.json or pass an explicit training image URI",
        ) from None
    uris = document.get("uris") if isinstance(document, dict) else None
    if not isinstance(uris, dict) or document.get("algorithm") != ALGORITHM:
        raise ParamError(
            "training_image_uri",
            f'{str(path)!r} is not an {ALGORITHM} image map ({{"algorithm": ..., "uris": {{region: uri}}}})',
            "regenerate the file or pass an explicit training image URI",
        )
    for region, uri in uris.items():
        validate_image_uri(uri, f"{path.name}[{region!r}]", region=region)
    return MappingProxyType(dict(uris))


def supported_regions(images_file: Path | None = None) -> tuple[str, ...]:
    """The regions the image map knows, sorted (for the trigger form and for error messages)."""
    return tuple(sorted(_load_uris(images_file or IMAGES_FILE)))


def training_image_uri(region: str, override: str | None = None, *, images_file: Path | None = None) -> str:
    """The image-classification:1 training image for ``region``, or ``override`` once it is checked.

    An override (e.g. a mirror in your own ECR, or a region missing from the map) is returned after checking that
    it is an ECR URI in ``region``; the map file is not read then. An unknown region raises ParamError (a ValueError).
    """
    if override:
        return validate_image_uri(override, "training_image_uri", region=region)
    uris = _load_uris(images_file or IMAGES_FILE)
    try:
        return uris[region]
    except KeyError:
        raise ParamError(
            "region",
            f"{region!r} has no built-in {ALGORITHM} image in the vendored map (known: {', '.join(sorted(uris))})",
            "pass an explicit training image URI for that region, or use one of the known regions",
        ) from None


def algorithm_accounts(images_file: Path | None = None) -> dict[str, str]:
    """Region -> the AWS account that publishes the algorithm's image there (from the SDK oracle's map)."""
    uris = _load_uris(images_file or IMAGES_FILE)
    return {region: uri.split(".", 1)[0] for region, uri in uris.items()}


def image_repository(uri: str) -> str:
    """``<registry host>/<repository>`` of an ECR image URI (the URI without its tag or digest)."""
    match = ECR_IMAGE_URI_RE.fullmatch(uri)
    if match is None:
        return uri
    return f"{match['account']}.dkr.ecr.{match['region']}.{match['domain']}/{match['repository']}"


def check_image_source(
    uri: str, region: str, allowed_repositories: tuple[str, ...] | None = (), *, variable: str = "", images_file=None
) -> str:
    """Return ``uri`` when it is the algorithm's own image (AWS's registry account of ``region``, repository
    ``image-classification``) or lies in a repository an admin allowed (``<account>.dkr.ecr.<region>.<domain>/<repo>``
    entries, e.g. from the Variable named ``variable``); else a ParamError.

    Why: the training container runs as the SageMaker execution role, which reads and writes the buckets, and the
    image is recorded in the Model Registry on its way to production; a form field must not be able to swap it for
    a container of the triggerer's own.
    """
    match = ECR_IMAGE_URI_RE.fullmatch(uri)
    account = algorithm_accounts(images_file).get(region)
    if match is not None and match["account"] == account and match["repository"] == ALGORITHM:
        return uri
    if image_repository(uri) in (allowed_repositories or ()):
        return uri
    allowed = ", ".join(allowed_repositories or ()) or "none"
    raise ParamError(
        "training_image",
        f"{uri!r} is not the {ALGORITHM} algorithm's image of {region} (AWS account {account or 'unknown'}, "
        f"repository {ALGORITHM}) nor in a repository the admin allowed ({allowed}; Variable {variable})",
        f"leave training_image empty (the region's algorithm image), or ask whoever may edit Variables to add "
        f"{image_repository(uri)!r} to {variable}",
    )
