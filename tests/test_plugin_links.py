"""The console-links plugin, loaded by Airflow's plugins manager and rendered by the API server's extra-links route.

The DAG is parsed, written to the metadata DB as the dag processor does, and read back as the API server reads it
(deserialization is where plugin links are attached); runs are created from that serialized DAG, the run config is
pushed as ``validate_and_preflight``'s XCom, and the links are read as ``GET .../taskInstances/{task}/links``
computes them (the fast loop) and through that route of the API server itself (e2e, see ``rendered``).
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from constants import REPO

DAG_ID = "mnist_train_deploy"
RUN_PREFIX = "manual__test-plugin-links-"
JOB, LOGS, MODEL, ENDPOINT, UTILISATION = (
    "SageMaker training job",
    "Training job logs (CloudWatch)",
    "SageMaker model",
    "SageMaker endpoint",
    "Utilisation report (S3)",
)
TUNING = "SageMaker tuning job"  # pipeline 3's; pipeline 1, tested here, has no task that shows it
LINKS = {JOB, LOGS, TUNING, MODEL, ENDPOINT, UTILISATION}
# Which links each task shows with only the run config in XCom (a task not listed shows none; the utilisation
# report's link needs its own task's XCom, tested below).
EXPECTED = {
    "train": {JOB, LOGS},
    "reattach_training": {JOB, LOGS},
    "training_result": {JOB, LOGS},
    "create_model": {MODEL},
    "create_endpoint": {ENDPOINT},
    "smoke_test": {MODEL, ENDPOINT},
}
NAMES = {
    "job": "mlops-ch06-manual-20261124-0800-3f9a1c2b7d",
    "model": "mlops-ch06-model-3f9a1c2b7d",
    "endpoint_config": "mlops-ch06-epc-3f9a1c2b7d",
    "endpoint": "mlops-ch06-ep-3f9a1c2b7d",
}


def config(region: str = "eu-west-1", **names: str) -> dict[str, Any]:
    """A validate_and_preflight XCom, trimmed to what the links read plus a few neighbours."""
    return {
        "region": region,
        "names": {**NAMES, **names},
        "bucket": "mlops-test-bucket",
        "prefix": "ch06",
        "dag_id": DAG_ID,
        "hyperparameters": {"epochs": 1},
    }


def urls(region: str, job: str, model: str, endpoint: str, cw_job: str | None = None) -> dict[str, str]:
    sagemaker = f"https://console.aws.amazon.com/sagemaker/home?region={region}#/"
    return {
        JOB: f"{sagemaker}jobs/{job}",
        LOGS: (
            f"https://console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
            f"$252Faws$252Fsagemaker$252FTrainingJobs$3FlogStreamNameFilter$3D{cw_job or job}"
        ),
        MODEL: f"{sagemaker}models/{model}",
        ENDPOINT: f"{sagemaker}endpoints/{endpoint}",
    }


# -- loading -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plugin() -> Any:
    from airflow import plugins_manager, settings

    assert str(REPO / "plugins") == settings.PLUGINS_FOLDER
    plugins, errors = plugins_manager._get_plugins()
    assert not errors, errors
    (loaded,) = [p for p in plugins if p.name == "sagemaker_console_links"]
    return loaded


def test_plugin_registers_operator_links(plugin: Any) -> None:
    from airflow import plugins_manager

    registered = {link.name: link for link in plugins_manager.get_operator_extra_links()}
    assert set(registered) >= LINKS
    assert {link.name for link in plugin.operator_extra_links} == LINKS
    assert not plugin.global_operator_extra_links  # nothing added to every task of every DAG
    info = {p["name"]: p for p in plugins_manager.get_plugin_info()}["sagemaker_console_links"]
    assert len(info["operator_extra_links"]) == len(LINKS)


def test_link_targets_name_the_real_operator_classes(plugin: Any) -> None:
    """Links are matched by class name and module only: each target must be a real operator, at that path."""
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator
    from airflow.sdk import BaseOperator

    from sagemaker_mlops.training.operators import ExplainedTrainingOperator

    assert issubclass(ExplainedTrainingOperator, SageMakerTrainingOperator)
    targets = {
        link.name: {f"{op.__module__}.{op.__name__}" for op in link.operators} for link in plugin.operator_extra_links
    }
    for paths in targets.values():
        for path in paths:
            module, _, name = path.rpartition(".")
            assert issubclass(getattr(importlib.import_module(module), name), BaseOperator), path
    decorated = "airflow.providers.standard.decorators.python._PythonDecoratedOperator"
    training = {
        "airflow.providers.amazon.aws.operators.sagemaker.SageMakerTrainingOperator",
        "sagemaker_mlops.training.operators.ExplainedTrainingOperator",
        "airflow.providers.amazon.aws.sensors.sagemaker.SageMakerTrainingSensor",
        decorated,
    }
    assert targets == {
        JOB: training,
        LOGS: training,
        TUNING: {
            "airflow.providers.amazon.aws.operators.sagemaker.SageMakerTuningOperator",
            "sagemaker_mlops.tuning.operators.ExplainedTuningOperator",
            "airflow.providers.amazon.aws.sensors.sagemaker.SageMakerTuningSensor",
            decorated,
        },
        MODEL: {"airflow.providers.amazon.aws.operators.sagemaker.SageMakerModelOperator", decorated},
        ENDPOINT: {
            "airflow.providers.amazon.aws.operators.sagemaker.SageMakerEndpointOperator",
            "sagemaker_mlops.serving.operators.RegionalEndpointOperator",
            decorated,
        },
        UTILISATION: {decorated},
    }


def test_tuning_link_points_at_the_run_s_tuning_job(plugin: Any) -> None:
    (link,) = [link for link in plugin.operator_extra_links if link.name == TUNING]
    assert link.url("eu-west-1", "mlops-hpo-manual-2-3f9a1c2b7d") == (
        "https://console.aws.amazon.com/sagemaker/home?region=eu-west-1#/hyper-tuning-jobs/mlops-hpo-manual-2-3f9a1c2b7d"
    )
    assert link.resource == "tuning_job" and link.decorated_task_ids == {"tuning_result"}


def test_plugin_imports_neither_boto3_nor_the_dags() -> None:
    source = (REPO / "plugins" / "sagemaker_console_links.py").read_text()
    for module in ("boto3", "botocore", "sagemaker_mlops", "import sagemaker", "airflow.providers.amazon"):
        assert f"import {module}" not in source and f"from {module}" not in source


# -- the DAG as the API server sees it -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def serialized_dag(airflow_db: Any, plugin: Any) -> Iterator[Any]:
    """Parse the DAG (no import errors with the plugin loaded), sync it to the DB, read it back deserialized.
    The runs this module creates are deleted afterwards (with their task instances and XComs)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    (bundle,) = [b for b in manager.get_all_dag_bundles() if b.path == REPO / "dags"]
    # Only the DAG under test's file: serializing every DAG of the folder doubled the set-up (the DAG integrity
    # tests parse them all).
    dag_file = bundle.path / f"{DAG_ID}.py"
    bag = BundleDagBag(dag_folder=dag_file, bundle_path=bundle.path, bundle_name=bundle.name)
    assert not bag.import_errors, bag.import_errors
    assert set(bag.dags) == {DAG_ID}
    sync_bag_to_db(bag, bundle.name, bundle.version)
    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag(DAG_ID, session=session)
    assert dag is not None
    yield dag
    with create_session() as session:
        session.execute(
            delete(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id.startswith(RUN_PREFIX)),
            execution_options={"synchronize_session": False},
        )


def new_run(dag: Any, config_xcom: Any, *, as_worker: bool = True) -> str:
    """A queued run of the serialized DAG (with its task instances) and, unless None, its run-config XCom: stored
    as a task's return value is (the Task SDK's encoding, sent as-is through the Execution API), or with
    ``as_worker=False`` as core's ``XComModel.set`` stores it (a JSON document in a string)."""
    from airflow.models.xcom import XComModel
    from airflow.sdk import timezone
    from airflow.sdk.bases.xcom import BaseXCom
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    run_id = f"{RUN_PREFIX}{uuid.uuid4().hex[:12]}"
    with create_session() as session:
        dag.create_dagrun(
            run_id=run_id,
            run_after=timezone.utcnow(),
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.QUEUED,
            session=session,
        )
    if config_xcom is not None:
        value = BaseXCom.serialize_value(config_xcom) if as_worker else config_xcom
        XComModel.set(
            key="return_value",
            value=value,
            dag_id=DAG_ID,
            task_id="validate_and_preflight",
            run_id=run_id,
            serialize=not as_worker,
        )
    return run_id


@pytest.fixture(scope="module")
def api(serialized_dag: Any) -> Any:
    """The API server's core app (no auth: all users admin), as the UI calls it."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        with TestClient(create_app(apps="core")) as client:
            yield client


Rendered = Callable[[str, str], dict[str, str | None]]


@pytest.fixture(params=["task", pytest.param("api", marks=pytest.mark.e2e)])
def rendered(request: pytest.FixtureRequest, serialized_dag: Any) -> Rendered:
    """A task instance's links ``{name: url or None}``, as the extra-links route answers them: "task" computes them
    in-process the route's way (the task instance read from the DB, each of the deserialized task's links asked,
    "" as None); "api" asks the API server's ``GET .../taskInstances/{task}/links`` itself (e2e: building the API
    app's routes costs about 5 s of CPU, the rest of this module under 2 s)."""
    if request.param == "api":
        api = request.getfixturevalue("api")

        def through_the_api(run_id: str, task_id: str) -> dict[str, str | None]:
            response = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/links")
            assert response.status_code == 200, response.text
            return response.json()["extra_links"]

        return through_the_api

    def as_the_route_does(run_id: str, task_id: str) -> dict[str, str | None]:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        task = serialized_dag.get_task(task_id)
        with create_session() as session:
            ti = session.scalar(
                select(TaskInstance).where(
                    TaskInstance.dag_id == DAG_ID,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id == task_id,
                    TaskInstance.map_index == -1,
                )
            )
            assert ti is not None, (run_id, task_id)
            pairs = [(name, task.get_extra_links(ti, name)) for name in task.extra_links]
        return {name: url or None for name, url in sorted(pairs)}

    return as_the_route_does


def test_the_dag_parses_and_the_deserialized_tasks_carry_the_links(serialized_dag: Any) -> None:
    by_task = {task.task_id: {link.name for link in task.operator_extra_links} for task in serialized_dag.tasks}
    for task_id in ("train", "reattach_training"):
        assert by_task[task_id] == {JOB, LOGS}
    assert by_task["create_model"] == {MODEL}
    assert by_task["create_endpoint"] == {ENDPOINT}
    assert by_task["create_endpoint_config"] == set()
    # @task tasks all share _PythonDecoratedOperator: they carry every link; get_link answers only for its tasks.
    assert by_task["training_result"] == by_task["smoke_test"] == LINKS
    # Nothing is persisted in the serialized DAG itself: links are attached when the API server deserializes it.
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        data = SerializedDagModel.get(DAG_ID, session=session).data
    assert all("_operator_extra_links" not in task["__var"] for task in data["dag"]["tasks"])


def test_links_render_for_the_right_tasks_with_the_runs_names(serialized_dag: Any, rendered: Rendered) -> None:
    run_id = new_run(serialized_dag, config())
    expected = urls("eu-west-1", NAMES["job"], NAMES["model"], NAMES["endpoint"])
    for task in serialized_dag.tasks:
        shown = {name: url for name, url in rendered(run_id, task.task_id).items() if url}
        assert shown == {name: expected[name] for name in EXPECTED.get(task.task_id, ())}, task.task_id


def test_each_run_links_to_its_own_resources(serialized_dag: Any, rendered: Rendered) -> None:
    first = new_run(
        serialized_dag, config("us-east-1", job="mlops-first-job", endpoint="mlops-first-ep"), as_worker=False
    )
    second = new_run(serialized_dag, config("ap-southeast-2", job="mlops-second-job", endpoint="mlops-second-ep"))
    assert rendered(first, "train")[JOB] == urls("us-east-1", "mlops-first-job", "", "")[JOB]
    assert rendered(second, "train")[JOB] == urls("ap-southeast-2", "mlops-second-job", "", "")[JOB]
    assert rendered(first, "smoke_test")[ENDPOINT] == urls("us-east-1", "", "", "mlops-first-ep")[ENDPOINT]
    assert rendered(second, "reattach_training")[LOGS] == urls("ap-southeast-2", "mlops-second-job", "", "")[LOGS]


def test_links_are_empty_until_the_run_config_exists(serialized_dag: Any, rendered: Rendered) -> None:
    run_id = new_run(serialized_dag, None)
    for task_id in EXPECTED:
        links = rendered(run_id, task_id)
        assert set(links) >= EXPECTED[task_id]
        assert not any(links.values()), (task_id, links)  # "" from get_link is null in the API: the UI hides it


def test_incomplete_config_gives_empty_links(serialized_dag: Any) -> None:
    from airflow.models.taskinstancekey import TaskInstanceKey

    for broken in (
        {"names": NAMES},
        {"region": "eu-west-1"},
        {"region": "eu-west-1", "names": {"job": ""}},
        {"region": 42, "names": NAMES},
        ["not", "a", "dict"],
    ):
        run_id = new_run(serialized_dag, broken)
        task = serialized_dag.get_task("train")
        key = TaskInstanceKey(DAG_ID, "train", run_id, try_number=1)
        assert [task.get_extra_links(_TI(key), name) for name in (JOB, LOGS)] == ["", ""], broken


class _TI:
    def __init__(self, key: Any) -> None:
        self.key = key


def test_names_and_region_are_url_encoded(serialized_dag: Any) -> None:
    from airflow.models.taskinstancekey import TaskInstanceKey

    odd = {"job": "mlops job/1?x=y#z", "model": "mlops model&1", "endpoint": "mlops ep%1"}
    run_id = new_run(serialized_dag, config("eu-west-1&x", **odd))
    expected = urls(
        quote("eu-west-1&x", safe=""),
        quote(odd["job"], safe=""),
        quote(odd["model"], safe=""),
        quote(odd["endpoint"], safe=""),
        cw_job="mlops$2520job$252F1$253Fx$253Dy$2523z",
    )
    for task_id, names in EXPECTED.items():
        task = serialized_dag.get_task(task_id)
        key = TaskInstanceKey(DAG_ID, task_id, run_id, try_number=1)
        assert {name: task.get_extra_links(_TI(key), name) for name in names} == {n: expected[n] for n in names}
    assert "%2F" in expected[JOB] and "%20" in expected[MODEL] and "%25" in expected[ENDPOINT]


def test_other_partitions_use_their_console_domain(serialized_dag: Any) -> None:
    from airflow.models.taskinstancekey import TaskInstanceKey

    for region, domain in (
        ("cn-north-1", "amazonaws.cn"),
        ("us-gov-west-1", "amazonaws-us-gov.com"),
        ("us-west-2", "aws.amazon.com"),
    ):
        run_id = new_run(serialized_dag, config(region))
        key = TaskInstanceKey(DAG_ID, "create_endpoint", run_id, try_number=1)
        link = serialized_dag.get_task("create_endpoint").get_extra_links(_TI(key), ENDPOINT)
        assert link == f"https://console.{domain}/sagemaker/home?region={region}#/endpoints/{NAMES['endpoint']}"


def test_the_utilisation_report_link_opens_its_html_in_the_s3_console(serialized_dag: Any, rendered: Rendered) -> None:
    from airflow.models.xcom import XComModel

    run_id = new_run(serialized_dag, config("eu-west-1"))
    assert not rendered(run_id, "utilisation_report")[UTILISATION]  # no report yet
    uri = "s3://mlops-test-bucket/ch06/output/mlops-job/output/utilisation.html"
    XComModel.set(
        key="return_value",
        value={"html_uri": uri, "rating": "under-used"},
        dag_id=DAG_ID,
        task_id="utilisation_report",
        run_id=run_id,
    )
    assert rendered(run_id, "utilisation_report")[UTILISATION] == (
        "https://console.aws.amazon.com/s3/object/mlops-test-bucket?region=eu-west-1"
        "&prefix=ch06%2Foutput%2Fmlops-job%2Foutput%2Futilisation.html"
    )
    assert not rendered(run_id, "training_result")[UTILISATION]  # only on its own task
