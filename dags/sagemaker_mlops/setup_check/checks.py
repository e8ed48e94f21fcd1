"""The setup check's lines, from what the task read (pure: no AWS, no Airflow).

A line is ``{"id", "title", "status", "required", "detail", "fix"}``; ``status`` is ``OK``, ``FIX`` (it will break
a pipeline), ``WARN`` (could not be checked, or worth a look) or ``INFO``. A run fails when a required line says
``FIX``, listing every one of them at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sagemaker_mlops.core import images
from sagemaker_mlops.core.validation import ParamError, validate_bucket_name, validate_region, validate_role_arn
from sagemaker_mlops.training import preflight

OK, FIX, WARN, INFO = "OK", "FIX", "WARN", "INFO"
SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
REAPER_DAG_ID = "sagemaker_mlops_reaper"
TRUST_POLICY_FILE = "include/iam/sagemaker-execution-role-trust-policy.json"
ROLE_POLICY_FILE = "include/iam/sagemaker-execution-role-policy.json"
TRAINING_DAGS = ("mnist_train_deploy", "mnist_incremental_spot", "mnist_tuning")

# Variable -> (the DAGs it enables, required?, what happens when unset). docs/configuration.md is the long form.
VARIABLES: dict[str, tuple[tuple[str, ...], bool, str]] = {
    "sagemaker_mlops_role_arn": (
        (*TRAINING_DAGS, "mnist_deploy_production"),
        True,
        "their runs fail before anything is created unless the form's role_arn is set",
    ),
    "sagemaker_mlops_bucket": (
        ("mnist_train_deploy", "mnist_tuning"),
        True,
        "their runs fail in validate_and_preflight unless the form's bucket is set",
    ),
    "sagemaker_mlops_incremental_bucket": (
        ("mnist_incremental_spot",),
        True,
        "every run of pipeline 2 (cron and Asset) fails in validate_and_preflight ('bucket: is empty')",
    ),
    "sagemaker_mlops_region": ((*TRAINING_DAGS, "mnist_deploy_production"), False, "the connection's region is used"),
    "sagemaker_mlops_model_package_group": (TRAINING_DAGS, False, "mnist-image-classifier is used"),
    "sagemaker_mlops_max_cost_usd": (TRAINING_DAGS, False, "each run's budget is 200 USD"),
    "sagemaker_mlops_production_enabled": (("mnist_deploy_production",), False, "production runs end skipped"),
    "sagemaker_mlops_production_endpoint": (
        ("mnist_deploy_production", "mnist_production_monitor"),
        False,
        "the production endpoint is mnist-production",
    ),
    "sagemaker_mlops_reaper_dry_run": ((REAPER_DAG_ID,), False, "scheduled reaper runs delete leftovers"),
    "sagemaker_mlops_allowed_dataset_hosts": (TRAINING_DAGS, False, "only public dataset hosts are allowed"),
    "sagemaker_mlops_dataset_mirror": (TRAINING_DAGS, False, "the book's dataset URLs are fetched"),
}


def line(id_: str, title: str, status: str, detail: str, fix: str = "", *, required: bool = True) -> dict[str, Any]:
    return {"id": id_, "title": title, "status": status, "required": required, "detail": detail, "fix": fix}


def _set(name: str) -> str:
    return f"set it in Admin → Variables (or `airflow variables set {name} <value>`)"


def variable_lines(values: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """One line per Variable: set or not, valid or not, and which DAGs it enables."""
    out = []
    for name, (dags, required, unset) in VARIABLES.items():
        value = (values.get(name) or "").strip()
        enables = ", ".join(dags)
        if not value:
            status = FIX if required else INFO
            out.append(
                line(
                    f"variable:{name}",
                    name,
                    status,
                    f"unset: {unset} ({enables})",
                    _set(name) if required else "",
                    required=required,
                )
            )
            continue
        try:
            if name == "sagemaker_mlops_role_arn":
                validate_role_arn(value, name)
            elif name.endswith("_bucket"):
                validate_bucket_name(value, name)
            elif name == "sagemaker_mlops_region":
                validate_region(value, name)
            elif name == "sagemaker_mlops_max_cost_usd" and float(value) <= 0:
                raise ParamError(name, f"{value!r} is not a positive number", "use e.g. 200")
        except (ParamError, ValueError) as error:
            out.append(
                line(f"variable:{name}", name, FIX, f"{value!r} is invalid: {error}", _set(name), required=required)
            )
            continue
        status = OK
        detail = f"{value} (enables {enables})"
        if name in ("sagemaker_mlops_allowed_dataset_hosts", "sagemaker_mlops_dataset_mirror"):
            status, detail = WARN, f"{value}: a local set-up's value; leave it unset on a real account"
        out.append(line(f"variable:{name}", name, status, detail, required=required))
    return out


def region_lines(region: str | None, known_regions: Iterable[str]) -> list[dict[str, Any]]:
    """The region (a code botocore knows for SageMaker) and its image-classification:1 image."""
    fix_region = (
        "set the Variable sagemaker_mlops_region or the connection's region_name extra to a region SageMaker runs in"
    )
    if not region:
        return [
            line(
                "region",
                "Region",
                FIX,
                "no region: neither the form, the Variable nor the connection sets one",
                fix_region,
            )
        ]
    known = set(known_regions)
    try:
        validate_region(region)
    except ParamError as error:
        return [line("region", "Region", FIX, str(error), fix_region)]
    out = [
        line("region", "Region", OK, region)
        if region in known
        else line("region", "Region", FIX, f"{region!r} is not a region SageMaker offers (botocore's list)", fix_region)
    ]
    try:
        out.append(line("image", "Algorithm image", OK, images.training_image_uri(region)))
    except ParamError as error:
        out.append(
            line(
                "image",
                "Algorithm image",
                FIX,
                str(error),
                f"train in one of {', '.join(images.supported_regions())}, or pass training_image_uri for {region}",
            )
        )
    return out


def trust_line(role_name: str, document: Mapping[str, Any] | str) -> dict[str, Any]:
    """The role lets SageMaker assume it (an Allow of sts:AssumeRole to the sagemaker.amazonaws.com service)."""
    doc = json.loads(document) if isinstance(document, str) else document
    statements = doc.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action") or []
        actions = actions if isinstance(actions, list) else [actions]
        services = (statement.get("Principal") or {}).get("Service") or []
        services = services if isinstance(services, list) else [services]
        if (
            statement.get("Effect") == "Allow"
            and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions)
            and SAGEMAKER_PRINCIPAL in services
        ):
            return line("role:trust", "Role trusts SageMaker", OK, f"{role_name} trusts {SAGEMAKER_PRINCIPAL}")
    return line(
        "role:trust",
        "Role trusts SageMaker",
        FIX,
        f"{role_name}'s trust policy does not allow {SAGEMAKER_PRINCIPAL} to sts:AssumeRole: SageMaker cannot use it",
        f"aws iam update-assume-role-policy --role-name {role_name} --policy-document file://{TRUST_POLICY_FILE}",
    )


def permission_checks(
    buckets: Iterable[str], region: str, account: str, image_uri: str | None
) -> list[tuple[list[str], list[str], list[dict[str, Any]]]]:
    """What the SageMaker role must be allowed, as (actions, resource ARNs, context entries) for the simulator: the
    pipelines' buckets, the algorithm image, its logs and metrics (include/iam/sagemaker-execution-role-policy.json)."""
    # The simulator fills no global key: the region every call of a run goes to is given (the policies scope by it).
    where = [{"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": [region], "ContextKeyType": "string"}]
    checks: list[tuple[list[str], list[str], list[dict[str, Any]]]] = []
    for bucket in buckets:
        checks.append((["s3:ListBucket"], [f"arn:aws:s3:::{bucket}"], where))
        checks.append((["s3:GetObject", "s3:PutObject"], [f"arn:aws:s3:::{bucket}/ch06/setup-check"], where))
    checks.append((["ecr:GetAuthorizationToken"], ["*"], where))
    if image_uri:
        registry, repository = image_uri.split("/", 1)
        image_account, image_region = registry.split(".")[0], registry.split(".")[3]
        repo_arn = f"arn:aws:ecr:{image_region}:{image_account}:repository/{repository.split(':')[0]}"
        checks.append(
            (["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"], [repo_arn], where)
        )
    group = f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/TrainingJobs"
    checks.append((["logs:CreateLogStream", "logs:PutLogEvents"], [f"{group}:log-stream:setup-check"], where))
    namespace = [
        {
            "ContextKeyName": "cloudwatch:namespace",
            "ContextKeyValues": ["/aws/sagemaker/TrainingJobs"],
            "ContextKeyType": "string",
        }
    ]
    checks.append((["cloudwatch:PutMetricData"], ["*"], where + namespace))
    return checks


def permission_line(role_name: str, results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """From the simulator's EvaluationResults: every action allowed, or the denied ones listed."""
    results = list(results)
    denied = [
        f"{r['EvalActionName']} on {r['EvalResourceName']} ({r['EvalDecision']})"
        for r in results
        if r["EvalDecision"] != "allowed"
    ]
    if not denied:
        return line(
            "role:permissions",
            "Role's permissions",
            OK,
            f"{len(results)} action/resource pairs allowed (IAM policy simulator)",
        )
    return line(
        "role:permissions",
        "Role's permissions",
        FIX,
        f"{role_name} is denied: " + "; ".join(denied),
        f"attach {ROLE_POLICY_FILE} (placeholders filled, as the stack does) to {role_name}: "
        f"aws iam put-role-policy --role-name {role_name} --policy-name mlops --policy-document file://policy.json",
    )


def bucket_lines(
    label: str,
    bucket: str,
    *,
    exists: bool | str,
    encryption: list[dict[str, Any]] | None,
    public_access_block: Mapping[str, bool] | None,
    versioning: str | None,
    versioning_required: bool,
) -> list[dict[str, Any]]:
    """Exists, default encryption, all four Block Public Access settings, versioning (required for MWAA's source)."""
    key = f"bucket:{label}"
    if exists is not True:
        why = exists if isinstance(exists, str) else "does not exist"
        return [
            line(
                key,
                f"Bucket {bucket} ({label})",
                FIX,
                why,
                "deploy the stack (include/infra/mlops-stack.yaml creates the buckets encrypted, private, "
                f"versioned where MWAA needs it) or `aws s3api create-bucket --bucket {bucket}`, then block public "
                "access and turn default encryption on",
            )
        ]
    out = [line(key, f"Bucket {bucket} ({label})", OK, "exists")]
    algorithms = sorted(
        {r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", "?") for r in encryption or []}
    )
    out.append(
        line(f"{key}:encryption", f"{bucket}: default encryption", OK, ", ".join(algorithms))
        if algorithms
        else line(
            f"{key}:encryption",
            f"{bucket}: default encryption",
            FIX,
            "no default encryption configured",
            f"aws s3api put-bucket-encryption --bucket {bucket} --server-side-encryption-configuration "
            '\'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}\'',
        )
    )
    settings = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    off = [s for s in settings if not (public_access_block or {}).get(s)]
    out.append(
        line(f"{key}:public", f"{bucket}: public access blocked", OK, "all four settings on")
        if not off
        else line(
            f"{key}:public",
            f"{bucket}: public access blocked",
            FIX,
            "not blocked: " + ", ".join(off) if public_access_block else "no Block Public Access configuration",
            f"aws s3api put-public-access-block --bucket {bucket} --public-access-block-configuration "
            "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
        )
    )
    if versioning_required:
        out.append(
            line(f"{key}:versioning", f"{bucket}: versioning", OK, "Enabled")
            if versioning == "Enabled"
            else line(
                f"{key}:versioning",
                f"{bucket}: versioning",
                FIX,
                f"{versioning or 'never enabled'}: MWAA requires versioning on its source bucket",
                f"aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled",
            )
        )
    else:
        out.append(
            line(
                f"{key}:versioning",
                f"{bucket}: versioning",
                INFO,
                f"{versioning or 'off'} (not needed)",
                required=False,
            )
        )
    return out


def quota_lines(
    quotas: Mapping[str, Mapping[str, Any]], needs: Iterable[tuple[str, str, str, bool]], region: str
) -> list[dict[str, Any]]:
    """needs: (label, instance type, kind: training|spot|endpoint, required). The training preflight's own check,
    one line per need."""
    out = []
    for label, instance_type, kind, required in needs:
        name = (
            preflight.endpoint_quota_name(instance_type)
            if kind == "endpoint"
            else preflight.training_quota_name(instance_type, spot=kind == "spot")
        )
        problems = preflight.quota_problems(quotas, [(label, name, 1)], region)
        if problems:
            problem = problems[0]
            out.append(line(f"quota:{label}", f"Quota: {name}", FIX, problem.problem, problem.fix, required=required))
        else:
            value = f"{float(quotas[name]['Value']):g}"
            out.append(line(f"quota:{label}", f"Quota: {name}", OK, value, required=required))
    return out


def reaper_line(paused: bool | None, error: str | None = None) -> dict[str, Any]:
    """The hourly reaper must be on: it deletes what killed runs leave billing. MWAA pauses new DAGs."""
    title = f"Reaper DAG {REAPER_DAG_ID} unpaused"
    fix = f"unpause it in the UI (toggle) or `airflow dags unpause {REAPER_DAG_ID}`"
    if paused is None:
        return line(
            "reaper",
            title,
            WARN,
            f"could not read its state ({error})",
            f"check the toggle in the UI, or `airflow dags list` ({fix})",
        )
    if paused:
        return line("reaper", title, FIX, "paused: nothing deletes what killed runs leave billing", fix)
    return line("reaper", title, OK, "unpaused (runs hourly)")


def failures(lines: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [entry for entry in lines if entry["status"] == FIX and entry["required"]]


def render_text(lines: Iterable[Mapping[str, Any]]) -> str:
    """The checklist as the task log shows it: one line each, the fix indented under it."""
    rows = []
    for entry in lines:
        rows.append(f"[{entry['status']:<4}] {entry['title']}: {entry['detail']}")
        if entry["fix"] and entry["status"] != OK:
            rows.append(f"       fix: {entry['fix']}")
    return "\n".join(rows)


def failure_message(lines: Iterable[Mapping[str, Any]]) -> str:
    """Every required line that needs a fix, at once (as ParamError.combine does for a form)."""
    failed = failures(lines)
    return f"{len(failed)} required line(s) of the setup check need a fix:\n" + "\n".join(
        f"- {entry['title']}: {entry['detail']}. Fix: {entry['fix']}" for entry in failed
    )
