"""
### The reaper: nothing the pipelines created keeps billing

Hourly, it lists the SageMaker endpoints, endpoint configs, models, tuning jobs and training jobs named `mlops-…`
that carry the package's tags (`mlops:created-by` and the owning DAG run's id and token), and

* never removes what a DAG run still running uses;
* deletes the endpoints, endpoint configs and models that expired — 24 h (Variable
  `sagemaker_mlops_reaper_ttl_hours`) after their *deployment*, or at their `mlops:expires-at` if later — an
  endpoint kept with *Keep the endpoint* included, except an endpoint still Creating/Updating (retried next run);
* deletes earlier an endpoint that served no `Invocations` for 3 h (Variable `sagemaker_mlops_reaper_idle_hours`,
  0: off); the production endpoint is never deleted, only reported with its cost per day and idle time;
* stops tuning and training jobs still running whose DAG run is no longer running (a killed worker, a run marked
  failed), or, when that run is unknown here, once they have expired. A tuning job's trials stop with it: they are
  never stopped on their own (their tuning job would launch the next).

It never touches a resource without the package's tag, and never deletes a job (ended jobs do not bill and are
the lineage of published models). The report prices everything (USD per hour, core's price table).
`make reap` runs the same sweep from a laptop. **Dry run** (on by default for manual triggers) only lists what it would
do; scheduled runs act. The Variable `sagemaker_mlops_reaper_dry_run` = `true` makes *every* run a dry run, a manual
one with *Dry run* off included. Each run logs a JSON report (found, removed, kept and why) and stores it in
`s3://<Variable sagemaker_mlops_bucket>/reaper/` (not a form field); a delete or stop that fails fails the run,
after the others were tried.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from sagemaker_mlops.core.dag_params import keep_params_on_dag

AWS_CONN_ID = "aws_default"
REPORT_PREFIX = "reaper"  # s3://<Variable sagemaker_mlops_bucket>/reaper/: fixed, the form cannot move it


@task
def reap(**context) -> dict:
    """List the package's resources, price them and read endpoints' use, decide (pure rules in
    sagemaker_mlops.reaper), act unless dry, report (the same sweep as ``make reap``)."""
    import json
    import logging
    from datetime import UTC

    from airflow.exceptions import AirflowFailException
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
    from airflow.sdk import Variable
    from botocore.exceptions import ClientError

    from sagemaker_mlops.core.dag_params import declared_params
    from sagemaker_mlops.core.naming import run_token
    from sagemaker_mlops.core.validation import (
        ParamError,
        refuse_undeclared,
        validate_bucket_name,
        validate_region,
    )
    from sagemaker_mlops.reaper import rules as reaper
    from sagemaker_mlops.reaper import sweep

    log = logging.getLogger("sagemaker_mlops.reaper")
    params, dag_run, ti = context["params"], context["dag_run"], context["ti"]
    try:
        refuse_undeclared(dag_run.conf or {}, declared_params(context), dag_run.dag_id)  # unvalidated otherwise
        region = params.get("region") or Variable.get("sagemaker_mlops_region", default=None)
        region = validate_region(region) if region else None
        # The admin's bucket and a fixed prefix, never the form's: a report written into another prefix (e.g. a
        # content-addressed dataset's channel) would poison every later run that reads it.
        bucket = Variable.get("sagemaker_mlops_bucket", default=None)
        bucket = validate_bucket_name(bucket, "sagemaker_mlops_bucket") if bucket else None
        prefix = REPORT_PREFIX
    except ParamError as error:
        raise AirflowFailException(str(error)) from error
    dry_run = reaper.is_dry_run(
        dag_run.run_type, params.get("dry_run"), Variable.get(reaper.DRY_RUN_VARIABLE, default=None)
    )
    try:
        policy = reaper.policy_from(
            Variable.get(reaper.TTL_VARIABLE, default=None), Variable.get(reaper.IDLE_VARIABLE, default=None)
        )
    except ParamError as error:
        raise AirflowFailException(str(error)) from error
    hook = SageMakerHook(aws_conn_id=AWS_CONN_ID, region_name=region)
    sagemaker, region = hook.conn, region or hook.conn_region_name
    cloudwatch = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="cloudwatch", region_name=region).conn

    def run_state(dag_id: str, run_id: str) -> str | None:
        """The owning run's state through the Task SDK (the execution API: tasks have no ORM in Airflow 3)."""
        if not ti.get_dr_count(dag_id=dag_id, run_ids=[run_id]):
            return None
        return str(getattr(state := ti.get_dagrun_state(dag_id=dag_id, run_id=run_id), "value", state))

    now = datetime.now(UTC)
    result = sweep.sweep(
        sagemaker, cloudwatch, now=now, region=region, run_state=run_state, policy=policy, dry_run=dry_run
    )
    text = json.dumps(result, indent=2, sort_keys=True)
    log.info("Reaper report (%s):\n%s", "dry run" if dry_run else "acted", text)
    if bucket:
        key = f"{prefix}/{now:%Y-%m-%dT%H%M%SZ}-{run_token(dag_run.dag_id, dag_run.run_id)}.json"
        try:
            S3Hook(aws_conn_id=AWS_CONN_ID, region_name=region).load_string(text, key, bucket_name=bucket, replace=True)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise  # transient or permissions: the retry may help, the log says which
            # A fresh install: the Variable names the bucket pipeline 1 creates on its first run.
            log.warning("Bucket %s (Variable sagemaker_mlops_bucket) does not exist yet: report only logged.", bucket)
        else:
            result["report_uri"] = f"s3://{bucket}/{key}"
            log.info("Report stored at %s", result["report_uri"])
    else:
        log.warning("No report bucket (Variable sagemaker_mlops_bucket): report only logged.")
    if result["failed"]:
        raise AirflowFailException(
            f"{result['failed']} of {result['to_remove']} removals failed: "
            + "; ".join(f"{e['kind']} {e['name']}: {e['outcome']}" for e in result["errors"])
        )
    return result


with DAG(
    dag_id="sagemaker_mlops_reaper",
    description="Removes expired mlops-tagged SageMaker resources and stops orphaned tuning and training jobs",
    doc_md=__doc__,
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "dry_run": Param(
            True,
            type="boolean",
            title="Dry run",
            description="Only list what would be removed (manual triggers; scheduled runs act). The Variable "
            "sagemaker_mlops_reaper_dry_run = true makes every run a dry run, whatever this says.",
        ),
        "region": Param(
            None,
            type=["null", "string"],
            title="AWS region",
            description="Empty: Variable sagemaker_mlops_region, else the AWS connection's region.",
        ),
    },
    # Deletes are idempotent, so a retry is safe; a failed removal (AirflowFailException) is not retried.
    # execution_timeout: each endpoint it deletes may take ~11 minutes to be gone (serving/teardown.py)
    default_args={
        "owner": "ml-platform",
        "retries": 1,
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(hours=3),
    },
    tags=["sagemaker", "cost-control", "teardown"],
) as dag:
    reap()

keep_params_on_dag(dag)  # the form's Params stay on the DAG; tasks read them from it at run time
