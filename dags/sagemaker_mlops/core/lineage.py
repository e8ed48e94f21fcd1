"""OpenLineage for the ``@task`` functions that call AWS through plain hooks.

The provider's SageMaker training, processing and transform operators describe their inputs and outputs to
OpenLineage (``get_openlineage_facets_on_complete``); a ``@task`` that uploads a dataset or registers a model
package with a hook describes nothing, and the hook-level collector cannot name a model package (it keeps only
Airflow Assets, and no provider converts an ``arn:`` Asset). :func:`report` gives the running task the same method
the provider's operators have, built from what the task actually did (its result, never the params): the
OpenLineage listener calls it when the task succeeds, through the provider's ``DefaultExtractor``.

Dataset names follow OpenLineage's naming conventions: ``s3://bucket`` + key for S3; for an AWS resource the
pattern OpenLineage uses for Glue, ``arn:aws:<service>:<region>:<account>`` + ``<resource-type>/<id>``
(``training-job/<name>``, ``model-package/<group>/<version>``). Without the OpenLineage provider, or with it
disabled, nothing calls the method and :func:`report` costs an attribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# The facet a task's event carries naming the AWS job it ran or followed (OpenLineage's standard run facet for
# "this run is that external job": BigQuery's job ids use it too).
EXTERNAL_JOB_SOURCE = "sagemaker"


def dataset_name(uri: str) -> tuple[str, str]:
    """(namespace, name) of a dataset URI under OpenLineage's naming: ``s3://bucket/key/`` -> (``s3://bucket``,
    ``key``); an ARN -> (``arn:aws:<service>:<region>:<account>``, ``<resource>``); another URL -> (scheme://host,
    path). A URI that is none of these is refused, naming it (a task must report what it touched, exactly)."""
    if uri.startswith("arn:"):
        parts = uri.split(":", 5)
        if len(parts) != 6 or not parts[5]:
            raise ValueError(f"{uri!r} is not an ARN (arn:partition:service:region:account:resource)")
        return ":".join(parts[:5]), parts[5]
    split = urlsplit(uri)
    if not split.scheme or not split.netloc:
        raise ValueError(f"{uri!r} is neither an ARN nor a URL with a scheme and a host (s3://bucket/key)")
    if split.scheme == "s3":
        return f"s3://{split.netloc}", split.path.strip("/")
    return f"{split.scheme}://{split.netloc}", split.path or "/"


def arn_region_account(arn: str) -> tuple[str, str, str]:
    """(partition, region, account) of an ARN, for naming another resource of the same account."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        raise ValueError(f"{arn!r} is not an ARN")
    return parts[1], parts[3], parts[4]


@dataclass(frozen=True)
class TaskLineage:
    """What one task run read and wrote (dataset URIs/ARNs), and the AWS job it ran, as OpenLineage sees it."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    external_jobs: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for uri in (*self.inputs, *self.outputs):
            dataset_name(uri)  # a bad name fails in the task, not silently in the listener

    def get_openlineage_facets_on_complete(self, task_instance: Any = None) -> Any:
        """The provider's operator protocol: an ``OperatorLineage`` of this run's datasets (imported here: only the
        OpenLineage listener calls it, and only when the provider is installed)."""
        from airflow.providers.common.compat.openlineage.facet import Dataset, ExternalQueryRunFacet
        from airflow.providers.openlineage.extractors import OperatorLineage

        def datasets(uris: Iterable[str]) -> list[Any]:
            return [Dataset(namespace=ns, name=name) for ns, name in (dataset_name(u) for u in dict.fromkeys(uris))]

        run_facets: dict[str, Any] = {}
        for job in self.external_jobs[:1]:  # one facet per key: the job this task ran
            run_facets["externalQuery"] = ExternalQueryRunFacet(externalQueryId=job, source=EXTERNAL_JOB_SOURCE)
        return OperatorLineage(inputs=datasets(self.inputs), outputs=datasets(self.outputs), run_facets=run_facets)


def report(
    context: Mapping[str, Any],
    *,
    inputs: Iterable[str] = (),
    outputs: Iterable[str] = (),
    external_job: str | None = None,
) -> TaskLineage:
    """Attach this run's lineage to the running task (``context["task"]``, the object the OpenLineage listener reads
    when the task ends): call it last in a ``@task`` with the URIs the task really read and wrote."""
    lineage = TaskLineage(tuple(inputs), tuple(outputs), (external_job,) if external_job else ())
    task = context.get("task")
    if task is not None:
        task.get_openlineage_facets_on_complete = lineage.get_openlineage_facets_on_complete
    return lineage
