"""The task of ``mnist_production_decommission`` (a file of its own beside tasks.py: the deploy DAG's tasks stay
as they are)."""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException

from sagemaker_mlops.core.airflow_tasks import POLL_SECONDS
from sagemaker_mlops.core.tags import NotOwned
from sagemaker_mlops.core.validation import ParamError, validate_region
from sagemaker_mlops.production import decommission as dc
from sagemaker_mlops.production.tasks import ENABLED_VARIABLE, _clients, _enabled

log = logging.getLogger(__name__)


@task
def decommission(**context: Any) -> dict[str, Any]:
    """Typed confirmation, then the endpoint, its configs, models and alarms deleted together (see decommission)."""
    from airflow.sdk import Variable

    from sagemaker_mlops.core.dag_params import declared_params
    from sagemaker_mlops.core.validation import refuse_undeclared

    params, dag_run = context["params"], context["dag_run"]
    endpoint = params["endpoint_name"]
    try:  # before anything else: Airflow passes undeclared conf keys on unvalidated
        refuse_undeclared(dag_run.conf or {}, declared_params(context), dag_run.dag_id)
        dc.check_confirmation(endpoint, params.get("confirm_endpoint_name"))
        region = params.get("region") or Variable.get("sagemaker_mlops_region", default=None)
        region = validate_region(region) if region else None
    except ParamError as error:
        raise AirflowFailException(str(error)) from error
    sagemaker, cloudwatch, _, region = _clients(region)
    try:
        removed = dc.decommission_endpoint(sagemaker, cloudwatch, endpoint, poll_seconds=POLL_SECONDS)
    except NotOwned as error:  # not production's endpoint: nothing was deleted, and a retry would not change that
        raise AirflowFailException(str(error)) from error
    still_on = _enabled(Variable.get(ENABLED_VARIABLE, default=None))
    summary = {"endpoint": endpoint, "region": region, "removed": removed, "production_enabled": still_on}
    log.info("Decommissioned %s: %s", endpoint, json.dumps(summary, indent=2))
    if still_on:
        log.warning(
            "The Variable %s is still true: the next promotion deploys %s again. Set it to false (or pause "
            "mnist_deploy_production) to keep production off.",
            ENABLED_VARIABLE,
            endpoint,
        )
    return summary
