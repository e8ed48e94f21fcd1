"""A run no person triggered trains on the dataset an admin pinned, never on the form's defaults (issue 20, item 3).

Scheduled and Asset-triggered runs (every ``run_type`` but ``manual``) carry the form's defaults: the book's URLs,
with no digest. They take ``dataset_url`` and ``dataset_sha256`` from the Variables ``sagemaker_mlops_dataset_url``
/ ``_dataset_sha256`` instead; unset, a cron tick or an Asset event skips saying so (nothing trained, not red),
while a backfill or another DAG's trigger fails naming the Variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.run import run_config
from sagemaker_mlops.run.run_config import (
    BOOK_BATCH2_URL,
    DATASET_SHA256_VARIABLE,
    DATASET_URL_VARIABLE,
    DatasetNotPinned,
)

from constants import ROLE_ARN
from dag_runs import ACTIONS_THAT_CREATE, run_dag

PINNED_URL = "https://data.example.com/pinned/batch2.zip"
PINNED_SHA = "ab" * 32


def _form(**changes: Any) -> dict[str, Any]:
    params = {name: p.value for name, p in run_config.common_params(dataset_url=BOOK_BATCH2_URL, prefix="ch06").items()}
    return {**params, **changes}


def _resolve(params: dict[str, Any], variables: dict[str, str], *, automatic: bool) -> run_config.RunConfig:
    lookups = {"sagemaker_mlops_bucket": "mlops-ch06-demo", "sagemaker_mlops_role_arn": ROLE_ARN, **variables}
    return run_config.resolve(
        params,
        dag_id="mnist_incremental_spot",
        run_id="scheduled__2026-12-07T03:00:00+00:00",
        aws_conn_id="aws_default",
        variable=lookups.get,
        connection_region=lambda: "us-east-1",
        automatic=automatic,
    )


@pytest.mark.parametrize(
    ("run_type", "automatic"),
    [
        ("manual", False),
        ("scheduled", True),
        ("asset_triggered", True),
        ("backfill", True),
        ("operator_triggered", True),
    ],
)
def test_every_run_type_but_manual_is_automatic(run_type: str, automatic: bool) -> None:
    from airflow.utils.types import DagRunType

    assert run_config.is_automatic(run_type) is automatic
    assert run_config.is_automatic(DagRunType(run_type)) is automatic


def test_an_automatic_run_takes_the_pinned_dataset_not_the_forms() -> None:
    pinned = {DATASET_URL_VARIABLE: PINNED_URL, DATASET_SHA256_VARIABLE: PINNED_SHA.upper()}
    # whatever the params say (the form's defaults, or a value slipped in), the Variables win
    cfg = _resolve(_form(dataset_url="https://evil.example.com/x.zip", dataset_sha256=None), pinned, automatic=True)
    assert (cfg.dataset_url, cfg.dataset_sha256) == (PINNED_URL, PINNED_SHA)
    assert cfg.extra["dataset_url_variable"] == DATASET_URL_VARIABLE
    # a manual run keeps its form's dataset, Variables or not
    manual = _resolve(_form(), pinned, automatic=False)
    assert (manual.dataset_url, manual.dataset_sha256) == (BOOK_BATCH2_URL, None)
    assert "dataset_url_variable" not in manual.extra


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({}, f"{DATASET_URL_VARIABLE} and {DATASET_SHA256_VARIABLE}"),
        ({DATASET_URL_VARIABLE: PINNED_URL}, DATASET_SHA256_VARIABLE),
        ({DATASET_SHA256_VARIABLE: PINNED_SHA}, DATASET_URL_VARIABLE),
    ],
)
def test_an_automatic_run_without_both_variables_is_refused_naming_them(variables: dict[str, str], named: str) -> None:
    with pytest.raises(DatasetNotPinned) as err:
        _resolve(_form(), variables, automatic=True)
    assert err.value.field == named and "sha256sum" in str(err.value)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({DATASET_URL_VARIABLE: "file:///etc/passwd", DATASET_SHA256_VARIABLE: PINNED_SHA}, DATASET_URL_VARIABLE),
        ({DATASET_URL_VARIABLE: PINNED_URL, DATASET_SHA256_VARIABLE: "not-a-digest"}, DATASET_SHA256_VARIABLE),
    ],
)
def test_a_bad_pinned_value_names_its_variable(variables: dict[str, str], named: str) -> None:
    with pytest.raises(ParamError) as err:
        _resolve(_form(), variables, automatic=True)
    assert not isinstance(err.value, DatasetNotPinned) and named in str(err.value)


def test_the_download_reads_the_full_url_from_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pre-signed URL pinned by the admin keeps its signature for the download, never in the config."""
    from sagemaker_mlops.datasets import tasks

    signed = PINNED_URL + "?X-Amz-Signature=SECRET"
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_URL", signed)
    cfg = _resolve(_form(), {DATASET_URL_VARIABLE: signed, DATASET_SHA256_VARIABLE: PINNED_SHA}, automatic=True)
    assert "SECRET" not in str(cfg.to_dict())
    assert tasks._full_dataset_url(cfg, {"params": _form()}) == signed


# -- end to end: a cron tick with nothing pinned ------------------------------------------------------------------


def _as_run_type(monkeypatch: pytest.MonkeyPatch, run_type: str) -> None:
    """``dag.test`` makes a manual run; this turns it into one of ``run_type``, as the scheduler creates it."""
    import airflow.models.dagrun as dagrun_module
    from airflow.utils.types import DagRunType

    original = dagrun_module.get_or_create_dagrun

    def create(*, session: Any, **kwargs: Any) -> Any:
        run = original(session=session, **kwargs)
        run.run_type = DagRunType(run_type)
        session.merge(run)
        session.commit()
        return run

    monkeypatch.setattr(dagrun_module, "get_or_create_dagrun", create)


@pytest.mark.e2e
@pytest.mark.parametrize("run_type", ["scheduled", "asset_triggered"])
def test_a_cron_or_asset_run_without_a_pinned_dataset_skips_saying_so(
    airflow_db: Any, airflow_aws: Any, capfd: Any, monkeypatch: pytest.MonkeyPatch, run_type: str
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET", "incremental-bucket")
    monkeypatch.delenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_SHA256", raising=False)
    _as_run_type(monkeypatch, run_type)
    run, states = run_dag("mnist_incremental_spot", {})
    out = capfd.readouterr().out
    assert str(run.state) == "success" and states["validate_and_preflight"] == "skipped", states
    assert states.pop("run_outcome") == "success", states
    assert set(states.values()) == {"skipped"}, states
    assert f"No dataset pinned for this {run_type} run" in out and DATASET_SHA256_VARIABLE in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())


@pytest.mark.e2e
def test_a_backfill_without_a_pinned_dataset_fails_naming_the_variables(
    airflow_db: Any, airflow_aws: Any, capfd: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET", "incremental-bucket")
    monkeypatch.delenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_SHA256", raising=False)
    _as_run_type(monkeypatch, "backfill")
    run, states = run_dag("mnist_incremental_spot", {})
    out = capfd.readouterr().out
    assert str(run.state) == "failed" and states["validate_and_preflight"] == "failed", states
    assert DATASET_URL_VARIABLE in out and "sha256sum" in out
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())
