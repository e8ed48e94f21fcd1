"""The production endpoint's off-switch (DAG ``mnist_production_decommission``): deletes the endpoint, the endpoint
configs and models of its deployments, and its two CloudWatch alarms, together — deleting only the endpoint (what a
person does in the console) leaves the rest. Every step tolerates a piece already gone, so a re-run finishes a
half-done decommission.

What belongs to the endpoint: the config it serves and that config's models; every ``mlops-prod-epc-*`` config
whose data capture writes under ``/production/<endpoint>/`` (the deploy DAG's own layout: leftovers of failed or
interrupted deployments); their models; ``mlops-prod-model-*`` models tagged ``mlops:environment=production`` that
no remaining config uses (a deployment interrupted between CreateModel and CreateEndpointConfig); and the alarms
``<endpoint>-invocation-5xx`` / ``<endpoint>-model-latency``. Another production endpoint's configs and models stay.

Only production's own: the endpoint, and every config and model, must be tagged ``mlops:environment=production``
and ``mlops:created-by`` (what ``mnist_deploy_production`` writes) before it is deleted; an endpoint without them
(another run's test endpoint, one made by hand) refuses the whole run before anything is deleted, and a config or
model without them is left. The endpoint's name is typed by the triggerer, so its tags, not its name, decide.

Not gated by ``sagemaker_mlops_production_enabled``: removing production only stops billing, and the switch is
usually already off when someone wants it gone. It is gated instead by a typed confirmation (the endpoint's name),
so a stray trigger deletes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.production import production_config as pc

log = logging.getLogger(__name__)

CONFIG_PREFIX = "mlops-prod-epc"
MODEL_PREFIX = "mlops-prod-model"


def check_confirmation(endpoint_name: str, confirm: str | None) -> None:
    """Refuses unless ``confirm`` repeats the endpoint's name (a typed confirmation, as for deleting a bucket)."""
    if (confirm or "").strip() != endpoint_name:
        raise ParamError(
            "confirm_endpoint_name",
            f"{confirm!r} is not the endpoint's name {endpoint_name!r}; nothing was deleted",
            f"type {endpoint_name} into 'Confirm: endpoint name' to delete it and everything it serves",
        )


def owned_configs(endpoint_name: str, configs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The deploy DAG's configs for ``endpoint_name`` among described ``configs`` (name -> DescribeEndpointConfig):
    an ``mlops-prod-epc-*`` name and data capture under ``/production/<endpoint>/``."""
    marker = f"/production/{endpoint_name}/"
    return sorted(
        name
        for name, described in configs.items()
        if name.startswith(CONFIG_PREFIX)
        and marker in ((described.get("DataCaptureConfig") or {}).get("DestinationS3Uri") or "")
    )


def models_of(configs: Iterable[Mapping[str, Any]]) -> set[str]:
    """The models the described endpoint configs' variants serve."""
    return {variant["ModelName"] for config in configs for variant in config.get("ProductionVariants") or []}


def is_production(sagemaker: Any, arn: str | None) -> bool:
    """Whether the resource is tagged as this package's production (see :func:`pc.production_problem`)."""
    return bool(arn) and pc.production_problem(pc.resource_tags_of(sagemaker, str(arn))) is None


def _model_arn(sagemaker: Any, name: str) -> str | None:
    try:
        return sagemaker.describe_model(ModelName=name)["ModelArn"]
    except sagemaker.exceptions.ClientError as error:
        if "Could not find" not in str(error):
            raise
        return None


def decommission_endpoint(sagemaker: Any, cloudwatch: Any, endpoint_name: str, *, poll_seconds: float) -> dict:
    """Deletes the endpoint (waiting until it is gone), then its configs, models and alarms; returns the endpoint,
    configs and models it removed (pieces already gone are skipped). The alarms are deleted by name: none is left."""
    from sagemaker_mlops.serving import teardown as td

    def describe_configs(prefix: str) -> dict[str, dict[str, Any]]:
        names = [
            summary["EndpointConfigName"]
            for page in sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=prefix)
            for summary in page["EndpointConfigs"]
        ]
        return {name: sagemaker.describe_endpoint_config(EndpointConfigName=name) for name in names}

    removed: dict[str, list[str]] = {"endpoint": [], "endpoint_configs": [], "models": []}
    served_config = None
    try:
        described = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except sagemaker.exceptions.ClientError as error:
        if "Could not find" not in str(error):
            raise
    else:  # before any delete: the endpoint must be production's own (raises NotOwned, nothing deleted)
        pc.check_production(sagemaker, described["EndpointArn"], f"endpoint {endpoint_name}")
        served_config = described["EndpointConfigName"]
    configs = describe_configs(CONFIG_PREFIX)
    if served_config and served_config not in configs:
        try:
            configs[served_config] = sagemaker.describe_endpoint_config(EndpointConfigName=served_config)
        except sagemaker.exceptions.ClientError as error:
            if "Could not find" not in str(error):
                raise
    ours = {
        name
        for name in set(owned_configs(endpoint_name, configs)) | ({served_config} & set(configs))
        if is_production(sagemaker, configs[name].get("EndpointConfigArn"))
    }
    models = models_of(configs[name] for name in ours)

    # The endpoint first: SageMaker keeps a config in use, and the instances stop billing only once it is gone.
    if td.delete_endpoint(sagemaker, endpoint_name, wait_seconds=td.DELETING_SECONDS, poll_seconds=poll_seconds):
        removed["endpoint"].append(endpoint_name)
    for name in sorted(ours):
        if td.delete_endpoint_config(sagemaker, name):
            removed["endpoint_configs"].append(name)
    # Orphans: production models no remaining config serves (other production endpoints' models stay).
    still_used = models_of(described for name, described in configs.items() if name not in ours)
    for page in sagemaker.get_paginator("list_models").paginate(NameContains=MODEL_PREFIX):
        for summary in page["Models"]:
            name = summary["ModelName"]
            if name in models or name in still_used:
                continue
            if is_production(sagemaker, summary["ModelArn"]):
                models.add(name)
    for name in sorted(models - still_used):
        found = _model_arn(sagemaker, name)
        if found is not None and not is_production(sagemaker, found):
            log.warning("Model %s is served by a production config but not tagged as production: left.", name)
            continue
        if td.delete_model(sagemaker, name):
            removed["models"].append(name)
    # AWS: "If you specify any incorrect alarm names, the alarms you specify with correct names are still
    # deleted" — one call, no DescribeAlarms (and no permission for it); afterwards none of these exist.
    # An endpoint that exists was checked to be production's above (else NotOwned, nothing deleted); one already
    # gone (deleted by hand) may still have left its alarms, which bill each month: they go too. Only alarms named
    # after this endpoint are touched (the rollback and drift alarms; IAM allows production's names only).
    cloudwatch.delete_alarms(AlarmNames=pc.all_alarm_names(endpoint_name))
    return removed
