"""The setup check's task: reads the account through the connection (read-only calls: nothing is created or
billed), builds the checklist (:mod:`.checks`), logs it, stores it as HTML and JSON in the bucket (like the
utilisation report) and fails the run, listing every required line that needs a fix, when one does."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import task

from sagemaker_mlops.core import images
from sagemaker_mlops.setup_check import checks as sc

log = logging.getLogger(__name__)

AWS_CONN_ID = "aws_default"
TASK_ID = "setup_check"
XCOM_KEY = "setup_check"
_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError")


def _code(error: Exception) -> str:
    return str((getattr(error, "response", {}) or {}).get("Error", {}).get("Code", ""))


def _role_lines(iam: Any, role_arn: str, buckets: list[str], region: str, account: str, image: str | None) -> list:
    from botocore.exceptions import ClientError

    name = role_arn.rsplit("/", 1)[-1]
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as error:
        if _code(error) == "NoSuchEntity":
            return [
                sc.line(
                    "role",
                    "SageMaker execution role",
                    sc.FIX,
                    f"{role_arn} does not exist",
                    "deploy the stack (its output SageMakerExecutionRoleArn) or create the role, then set the "
                    "Variable sagemaker_mlops_role_arn to its ARN",
                )
            ]
        if _code(error) in _DENIED:
            return [
                sc.line(
                    "role",
                    "SageMaker execution role",
                    sc.WARN,
                    f"cannot read {name} ({_code(error)})",
                    f"grant the Airflow role iam:GetRole on {role_arn}, or check the role in the IAM console",
                    required=False,
                )
            ]
        raise
    out = [sc.line("role", "SageMaker execution role", sc.OK, role["Arn"])]
    if role["Arn"] != role_arn:
        out[0] = sc.line(
            "role",
            "SageMaker execution role",
            sc.FIX,
            f"a role named {name} exists as {role['Arn']}, not {role_arn}",
            "set sagemaker_mlops_role_arn to the role's ARN (path included)",
        )
    out.append(sc.trust_line(name, role["AssumeRolePolicyDocument"]))
    results: list[dict[str, Any]] = []
    try:
        for actions, resources, context in sc.permission_checks(buckets, region, account, image):
            kwargs: dict[str, Any] = {"PolicySourceArn": role["Arn"], "ActionNames": actions}
            if resources != ["*"]:
                kwargs["ResourceArns"] = resources
            if context:
                kwargs["ContextEntries"] = context
            results += iam.simulate_principal_policy(**kwargs)["EvaluationResults"]
    except ClientError as error:
        if _code(error) not in _DENIED:
            raise
        out.append(
            sc.line(
                "role:permissions",
                "Role's permissions",
                sc.WARN,
                f"the IAM policy simulator is not allowed here ({_code(error)})",
                f"grant the Airflow role iam:SimulatePrincipalPolicy on {role_arn}, or compare the role's policy "
                f"with {sc.ROLE_POLICY_FILE} by hand",
                required=False,
            )
        )
        return out
    out.append(sc.permission_line(name, results))
    return out


def _bucket_lines(s3: Any, label: str, bucket: str, *, versioning_required: bool) -> list:
    from botocore.exceptions import ClientError

    def read(call: Any, missing: str) -> Any:
        try:
            return call()
        except ClientError as error:
            if _code(error) == missing:
                return None
            raise

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        status = (getattr(error, "response", {}) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        exists: bool | str = (
            f"exists but this connection may not use it (HTTP {status}): another account's, or no s3:ListBucket"
            if status == 403
            else False
        )
        return sc.bucket_lines(
            label,
            bucket,
            exists=exists,
            encryption=None,
            public_access_block=None,
            versioning=None,
            versioning_required=versioning_required,
        )
    try:
        encryption = read(
            lambda: s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"],
            "ServerSideEncryptionConfigurationNotFoundError",
        )
        block = read(
            lambda: s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
            "NoSuchPublicAccessBlockConfiguration",
        )
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as error:
        if _code(error) not in _DENIED:
            raise
        return [
            sc.line(f"bucket:{label}", f"Bucket {bucket} ({label})", sc.OK, "exists"),
            sc.line(
                f"bucket:{label}:settings",
                f"{bucket}: settings",
                sc.WARN,
                f"cannot read its encryption, public access block or versioning ({_code(error)})",
                "grant the Airflow role s3:GetEncryptionConfiguration, s3:GetBucketPublicAccessBlock and "
                "s3:GetBucketVersioning on it, or check them in the S3 console",
                required=False,
            ),
        ]
    return sc.bucket_lines(
        label,
        bucket,
        exists=True,
        encryption=encryption,
        public_access_block=block,
        versioning=versioning,
        versioning_required=versioning_required,
    )


def _quota_lines(client: Any, params: dict[str, Any], region: str, production_on: bool) -> list:
    from botocore.exceptions import ClientError

    from sagemaker_mlops.training import preflight

    try:
        quotas = preflight.sagemaker_quotas(client)
    except ClientError as error:
        if _code(error) not in (*_DENIED, "NoSuchResourceException"):
            raise
        return [
            sc.line(
                "quotas",
                "Service Quotas",
                sc.WARN,
                f"cannot read SageMaker's quotas ({_code(error)})",
                "grant the Airflow role servicequotas:ListServiceQuotas and servicequotas:ListAWSDefaultServiceQuotas",
                required=False,
            )
        ]
    training = params["training_instance_type"]
    needs = [
        ("training", training, "training", True),
        ("spot_training", training, "spot", True),
        ("test_endpoint", params["inference_instance_type"], "endpoint", True),
        ("production_endpoint", params["production_instance_type"], "endpoint", production_on),
    ]
    return sc.quota_lines(quotas, needs, region)


def _reaper_line(context: dict[str, Any]) -> dict[str, Any]:
    """Through the Task SDK (``RuntimeTaskInstance.get_dag``, the execution API's GET /dags/{dag_id})."""
    try:
        return sc.reaper_line(bool(context["ti"].get_dag(sc.REAPER_DAG_ID).is_paused))
    except Exception as error:  # not parsed yet, or an Airflow without the call: say so, do not fail the check
        return sc.reaper_line(None, f"{type(error).__name__}: {error}")


@task(task_id=TASK_ID)
def setup_check(**context: Any) -> dict[str, Any]:
    """The checklist (see the module docstring); fails listing every required line that needs a fix."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException
    from botocore.exceptions import BotoCoreError, ClientError

    from sagemaker_mlops.core.dag_params import declared_params
    from sagemaker_mlops.core.validation import ParamError, refuse_undeclared

    params, dag_run = context["params"], context["dag_run"]
    try:  # before anything else: Airflow passes undeclared conf keys on unvalidated
        refuse_undeclared(dag_run.conf or {}, declared_params(context), dag_run.dag_id)
    except ParamError as error:
        raise AirflowFailException(str(error)) from error
    values = {name: Variable.get(name, default=None) for name in sc.VARIABLES}
    lines = sc.variable_lines(values)
    region = params.get("region") or values["sagemaker_mlops_region"] or None
    connection_hook = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="sts")
    region = region or connection_hook.conn_region_name
    known = connection_hook.get_session().get_available_regions("sagemaker")
    # An unknown region has no endpoints: every regional line waits until it is fixed (one FIX line says how).
    region_ok = region in known
    sts_hook = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="sts", region_name=region if region_ok else None)
    account = None
    try:
        identity = sts_hook.conn.get_caller_identity()
        account = identity["Account"]
        endpoint = (sts_hook.conn_config.endpoint_url or "") if sts_hook.conn_config else ""
        where = f"; endpoint_url {endpoint} (a local emulator, not AWS)" if endpoint else ""
        lines.insert(0, sc.line("connection", f"Connection {AWS_CONN_ID}", sc.OK, f"{identity['Arn']}{where}"))
    except (ClientError, BotoCoreError) as error:
        lines.insert(
            0,
            sc.line(
                "connection",
                f"Connection {AWS_CONN_ID}",
                sc.FIX,
                f"cannot call AWS with it: {error}",
                "on MWAA it uses the execution role (leave login/password empty); elsewhere give keys or a profile "
                "in Admin → Connections; never set endpoint_url on a real account",
            ),
        )
    lines[1:1] = sc.region_lines(region, known)
    if not region_ok:
        lines.append(
            sc.line(
                "regional",
                "Buckets, role permissions, quotas",
                sc.WARN,
                f"not checked: {region!r} is not a SageMaker region",
                "fix the region line, then run the check again",
                required=False,
            )
        )
        lines.append(_reaper_line(context))
        return _finish(context, values, lines, None, account, region)
    try:
        image = images.training_image_uri(region) if region else None
    except ValueError:
        image = None

    s3 = S3Hook(aws_conn_id=AWS_CONN_ID, region_name=region).conn
    buckets = []
    broken = {e["id"] for e in lines if e["status"] == sc.FIX}
    for label, name in (("data", "sagemaker_mlops_bucket"), ("incremental", "sagemaker_mlops_incremental_bucket")):
        bucket = (values[name] or "").strip()
        if bucket and f"variable:{name}" not in broken:
            buckets.append(bucket)
            lines += _bucket_lines(s3, label, bucket, versioning_required=False)
    if params.get("source_bucket"):
        lines += _bucket_lines(s3, "MWAA source", params["source_bucket"], versioning_required=True)

    role_arn = (values["sagemaker_mlops_role_arn"] or "").strip()
    if role_arn and "variable:sagemaker_mlops_role_arn" not in broken and account:
        iam = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="iam", region_name=region).conn
        lines += _role_lines(iam, role_arn, buckets, region or "us-east-1", account, image)

    if account and region:
        quota_client = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="service-quotas", region_name=region).conn
        production_on = (values["sagemaker_mlops_production_enabled"] or "").strip().lower() in (
            "1",
            "true",
            "yes",
            "on",
        )
        lines += _quota_lines(quota_client, params, region, production_on)
    lines.append(_reaper_line(context))

    return _finish(context, values, lines, s3, account, region)


def _finish(
    context: dict[str, Any], values: dict[str, Any], lines: list, s3: Any, account: str | None, region: str | None
) -> dict[str, Any]:
    """Log the checklist, store the report, push the XCom (also when the run fails), fail on a required FIX."""
    from airflow.sdk.exceptions import AirflowFailException

    failed = sc.failures(lines)
    result = {
        "ok": not failed,
        "checked_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "account": account,
        "region": region,
        "lines": lines,
        "failures": [entry["id"] for entry in failed],
        "html_uri": None,
        "json_uri": None,
    }
    if s3 is not None:
        result.update(_store(s3, values, lines, result, context["dag_run"].run_id))
    log.info("Setup check (%s):\n%s", "all required lines OK" if not failed else "NEEDS FIXES", sc.render_text(lines))
    if result["html_uri"]:
        log.info("Setup check report: %s", result["html_uri"])
    context["ti"].xcom_push(key=XCOM_KEY, value=result)
    if failed:
        raise AirflowFailException(sc.failure_message(lines))
    return result


def _store(s3: Any, values: dict[str, Any], lines: list, result: dict[str, Any], run_id: str) -> dict[str, Any]:
    """setup_check.html and .json under s3://<sagemaker_mlops_bucket>/setup-check/<run>/ when that bucket is OK."""
    from sagemaker_mlops.setup_check import report_html

    bucket = (values.get("sagemaker_mlops_bucket") or "").strip()
    if not bucket or not any(e["id"] == "bucket:data" and e["status"] == sc.OK for e in lines):
        log.info("The report is not stored: the Variable sagemaker_mlops_bucket names no usable bucket.")
        return {}
    prefix = f"setup-check/{re.sub(r'[^A-Za-z0-9._-]', '_', run_id)}"
    html_key, json_key = f"{prefix}/setup_check.html", f"{prefix}/setup_check.json"
    stored = {"html_uri": f"s3://{bucket}/{html_key}", "json_uri": f"s3://{bucket}/{json_key}"}
    full = {**result, **stored}
    s3.put_object(Bucket=bucket, Key=html_key, Body=report_html.render(full).encode(), ContentType="text/html")
    s3.put_object(Bucket=bucket, Key=json_key, Body=json.dumps(full, indent=2).encode(), ContentType="application/json")
    return stored
