"""The evaluation tasks: unpack the pinned holdout, score the new model (and the champion, once per holdout) with a
batch transform job each, write the baseline beside the model, and stop any transform job the run leaves behind.

A run with no pinned holdout (the Variables unset) is not evaluated: the tasks skip and say so, and
:func:`evaluate` returns ``{"pinned": False}``, which keeps the package PendingManualApproval (a person decides).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowSkipException

from sagemaker_mlops.core.airflow_tasks import (
    AWS_CONN_ID,
    POLL_SECONDS,
    bad_input_fails_fast,
    s3_hook,
    sagemaker_client,
)
from sagemaker_mlops.core.config import RunConfig
from sagemaker_mlops.core.report import estimate_cost, prices
from sagemaker_mlops.evaluation import baseline as bl
from sagemaker_mlops.evaluation import holdout as ho
from sagemaker_mlops.evaluation import scoring, transform_job
from sagemaker_mlops.evaluation import transform_config as tc
from sagemaker_mlops.registry import registry_config as rc

log = logging.getLogger(__name__)
NUM_CLASSES_DEFAULT = 10
TERMINAL = ("Completed", "Failed", "Stopped")


def _pinned() -> ho.PinnedHoldout | None:
    from airflow.sdk import Variable

    return ho.pinned(Variable.get(ho.URI_VARIABLE, default=None), Variable.get(ho.SHA256_VARIABLE, default=None))


def _read_s3(cfg: RunConfig, uri: str, client: Any = None) -> bytes:
    """One object's bytes; pass ``client`` when reading many (a client per object cost minutes per evaluation)."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    return (client or s3_hook(cfg).get_conn()).get_object(Bucket=bucket, Key=key)["Body"].read()


def _load_holdout(cfg: RunConfig, pinned: ho.PinnedHoldout) -> list[ho.HoldoutImage]:
    return ho.read_images(_read_s3(cfg, pinned.uri), pinned)


@task
def prepare_holdout(config: dict[str, Any]) -> dict[str, Any]:
    """Read the admin-pinned holdout, verify its SHA-256, and unpack its labeled images to a prefix addressed by
    that digest (a re-run, or another pipeline, uploads nothing). Unset Variables: ``{"pinned": False}``."""
    cfg = RunConfig.from_dict(config)
    with bad_input_fails_fast():
        pinned = _pinned()
        if pinned is None:
            log.warning("No pinned holdout (%s unset): no evaluation; %s", ho.URI_VARIABLE, ho.PIN_FIX)
            return {"pinned": False, "reason": f"no pinned holdout: Variable {ho.URI_VARIABLE} is not set"}
        images = _load_holdout(cfg, pinned)
    s3 = s3_hook(cfg)
    prefix = ho.input_prefix(cfg.prefix, pinned)
    present = set(s3.list_keys(bucket_name=cfg.bucket, prefix=prefix) or [])
    uploaded = 0
    for image in images:
        key = prefix + image.relpath
        if key not in present:
            s3.load_bytes(image.data, key, bucket_name=cfg.bucket, replace=True)
            uploaded += 1
    log.info(
        "Holdout %s (sha256 %s): %d images, %d uploaded to s3://%s/%s",
        pinned.uri,
        pinned.sha256,
        len(images),
        uploaded,
        cfg.bucket,
        prefix,
    )
    return {
        "pinned": True,
        "uri": pinned.uri,
        "sha256": pinned.sha256,
        "images": len(images),
        "input_uri": f"s3://{cfg.bucket}/{prefix}",
        "input": dict(ho.input_statistics([image.data for image in images])),
    }


def _instance_type() -> str:
    return tc.cheapest_cpu_instance(prices()["inference"])


def _request(cfg: RunConfig, holdout: dict[str, Any], which: str, model_name: str) -> dict[str, Any]:
    name = tc.transform_job_name(cfg.dag_id, cfg.run_id, which)
    return tc.build_transform_request(
        name,
        model_name,
        holdout["input_uri"],
        tc.output_prefix(cfg.bucket, cfg.prefix, name),
        _instance_type(),
        cfg.tags,
    )


def _champion_cache_uri(cfg: RunConfig, training_job: str, sha256: str) -> str:
    return f"s3://{cfg.bucket}/{cfg.prefix.strip('/')}/evaluation/champions/{training_job}/{sha256[:16]}.json"


def cached_champion(cfg: RunConfig, holdout: dict[str, Any], incremental: dict[str, Any]) -> dict[str, Any] | None:
    """The champion's baseline on this holdout, if one exists: its package's own (``baseline_uri``, written when
    it was registered) or one this DAG cached after scoring it earlier. None: it must be scored."""
    candidates = []
    arn = incremental.get("base_model_package_arn")
    if arn:
        package = sagemaker_client(cfg).describe_model_package(ModelPackageName=arn)
        uri = (package.get("CustomerMetadataProperties") or {}).get(rc.META_BASELINE_URI)
        if uri:
            candidates.append(uri)
    job = incremental["base"].get("training_job_name")
    if job:
        candidates.append(_champion_cache_uri(cfg, job, holdout["sha256"]))
    for uri in candidates:
        try:
            found = bl.Baseline.from_json(_read_s3(cfg, uri))
        except Exception as error:
            log.info("No champion baseline at %s (%s)", uri, type(error).__name__)
            continue
        if found.holdout.sha256 == holdout["sha256"]:
            log.info("Champion already scored on this holdout: %s", uri)
            return {**found.to_dict(), "uri": uri}
    return None


@task
def challenger_transform_request(config: dict[str, Any], holdout: dict[str, Any]) -> dict[str, Any]:
    """CreateTransformJob for the new model (the SageMaker Model the test endpoint serves) over the holdout."""
    cfg = RunConfig.from_dict(config)
    if not holdout["pinned"]:
        raise AirflowSkipException(holdout["reason"])
    return _request(cfg, holdout, "challenger", cfg.names["model"])


@task
def champion_transform_request(
    config: dict[str, Any], holdout: dict[str, Any], incremental: dict[str, Any] | None
) -> dict[str, Any]:
    """CreateTransformJob for the champion (the base model), unless it was already scored on this holdout."""
    cfg = RunConfig.from_dict(config)
    if not holdout["pinned"]:
        raise AirflowSkipException(holdout["reason"])
    if not incremental:
        raise AirflowSkipException("no champion to score")
    if cached_champion(cfg, holdout, incremental) is not None:
        raise AirflowSkipException("the champion's score on this holdout is cached: no transform job")
    return _request(cfg, holdout, "champion", cfg.names["base_model"])


def transform_operator(config: Any, request: Any, which: str) -> Any:
    """The provider's SageMakerTransformOperator (polled in the run's region), deferrable; ``transform_<which>``."""
    from sagemaker_mlops.evaluation.operators import RegionalTransformOperator

    return RegionalTransformOperator(
        task_id=f"transform_{which}",
        config=request,
        aws_conn_id=AWS_CONN_ID,
        region_name=config["region"],
        deferrable=True,
        check_interval=POLL_SECONDS,
        max_ingestion_time=tc.MAX_RUNTIME_SECONDS,
        max_attempts=max(1, tc.MAX_RUNTIME_SECONDS // max(POLL_SECONDS, 1)),
        check_if_model_exists=False,
    )


def _job_name(operator_output: dict[str, Any] | None, cfg: RunConfig, which: str) -> str:
    """The job the operator ran (the provider appends a timestamp when a retry finds the name taken)."""
    if operator_output and operator_output.get("Transform"):
        return operator_output["Transform"]["TransformJobName"]
    return tc.transform_job_name(cfg.dag_id, cfg.run_id, which)


def score_job(cfg: RunConfig, holdout: dict[str, Any], images: list[ho.HoldoutImage], job_name: str) -> dict:
    """Read a finished transform job's ``.out`` objects (one per holdout image) and score them against the labels."""
    job = sagemaker_client(cfg).describe_transform_job(TransformJobName=job_name)
    if job["TransformJobStatus"] != "Completed":
        raise RuntimeError(f"transform job {job_name} is {job['TransformJobStatus']}: {job.get('FailureReason')}")
    output = job["TransformOutput"]["S3OutputPath"].rstrip("/") + "/"
    probabilities, s3 = [], s3_hook(cfg).get_conn()
    for image in images:
        uri = f"{output}{image.relpath}.out"
        probabilities.append(scoring.parse_output(_read_s3(cfg, uri, s3), uri))
    num_classes = int(cfg.hyperparameters.get("num_classes") or NUM_CLASSES_DEFAULT)
    scores = scoring.score([image.label for image in images], probabilities, num_classes)
    seconds = (job["TransformEndTime"] - job["TransformStartTime"]).total_seconds()
    resources = job["TransformResources"]
    scores["cost"] = estimate_cost(
        "inference", resources["InstanceType"], resources["InstanceCount"], seconds, cfg.region
    )
    scores["transform_job"] = job_name
    return scores


def make_baseline(
    holdout: dict[str, Any], scores: dict[str, Any], training_job: str, model_data_url: str
) -> bl.Baseline:
    return bl.Baseline.from_dict(
        {
            "schema": bl.SCHEMA,
            "holdout": {"uri": holdout["uri"], "sha256": holdout["sha256"], "images": holdout["images"]},
            "training_job": training_job,
            "model_data_url": model_data_url,
            "accuracy": scores["accuracy"],
            "per_class": scores["per_class"],
            "confusion": scores["confusion"],
            "class_mix": scores["class_mix"],
            "mean_top1_confidence": min(1.0, scores["mean_top1_confidence"]),
            "input": holdout["input"],
            "created_at": bl.Baseline.__dataclass_fields__["created_at"].default_factory(),
        }
    )


@task(trigger_rule="none_failed")
def evaluate(
    config: dict[str, Any],
    result: dict[str, Any],
    holdout: dict[str, Any],
    incremental: dict[str, Any] | None = None,
    challenger_job: dict[str, Any] | None = None,
    champion_job: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score the transform jobs' outputs; write the new model's baseline beside it (the package's ModelMetrics and
    the drift monitor's baseline) and the champion's in this DAG's cache. ``{"pinned": False}`` without a holdout;
    skipped when prepare_holdout was (NONE_FAILED runs it even when every upstream task skipped: a run with no base
    model, or an automatic run with no dataset pinned, trains nothing and must stay skipped, not fail here)."""
    if holdout is None or config is None:
        raise AirflowSkipException("prepare_holdout was skipped: nothing was trained or evaluated")
    cfg = RunConfig.from_dict(config)
    if not holdout or not holdout.get("pinned"):
        return {"pinned": False, "reason": (holdout or {}).get("reason", "no pinned holdout")}
    with bad_input_fails_fast():
        images = _load_holdout(cfg, ho.PinnedHoldout(holdout["uri"], holdout["sha256"]))
    s3 = s3_hook(cfg)
    scores = score_job(cfg, holdout, images, _job_name(challenger_job, cfg, "challenger"))
    challenger = make_baseline(holdout, scores, result["training_job_name"], result["model_artifact"])
    uri = result["model_artifact"].rsplit("/", 1)[0] + "/baseline.json"
    s3.load_string(challenger.to_json(), uri, replace=True)
    out: dict[str, Any] = {
        "pinned": True,
        "holdout": challenger.to_dict()["holdout"],
        "challenger": {
            **challenger.to_dict(),
            "uri": uri,
            "transform_job": scores["transform_job"],
            "cost": scores["cost"],
        },
        "champion": None,
    }
    log.info(
        "New model on the holdout: accuracy %.4f, mean top-1 confidence %.3f (%s)",
        challenger.accuracy,
        challenger.mean_top1_confidence,
        uri,
    )
    if incremental:
        champion = cached_champion(cfg, holdout, incremental)
        if champion is None:
            base = incremental["base"]
            job = base.get("training_job_name") or base["model_uri"]
            champ_scores = score_job(cfg, holdout, images, _job_name(champion_job, cfg, "champion"))
            baseline = make_baseline(holdout, champ_scores, job, base["model_uri"])
            cache = _champion_cache_uri(cfg, job, holdout["sha256"])
            s3.load_string(baseline.to_json(), cache, replace=True)
            champion = {**baseline.to_dict(), "uri": cache, "transform_job": champ_scores["transform_job"]}
        out["champion"] = champion
        log.info("Champion on the holdout: accuracy %.4f (%s)", champion["accuracy"], champion["uri"])
    return out


@task
def stop_transform_jobs(config: dict[str, Any]) -> list[str]:
    """Teardown: stop every transform job of this run still running (the task killed, or the run failed), wait
    until each is Stopped (instances bill until then). Idempotent; matches the provider's timestamped retries."""
    import time

    cfg = RunConfig.from_dict(config)
    client = sagemaker_client(cfg)
    stopped = []
    for which in tc.KINDS:
        base = tc.transform_job_name(cfg.dag_id, cfg.run_id, which)
        for status in ("InProgress", "Stopping"):
            pages = client.get_paginator("list_transform_jobs").paginate(NameContains=base, StatusEquals=status)
            for page in pages:
                for job in page["TransformJobSummaries"]:
                    name = job["TransformJobName"]
                    owner = (cfg.dag_id, cfg.run_id)
                    if status == "InProgress" and transform_job.stop_if_running(client, name, owner=owner):
                        log.warning("Stopped transform job %s", name)
                    stopped.append(name)
    deadline = time.monotonic() + tc.STOP_WAIT_SECONDS
    for name in stopped:
        while time.monotonic() < deadline:
            if client.describe_transform_job(TransformJobName=name)["TransformJobStatus"] in TERMINAL:
                break
            time.sleep(min(POLL_SECONDS, 10))
    return stopped


def baseline_summary(evaluation: dict[str, Any] | None) -> str:
    """One line for logs and reports."""
    if not evaluation or not evaluation.get("pinned"):
        return "not evaluated (no pinned holdout)"
    return json.dumps({"accuracy": evaluation["challenger"]["accuracy"], "holdout": evaluation["holdout"]})


class HoldoutEvaluation:
    """The evaluation's tasks in a DAG: ``holdout`` (prepare), the transform ``requests`` (the set-ups of ``stop``),
    the ``transforms`` (after the SageMaker models exist), ``evaluation`` (the scores) and the teardown ``stop``."""

    def __init__(self, config: Any, result: Any, incremental: Any = None) -> None:
        from sagemaker_mlops.core.airflow_tasks import teardown_of

        self.holdout = prepare_holdout(config)
        # After training: nothing to evaluate before (a run that trains nothing skips it), and the run's bucket
        # exists by then (the dataset upload creates it).
        result >> self.holdout
        challenger = challenger_transform_request(config, self.holdout)
        self.requests = [challenger]
        self.transforms = [transform_operator(config, challenger, "challenger")]
        champion_output = None
        if incremental is not None:
            champion = champion_transform_request(config, self.holdout, incremental)
            self.requests.append(champion)
            self.transforms.append(transform_operator(config, champion, "champion"))
            champion_output = self.transforms[1].output
        self.evaluation = evaluate(
            config, result, self.holdout, incremental, self.transforms[0].output, champion_output
        )
        # The set-ups are the requests and the scope only the transforms: a skipped set-up skips every task in its
        # scope whatever its trigger rule, and Airflow wants a set-up's direct downstream ALL_SUCCESS, while
        # evaluate (NONE_FAILED) must run and say "not pinned" or "cached" when requests skip. So evaluate stays
        # outside the scope; it reads only Completed jobs' outputs, which stopping could not change.
        self.stop = teardown_of(stop_transform_jobs(config), setups=self.requests)
        self.transforms >> self.stop
