"""The SageMaker SDK v2 oracle: the generated files match what sagemaker==2.257.7 produces, and are sane on their own.

The drift check runs the SDK in its own venv (.venv-sdk, built by ``bash include/sdk_oracle/bootstrap.sh``; the
Makefile's test target runs that first). A missing or stale .venv-sdk FAILS, never skips: a skipped oracle would
let the vendored image map and the reference requests drift silently. The other tests read the committed files
with the standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SDK_VENV = REPO / ".venv-sdk"
SDK_PYTHON = SDK_VENV / "bin" / "python"
ORACLE = REPO / "include" / "sdk_oracle"
IMAGES_FILE = REPO / "dags" / "sagemaker_mlops" / "data" / "algorithm_images.json"
FIXTURES = REPO / "tests" / "fixtures" / "sdk_requests"
FIXTURE_FILES = ("training_part01.json", "training_part02.json", "deploy_part01.json", "tuning_book.json")
BOOTSTRAP_HINT = "run `bash include/sdk_oracle/bootstrap.sh` (the Makefile's test target runs it first)"


def _load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _canonical(document: object) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------------ the oracle itself
def test_oracle_venv_is_built_and_current():
    if not SDK_PYTHON.exists():
        pytest.fail(f"{SDK_PYTHON.relative_to(REPO)} is missing: {BOOTSTRAP_HINT}")
    # bootstrap.sh stamps the venv with sha256(its inputs)[:16] (venv_lib.sh's venv_stamp); a mismatch means stale.
    inputs = (ORACLE / "requirements.txt", ORACLE / "bootstrap.sh", REPO / "include" / "dev" / "venv_lib.sh")
    expected = hashlib.sha256(b"".join(path.read_bytes() for path in inputs)).hexdigest()[:16]
    stamp = SDK_VENV / ".stamp"
    actual = stamp.read_text().strip() if stamp.exists() else "(no stamp)"
    assert actual == expected, f".venv-sdk is stale or incomplete (stamp {actual} != {expected}): {BOOTSTRAP_HINT}"


@pytest.mark.e2e  # runs a separate tool or interpreter over the whole tree: seconds of CPU
def test_generated_files_match_the_sdk():
    if not SDK_PYTHON.exists():
        pytest.fail(f"{SDK_PYTHON.relative_to(REPO)} is missing: {BOOTSTRAP_HINT}")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(SDK_PYTHON), str(ORACLE / "generate.py"), "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, (
        f"`.venv-sdk/bin/python include/sdk_oracle/generate.py check` exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    assert "match sagemaker==2.257.7" in proc.stdout


# --------------------------------------------------------------------- the committed files, without the SDK
@pytest.fixture(scope="module")
def images() -> dict:
    document = _load(IMAGES_FILE)
    assert isinstance(document, dict)
    return document


def test_image_map_header(images):
    assert images["algorithm"] == "image-classification"
    assert images["version"] == "1"
    assert images["generated_with"] == "sagemaker==2.257.7 image_uris.retrieve"
    assert set(images) == {"algorithm", "version", "generated_with", "uris"}


def test_image_map_book_region(images):
    assert images["uris"]["us-west-2"] == "433757028032.dkr.ecr.us-west-2.amazonaws.com/image-classification:1"


def test_image_map_covers_the_regions(images):
    uris = images["uris"]
    assert len(uris) >= 30, sorted(uris)
    for region in ("us-east-1", "us-east-2", "eu-west-1", "ap-northeast-1", "cn-north-1", "us-gov-west-1"):
        assert region in uris


def test_image_map_domains(images):
    uri_re = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.([a-z0-9.-]+)/image-classification:1")
    china = [r for r in images["uris"] if r.startswith("cn-")]
    assert china, "no China regions"
    for region, uri in images["uris"].items():
        match = uri_re.fullmatch(uri)
        assert match, uri
        assert match[2] == region, uri
        if region.startswith("cn-"):
            assert match[3] == "amazonaws.com.cn", uri
        elif not region.startswith("us-iso"):  # the ISO partitions have their own domains (c2s.ic.gov, ...)
            assert match[3] == "amazonaws.com", uri


def test_generated_files_are_canonical_json():
    """Sorted keys, 2-space indent, trailing newline: what generate.py writes, so reviews see real changes only."""
    for path in (IMAGES_FILE, *(FIXTURES / name for name in FIXTURE_FILES)):
        text = path.read_text(encoding="utf-8")
        assert text == _canonical(json.loads(text)), f"{path.relative_to(REPO)} is not canonical JSON"


def test_fixtures_agree_with_the_image_map(images):
    image = images["uris"]["us-west-2"]
    part01 = _load(FIXTURES / "training_part01.json")
    part02 = _load(FIXTURES / "training_part02.json")
    deploy = _load(FIXTURES / "deploy_part01.json")
    assert part01["AlgorithmSpecification"]["TrainingImage"] == image
    assert part02["AlgorithmSpecification"]["TrainingImage"] == image
    assert deploy["create_model"]["PrimaryContainer"]["Image"] == image
    tuning = _load(FIXTURES / "tuning_book.json")
    assert tuning["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] == image
    assert tuning["HyperParameterTuningJobConfig"]["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 20,
        "MaxParallelTrainingJobs": 3,
    }
    assert set(deploy) == {"create_model", "create_endpoint_config", "create_endpoint"}
    # Job 2 trains incrementally from job 1's artefact, which is where deploy points its model too.
    model_channel = part02["InputDataConfig"][-1]
    assert model_channel["ChannelName"] == "model"
    assert (
        model_channel["DataSource"]["S3DataSource"]["S3Uri"]
        == deploy["create_model"]["PrimaryContainer"]["ModelDataUrl"]
    )
