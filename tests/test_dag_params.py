"""The trigger form's Params live on the DAG only (sagemaker_mlops.core.dag_params), and nothing is lost by it.

Why: each task's deep copy of the DAG's ~36 Params was serialized (and schema-validated twice) per task by the
dag-processor, most of a DAG file's parse time. These tests hold the mechanism to its promise: no task carries the
DAG's Params; after Airflow's serialization round-trip the DAG still has every Param with its section, title,
description and schema; the trigger-time check still refuses a bad value; a task's run-time ``params`` still hold
every resolved value, overridden by the run's conf.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from constants import REPO

DAG_FILES = sorted(p for p in (REPO / "dags").glob("*.py") if not p.name.startswith("__"))


def _load(path: Path) -> Any:
    """The DAG a file defines, built as the dag-processor builds it (the file run as a fresh module)."""
    from airflow.sdk import DAG

    name = f"dag_params_test_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    dags = [value for value in vars(module).values() if isinstance(value, DAG)]
    assert len(dags) == 1, f"{path.name}: expected one DAG, found {len(dags)}"
    return dags[0]


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    return {path.name: _load(path) for path in DAG_FILES}


def _round_trip(dag: Any) -> Any:
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


@pytest.mark.parametrize("name", [p.name for p in DAG_FILES])
def test_no_task_carries_a_copy_of_the_dag_params(dags: dict[str, Any], name: str) -> None:
    dag = dags[name]
    assert len(dag.params) > 0, f"{name}: the DAG has no Params (the form is gone)"
    holders = {task.task_id: sorted(task.params) for task in dag.tasks if len(task.params)}
    assert not holders, f"{name}: tasks carry the DAG's Params (keep_params_on_dag not called?): {holders}"
    serialized = _round_trip(dag)
    assert not [task.task_id for task in serialized.tasks if task.params], "serialized tasks carry Params"


@pytest.mark.parametrize("name", [p.name for p in DAG_FILES])
def test_serialized_dag_keeps_every_param_with_its_section_description_and_schema(
    dags: dict[str, Any], name: str
) -> None:
    dag = dags[name]
    serialized = _round_trip(dag)
    assert list(serialized.params) == list(dag.params), "a Param is missing, added or reordered"
    for key in dag.params:
        original, restored = dag.params.get_param(key), serialized.params.get_param(key)
        assert restored.description == original.description, key
        assert restored.schema == original.schema, key
        assert restored.value == original.value, key
    if name == "mnist_incremental_spot.py":  # the richest form: sections, titles, descriptions, ranges
        epochs = serialized.params.get_param("epochs")
        assert epochs.schema["section"] == "Hyperparameters (the book's)"
        assert epochs.schema["title"] == "epochs" and epochs.schema["minimum"] == 1
        assert epochs.description == "Training passes over the data."


def test_trigger_time_validation_still_refuses_a_bad_value(dags: dict[str, Any]) -> None:
    """What the API server runs on a trigger (``SerializedDAG.create_dagrun``): deep_merge(conf) then validate."""
    from airflow.sdk.exceptions import ParamValidationError

    serialized = _round_trip(dags["mnist_train_deploy.py"])
    serialized.params.deep_merge({"epochs": 5}).validate()
    with pytest.raises(ParamValidationError, match="epochs"):
        serialized.params.deep_merge({"epochs": 0}).validate()
    with pytest.raises(ParamValidationError, match="training_instance_type"):
        serialized.params.deep_merge({"training_instance_type": "ml.t2.micro"}).validate()


def test_run_time_params_hold_every_resolved_value(dags: dict[str, Any]) -> None:
    """A task's ``params`` at run time (``process_params``, as the task runner builds them) are the DAG's, with the
    run's conf on top and validated."""
    from airflow.sdk.definitions.param import process_params
    from airflow.sdk.exceptions import ParamValidationError

    dag = dags["mnist_incremental_spot.py"]
    task = dag.get_task("validate_and_preflight")
    params = process_params(dag, task, {"epochs": 7, "bucket": "my-bucket"}, suppress_exception=False)
    assert set(params) == set(dag.params)
    assert params["epochs"] == 7 and params["bucket"] == "my-bucket"
    assert params["learning_rate"] == 0.01 and params["num_layers"] == 18
    with pytest.raises(ParamValidationError, match="epochs"):
        process_params(dag, task, {"epochs": -1}, suppress_exception=False)


def test_a_task_keeps_the_params_it_declared_itself() -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG, Param
    from airflow.sdk.definitions.param import process_params

    from sagemaker_mlops.core.dag_params import keep_params_on_dag

    with DAG("dag_params_unit", schedule=None, start_date=datetime(2026, 1, 1), params={"a": Param(1)}) as dag:
        plain = EmptyOperator(task_id="plain")
        own = EmptyOperator(task_id="own", params={"b": Param(2, type="integer")})
    assert sorted(plain.params) == ["a"] and sorted(own.params) == ["a", "b"]  # Airflow's copies, before
    keep_params_on_dag(dag)
    assert sorted(plain.params) == [] and sorted(own.params) == ["b"]
    assert process_params(dag, own, None, suppress_exception=False) == {"a": 1, "b": 2}
    assert process_params(dag, plain, {"a": 5}, suppress_exception=False) == {"a": 5}
