"""Console links on the pipeline's tasks: the run's SageMaker training job, its CloudWatch logs, tuning job (pipeline
3), model and endpoint.

How Airflow 3.3 shows them: the API server loads the DAG from its serialized form and attaches each plugin link in
``operator_extra_links`` to every task whose ``task_type`` (class name) and ``_task_module`` equal one of the link's
``operators`` exactly (subclasses are not matched), then calls ``link.get_link(task, ti_key=...)`` on every view.
Nothing runs on the worker and nothing is stored, so a link always reflects the run's current config XCom (the
deterministic names of ``validate_and_preflight``), also after a retry or a clear; it is "" until that XCom exists.

``@task`` tasks are all ``_PythonDecoratedOperator``: the links are attached to that class and answer only for the
task ids named below (the others get "", which the UI does not show). ``operators`` holds stand-ins named like the
real classes, since only name and module are compared: the DAG folder (``ExplainedTrainingOperator``) is not on the
API server's sys.path, and importing the provider's operators would load boto3 there for nothing.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

CONFIG_TASK = "validate_and_preflight"
DECORATED = "airflow.providers.standard.decorators.python._PythonDecoratedOperator"
TRAINING = (
    "airflow.providers.amazon.aws.operators.sagemaker.SageMakerTrainingOperator",
    "sagemaker_mlops.training.operators.ExplainedTrainingOperator",
    "airflow.providers.amazon.aws.sensors.sagemaker.SageMakerTrainingSensor",
)
TUNING = (
    "airflow.providers.amazon.aws.operators.sagemaker.SageMakerTuningOperator",
    "sagemaker_mlops.tuning.operators.ExplainedTuningOperator",
    "airflow.providers.amazon.aws.sensors.sagemaker.SageMakerTuningSensor",
)
MODEL = ("airflow.providers.amazon.aws.operators.sagemaker.SageMakerModelOperator",)
ENDPOINT = (
    "airflow.providers.amazon.aws.operators.sagemaker.SageMakerEndpointOperator",
    "sagemaker_mlops.serving.operators.RegionalEndpointOperator",
)


def _operator(path: str) -> type:
    """A class that plugin link matching takes for the operator at ``path`` (it compares __module__, __name__)."""
    module, _, name = path.rpartition(".")
    return type(name, (), {"__module__": module})


def _xcom(ti_key: Any, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.scalar(
            XComModel.get_many(
                key=key, run_id=ti_key.run_id, dag_ids=ti_key.dag_id, task_ids=task_id, map_indexes=-1
            ).with_only_columns(XComModel.value)
        )


def _trained_job(ti_key: Any) -> str | None:
    """The job the run actually trained (a capacity retry's ``-a<n>`` attempt): XCom of train, else start_or_attach."""
    for task_id in ("train", "start_or_attach"):
        value = _xcom(ti_key, task_id, "training_job_name")
        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        if isinstance(value, str) and value:
            return value
    return None


def _run_config(ti_key: Any, task_id: str = CONFIG_TASK) -> dict[str, Any]:
    """The run's validate_and_preflight XCom (or ``task_id``'s), read from the metadata DB ({} when absent or
    unreadable)."""
    value = _xcom(ti_key, task_id, "return_value")
    if isinstance(value, (str, bytes)):  # stored by serialize_value as a JSON document; the Execution API stores JSON
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _console(region: str) -> str:
    domain = {"cn": "amazonaws.cn", "us-gov": "amazonaws-us-gov.com"}.get(region.rsplit("-", 2)[0], "aws.amazon.com")
    return f"https://console.{domain}"


def _cloudwatch(text: str) -> str:
    """A value inside the CloudWatch console's #logsV2 fragment: URL-encoded twice, then "%" written as "$"."""
    return quote(quote(text, safe=""), safe="").replace("%", "$")


def _operators(*paths: str) -> list[type]:
    return [_operator(path) for path in (*paths, DECORATED)]


class _RunConfigLink(BaseOperatorLink):
    """A console page of one of the run's resources, named in the run config's ``names[resource]``."""

    name: ClassVar[str]
    resource: ClassVar[str]
    decorated_task_ids: ClassVar[frozenset[str]]  # the @task tasks that show this link

    def url(self, region: str, name: str) -> str:
        raise NotImplementedError

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if (
            getattr(operator, "task_type", None) == DECORATED.rpartition(".")[2]
            and ti_key.task_id not in self.decorated_task_ids
        ):
            return ""
        try:
            config = _run_config(ti_key)
            region, name = config.get("region"), (config.get("names") or {}).get(self.resource)
            if self.resource == "job":
                name = _trained_job(ti_key) or name
        except Exception:  # a link must never break the task view
            return ""
        if not (isinstance(region, str) and region and isinstance(name, str) and name):
            return ""
        return self.url(region, name)


class _SageMakerLink(_RunConfigLink):
    page: ClassVar[str]

    def url(self, region: str, name: str) -> str:
        return f"{_console(region)}/sagemaker/home?region={quote(region, safe='')}#/{self.page}/{quote(name, safe='')}"


class TrainingJobLink(_SageMakerLink):
    name = "SageMaker training job"
    resource, page = "job", "jobs"
    operators, decorated_task_ids = _operators(*TRAINING), frozenset({"training_result"})


class TrainingLogsLink(_RunConfigLink):
    name = "Training job logs (CloudWatch)"
    resource = "job"
    operators, decorated_task_ids = _operators(*TRAINING), frozenset({"training_result"})

    def url(self, region: str, name: str) -> str:
        return (
            f"{_console(region)}/cloudwatch/home?region={quote(region, safe='')}#logsV2:log-groups/log-group/"
            f"{_cloudwatch('/aws/sagemaker/TrainingJobs')}$3FlogStreamNameFilter$3D{_cloudwatch(name)}"
        )


class TuningJobLink(_SageMakerLink):
    name = "SageMaker tuning job"
    resource, page = "tuning_job", "hyper-tuning-jobs"
    operators, decorated_task_ids = _operators(*TUNING), frozenset({"tuning_result"})


class ModelLink(_SageMakerLink):
    name = "SageMaker model"
    resource, page = "model", "models"
    operators, decorated_task_ids = _operators(*MODEL), frozenset({"smoke_test"})


class EndpointLink(_SageMakerLink):
    name = "SageMaker endpoint"
    resource, page = "endpoint", "endpoints"
    operators, decorated_task_ids = _operators(*ENDPOINT), frozenset({"smoke_test"})


class UtilisationReportLink(BaseOperatorLink):
    """The utilisation report's HTML (stored next to the model) in the S3 console, from that task's own XCom."""

    name = "Utilisation report (S3)"
    operators: ClassVar[list[type]] = [_operator(DECORATED)]
    task_id: ClassVar[str] = "utilisation_report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if ti_key.task_id != self.task_id:
            return ""
        try:
            uri, region = _run_config(ti_key, self.task_id).get("html_uri"), _run_config(ti_key).get("region")
        except Exception:  # a link must never break the task view
            return ""
        if not (isinstance(uri, str) and uri.startswith("s3://") and isinstance(region, str) and region):
            return ""
        bucket, _, key = uri[5:].partition("/")
        return (
            f"{_console(region)}/s3/object/{quote(bucket, safe='')}?region={quote(region, safe='')}"
            f"&prefix={quote(key, safe='')}"
        )


class SageMakerConsoleLinksPlugin(AirflowPlugin):
    name = "sagemaker_console_links"
    operator_extra_links: ClassVar[list] = [
        TrainingJobLink(),
        TrainingLogsLink(),
        TuningJobLink(),
        ModelLink(),
        EndpointLink(),
        UtilisationReportLink(),
    ]
