"""The Variable ``sagemaker_mlops_dataset_mirror``: the trigger form's book defaults resolve to a mirror.

``make airflow`` sets it to the local dataset server, so Trigger with the form's defaults works on the emulator;
on a real account it is unset and the book's URLs stay. Other URLs are never rewritten.
"""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.run import run_config
from sagemaker_mlops.run.run_config import (
    BOOK_BATCH1_URL,
    BOOK_BATCH2_URL,
    DATASET_MIRROR_VARIABLE,
    common_params,
    mirrored_dataset_url,
)

MIRROR = "http://127.0.0.1:8765"


def _form_defaults(dataset_url: str) -> dict[str, Any]:
    return {name: param.value for name, param in common_params(dataset_url=dataset_url, prefix="ch06").items()}


def _resolve(params: dict[str, Any], variables: dict[str, str]) -> run_config.RunConfig:
    base = {
        "sagemaker_mlops_bucket": "mlops-ch06-demo",
        "sagemaker_mlops_role_arn": "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
    }
    lookups = {**base, **variables}
    return run_config.resolve(
        params,
        dag_id="mnist_train_deploy",
        run_id="manual__1",
        aws_conn_id="aws_default",
        variable=lookups.get,
        connection_region=lambda: "us-east-1",
    )


@pytest.mark.parametrize("book_url, name", [(BOOK_BATCH1_URL, "batch1.zip"), (BOOK_BATCH2_URL, "batch2.zip")])
def test_the_form_defaults_resolve_to_the_mirror_when_the_variable_is_set(book_url: str, name: str) -> None:
    cfg = _resolve(_form_defaults(book_url), {DATASET_MIRROR_VARIABLE: MIRROR + "/"})
    assert cfg.dataset_url == f"{MIRROR}/{name}"


def test_without_the_variable_the_book_urls_stay() -> None:
    assert _resolve(_form_defaults(BOOK_BATCH1_URL), {}).dataset_url == BOOK_BATCH1_URL
    assert _resolve(_form_defaults(BOOK_BATCH1_URL), {DATASET_MIRROR_VARIABLE: ""}).dataset_url == BOOK_BATCH1_URL


def test_a_url_typed_into_the_form_is_never_rewritten() -> None:
    own = "https://example.com/data/batch1.zip"
    assert (
        _resolve({**_form_defaults(BOOK_BATCH1_URL), "dataset_url": own}, {DATASET_MIRROR_VARIABLE: MIRROR}).dataset_url
        == own
    )
    assert mirrored_dataset_url(None, MIRROR) is None


def test_a_bad_mirror_is_refused_naming_the_variable() -> None:
    with pytest.raises(ParamError) as err:
        _resolve(_form_defaults(BOOK_BATCH1_URL), {DATASET_MIRROR_VARIABLE: "file:///tmp/datasets"})
    assert DATASET_MIRROR_VARIABLE in str(err.value) and "http" in str(err.value)
