"""The IAM replay: every AWS call Airflow made in a test, checked against the Airflow execution role's policy.

The emulator audits each call signed by the provider's hooks (``Airflow/<version>`` in the User-Agent) with its
parameters, and for a Delete/Stop/Update of a SageMaker resource the tags that resource had (what
``aws:ResourceTag/...`` sees); tests never clear that audit. conftest.py drains it after every test and fails the
test when a call is denied, so every path the suite walks (recovery, re-attach, capacity retry, reaper, fault
matrix, production) is an IAM test, not only the happy run tests/test_iam_infra.py replays in detail.

The policy is the Airflow role's managed policies together (include/iam/airflow-execution-role-policy-*.json,
AIRFLOW_POLICY_FILES) with their placeholders filled as the test suite's
"deployment" (REPLAY_PLACEHOLDERS): the suite's account, region, buckets and role, and admin ceilings wide enough for
the instance types and runtimes the tests choose on purpose. A call this module cannot map fails the test, naming it:
add the mapping (and, if the DAGs need it, the permission).
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from constants import ACCOUNT, DATA_BUCKET, INCREMENTAL_BUCKET, REGION, REPO, ROLE_ARN

IAM_DIR = REPO / "include" / "iam"
# The Airflow role's permissions, split into managed policies: one document of them all would exceed IAM's 10,240
# characters for a role's inline policies and the 6,144 of a managed policy (tests/test_iam_infra.py keeps each under).
AIRFLOW_POLICY_FILES = tuple(sorted(p.name for p in IAM_DIR.glob("airflow-execution-role-policy-*.json")))
PARTITION = "aws"
# On by default: every test's Airflow calls are checked (tests use the suite's buckets and mlops-* names, as a
# deployment would). SAGEMAKER_MLOPS_IAM_REPLAY=0 turns it off, e.g. to see a test's own failure first.
ENABLED = os.environ.get("SAGEMAKER_MLOPS_IAM_REPLAY", "1") != "0"

# The stack's defaults for the admin ceilings (include/infra/mlops-stack.yaml's parameters)...
PLACEHOLDERS: dict[str, Any] = {
    "Partition": PARTITION,
    "Region": REGION,
    "Account": ACCOUNT,
    "EnvironmentName": "mlops-airflow",
    "SourceBucket": "airflow-mlops-test-source",
    "DataBucket": DATA_BUCKET,
    "IncrementalBucket": INCREMENTAL_BUCKET,
    "SageMakerExecutionRoleArn": ROLE_ARN,
    "ModelPackageGroupName": "mnist-image-classifier",
    "Regions": [REGION],
    "TrainingInstanceTypes": ["ml.p2.xlarge", "ml.p3.2xlarge", "ml.g4dn.xlarge", "ml.g5.xlarge"],
    "InferenceInstanceTypes": ["ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge", "ml.g4dn.xlarge"],
    "MaxRuntimeInSeconds": "86400",
}
# ...and the suite's deployment: an admin who allows every type and runtime the tests use on purpose (the
# ceilings' own semantics are tested in tests/test_iam_infra.py with the defaults above).
REPLAY_PLACEHOLDERS: dict[str, Any] = {
    **PLACEHOLDERS,
    "Regions": [REGION, "eu-west-1", "us-west-2"],
    "TrainingInstanceTypes": [
        *PLACEHOLDERS["TrainingInstanceTypes"],
        "ml.m5.xlarge",
        "ml.m5.2xlarge",
        "ml.c5.xlarge",
        "ml.c5.2xlarge",
        "ml.g4dn.2xlarge",
        "ml.g5.2xlarge",
        "ml.p3.8xlarge",
        "ml.p3.16xlarge",
        "ml.p2.8xlarge",
        "ml.p2.16xlarge",
    ],
    "InferenceInstanceTypes": [*PLACEHOLDERS["InferenceInstanceTypes"], "ml.t3.medium", "ml.c5.large", "ml.m6i.large"],
    "MaxRuntimeInSeconds": "2419200",
}
# The placeholders that stand for a JSON list (a whole string "${Name}" becomes the list).
LIST_PLACEHOLDERS = {"Regions", "TrainingInstanceTypes", "InferenceInstanceTypes"}

_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


def _sub(text: str, values: dict[str, Any], where: str) -> Any:
    whole = _SUB_VAR.fullmatch(text)
    if whole and whole.group(1) in LIST_PLACEHOLDERS:
        return list(values[whole.group(1)])

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values or name in LIST_PLACEHOLDERS:
            raise AssertionError(f"{where}: unknown or list placeholder ${{{name}}} inside {text!r}")
        return str(values[name])

    return _SUB_VAR.sub(one, text)


def substitute(document: Any, values: dict[str, Any], where: str) -> Any:
    """The JSON files' ``${Name}`` placeholders filled in (an unknown one fails; a list one becomes a list)."""
    if isinstance(document, dict):
        return {k: substitute(v, values, where) for k, v in document.items()}
    if isinstance(document, list):
        out: list[Any] = []
        for v in document:
            filled = substitute(v, values, where)
            out += filled if isinstance(v, str) and isinstance(filled, list) else [filled]
        return out
    return _sub(document, values, where) if isinstance(document, str) else document


def json_document(name: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    return substitute(json.loads((IAM_DIR / name).read_text()), values or PLACEHOLDERS, name)


def airflow_role_policy(values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Airflow role's managed policies as one document: IAM allows a call when any attached policy does."""
    documents = [json_document(name, values) for name in AIRFLOW_POLICY_FILES]
    assert documents, f"no airflow-execution-role-policy-*.json in {IAM_DIR}"
    return {"Version": "2012-10-17", "Statement": [s for d in documents for s in _as_list(d["Statement"])]}


# -- a tiny IAM evaluator --------------------------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@functools.lru_cache(maxsize=4096)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """Compiled once per pattern: the replay runs after every test, and building the regex character by character
    for each of a test's calls (700 PutObjects x 35 statements) cost about a millisecond per call."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's matching: ``*`` is any run of characters (``/`` and ``:`` included), ``?`` one character."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


def _single_test(operator: str, wanted: list[str], actual: Any) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return str(actual) in wanted
    if operator in ("StringLike", "ArnLike"):
        return any(wildcard_match(w, str(actual)) for w in wanted)
    if operator == "Bool":
        return str(actual).lower() in [w.lower() for w in wanted]
    if operator == "NumericLessThanEquals":
        return any(float(actual) <= float(w) for w in wanted)
    raise AssertionError(f"the test's IAM evaluator does not know condition operator {operator!r}: add it")


def conditions_hold(condition: dict[str, Any] | None, context: dict[str, Any]) -> bool:
    for full_operator, tests in (condition or {}).items():
        quantifier, _, operator = full_operator.rpartition(":")
        for key, wanted in tests.items():
            wanted = [str(w) for w in _as_list(wanted)]
            actual = context.get(key)
            if operator == "Null":  # "true": the key is absent; "false": it is present
                absent = actual is None or actual == []
                if (wanted[0].lower() == "true") != absent:
                    return False
            elif quantifier == "ForAllValues":  # IAM: true for an absent or empty key
                if not all(_single_test(operator, wanted, a) for a in _as_list(actual or [])):
                    return False
            elif quantifier == "ForAnyValue":
                if not any(_single_test(operator, wanted, a) for a in _as_list(actual or [])):
                    return False
            elif quantifier:
                raise AssertionError(f"unknown condition quantifier in {full_operator!r}")
            elif actual is None or isinstance(actual, list) or not _single_test(operator, wanted, actual):
                return False
    return True


def _statement_applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, Any]) -> bool:
    if "Action" in statement:
        if not any(wildcard_match(a, action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif any(wildcard_match(a, action, ignore_case=True) for a in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(wildcard_match(r, resource) for r in _as_list(statement["Resource"])):
            return False
    elif any(wildcard_match(r, resource) for r in _as_list(statement["NotResource"])):
        return False
    return conditions_hold(statement.get("Condition"), context)


def requested_region(resource: str) -> str:
    """``aws:RequestedRegion``: a call on a regional resource goes to that region's endpoint (else the suite's)."""
    parts = resource.split(":")
    return parts[3] if len(parts) > 3 and parts[0] == "arn" and parts[3] else REGION


def allowed(policy: dict[str, Any], action: str, resource: str, context: dict[str, Any] | None = None) -> bool:
    """Identity-policy evaluation: an explicit Deny wins, else some Allow must apply."""
    context = {"aws:RequestedRegion": requested_region(resource), **(context or {})}
    verdict = False
    for statement in _as_list(policy["Statement"]):
        if _statement_applies(statement, action, resource, context):
            if statement["Effect"] == "Deny":
                return False
            verdict = True
    return verdict


@dataclass(frozen=True)
class Need:
    """One permission a call needs: IAM action, resource ARN, request context, and why."""

    action: str
    resource: str
    because: str
    context: tuple[tuple[str, Any], ...] = field(default=())

    def ctx(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.context}


# -- one audited call -> the permissions it needs ------------------------------------------------------------------
# The emulator's S3 action names (REST: method + path + subresource) -> (IAM action, bucket- or object-level).
S3_ACTIONS = {
    "HeadBucket": ("s3:ListBucket", "bucket"),
    "ListObjectsV2": ("s3:ListBucket", "bucket"),
    "ListObjects": ("s3:ListBucket", "bucket"),
    "CreateBucket": ("s3:CreateBucket", "bucket"),
    "PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock", "bucket"),
    "PutBucketEncryption": ("s3:PutEncryptionConfiguration", "bucket"),
    "GetBucketEncryption": ("s3:GetEncryptionConfiguration", "bucket"),
    "GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock", "bucket"),
    "GetBucketVersioning": ("s3:GetBucketVersioning", "bucket"),
    "GetBucketLocation": ("s3:GetBucketLocation", "bucket"),
    "DeleteBucket": ("s3:DeleteBucket", "bucket"),
    "PutBucketVersioning": ("s3:PutBucketVersioning", "bucket"),
    "PutBucketPolicy": ("s3:PutBucketPolicy", "bucket"),
    "GetObject": ("s3:GetObject", "object"),
    "HeadObject": ("s3:GetObject", "object"),
    "PutObject": ("s3:PutObject", "object"),
    "MultipartUpload": ("s3:PutObject", "object"),
    "CreateMultipartUpload": ("s3:PutObject", "object"),
    "UploadPart": ("s3:PutObject", "object"),
    "CompleteMultipartUpload": ("s3:PutObject", "object"),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", "object"),
    "DeleteObject": ("s3:DeleteObject", "object"),
    "DeleteObjects": ("s3:DeleteObject", "object"),
}
# SageMaker action suffix -> (ARN resource type, request field naming it). Longest suffix first.
SAGEMAKER_KINDS = [
    ("HyperParameterTuningJob", "hyper-parameter-tuning-job", "HyperParameterTuningJobName"),
    ("TrainingJobsForHyperParameterTuningJob", "hyper-parameter-tuning-job", "HyperParameterTuningJobName"),
    ("TransformJob", "transform-job", "TransformJobName"),
    ("EndpointConfig", "endpoint-config", "EndpointConfigName"),
    ("TrainingJob", "training-job", "TrainingJobName"),
    ("Endpoint", "endpoint", "EndpointName"),
    ("ModelPackageGroup", "model-package-group", "ModelPackageGroupName"),
    ("ModelPackage", "model-package", "ModelPackageName"),
    ("Model", "model", "ModelName"),
]
NO_PERMISSION = {("sts", "GetCallerIdentity")}


def _arn(service: str, resource: str, region: str = REGION) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{resource}"


def _tags(params: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in params.get("Tags") or []}


def _request_tag_context(tags: dict[str, str]) -> tuple[tuple[str, Any], ...]:
    return (("aws:TagKeys", tuple(tags)), *((f"aws:RequestTag/{k}", v) for k, v in tags.items()))


def _instance_types(action: str, params: dict[str, Any]) -> list[str]:
    if action == "CreateTrainingJob":
        config = params.get("ResourceConfig") or {}
    elif action == "CreateHyperParameterTuningJob":
        definitions = [params.get("TrainingJobDefinition") or {}, *(params.get("TrainingJobDefinitions") or [])]
        # A definition names its instances in ResourceConfig or (as the DAGs' tuning request does, like the SDK's
        # tuner) HyperParameterTuningResourceConfig; the key is taken to hold the types of either.
        configs = [
            c for d in definitions for c in (d.get("ResourceConfig"), d.get("HyperParameterTuningResourceConfig")) if c
        ]
        return sorted(
            {
                t
                for c in configs
                for t in [c.get("InstanceType")]
                + [g.get("InstanceType") for g in [*(c.get("InstanceGroups") or []), *(c.get("InstanceConfigs") or [])]]
                if t
            }
        )
    elif action == "CreateEndpointConfig":
        variants = [*(params.get("ProductionVariants") or []), *(params.get("ShadowProductionVariants") or [])]
        return sorted({v["InstanceType"] for v in variants if v.get("InstanceType")})
    elif action == "CreateTransformJob":
        config = params.get("TransformResources") or {}
    else:
        return []
    types = [config.get("InstanceType")] + [g.get("InstanceType") for g in config.get("InstanceGroups") or []]
    return sorted({t for t in types if t})


def _create_context(action: str, params: dict[str, Any], region: str) -> tuple[tuple[str, Any], ...]:
    """The condition keys SageMaker sets for a Create call (Service Authorization Reference, 'Actions defined by
    Amazon SageMaker AI'): tags, instance types, max runtime, network isolation, model ARN."""
    ctx: list[tuple[str, Any]] = list(_request_tag_context(_tags(params)))
    types = _instance_types(action, params)
    if types:
        ctx.append(("sagemaker:InstanceTypes", tuple(types)))
    definition = params.get("TrainingJobDefinition") or {}
    stopping = params.get("StoppingCondition") or definition.get("StoppingCondition") or {}
    if action in ("CreateTrainingJob", "CreateHyperParameterTuningJob") and "MaxRuntimeInSeconds" in stopping:
        ctx.append(("sagemaker:MaxRuntimeInSeconds", stopping["MaxRuntimeInSeconds"]))
    if action in ("CreateTrainingJob", "CreateModel"):
        ctx.append(("sagemaker:NetworkIsolation", str(bool(params.get("EnableNetworkIsolation"))).lower()))
    if action == "CreateHyperParameterTuningJob":
        ctx.append(("sagemaker:NetworkIsolation", str(bool(definition.get("EnableNetworkIsolation"))).lower()))
    if action == "CreateTransformJob" and params.get("ModelName"):
        ctx.append(("sagemaker:ModelArn", _arn("sagemaker", f"model/{params['ModelName']}", region)))
    return tuple(ctx)


def _sagemaker_needs(action: str, params: dict[str, Any], entry: dict[str, Any], because: str) -> list[Need]:
    region = entry.get("region") or REGION
    iam_action = f"sagemaker:{action}"
    if action in ("ListTags", "AddTags", "DeleteTags"):
        needs = [Need(iam_action, params["ResourceArn"], because)]
        if action == "AddTags":
            needs = [Need(iam_action, params["ResourceArn"], because, _request_tag_context(_tags(params)))]
        return needs
    # Lists take no resource, but ListTrainingJobsForHyperParameterTuningJob is authorized on its tuning job
    # (Service Authorization Reference: resource type hyper-parameter-tuning-job*).
    if (action.startswith("List") and action != "ListTrainingJobsForHyperParameterTuningJob") or action == "Search":
        return [Need(iam_action, "*", because)]
    for suffix, kind, name_field in SAGEMAKER_KINDS:
        if not action.endswith(suffix):
            continue
        name = params.get(name_field) or (params.get("ModelPackageArn") if kind == "model-package" else "") or ""
        if name.startswith("arn:"):
            arn = name.lower() if kind == "model-package" else name
        elif kind == "model-package":  # a version is named by its ARN; a Create names its group
            arn = _arn("sagemaker", f"model-package/{params.get('ModelPackageGroupName', '').lower()}/1", region)
        else:
            arn = _arn("sagemaker", f"{kind}/{name}", region)
        context: tuple[tuple[str, Any], ...] = ()
        if action.startswith("Create"):
            context = _create_context(action, params, region)
        elif action.startswith(("Delete", "Stop", "Update")) and kind not in ("model-package", "model-package-group"):
            tags = entry.get("resource_tags") or {}
            context = tuple((f"aws:ResourceTag/{k}", v) for k, v in tags.items())
        needs = [Need(iam_action, arn, because, context)]
        if action in ("CreateEndpoint", "UpdateEndpoint"):  # both need the endpoint config too
            config_arn = _arn("sagemaker", f"endpoint-config/{params['EndpointConfigName']}", region)
            if action == "UpdateEndpoint":
                tags = entry.get("config_tags") or {}
                context = tuple((f"aws:ResourceTag/{k}", v) for k, v in tags.items())
            needs.append(Need(iam_action, config_arn, because, context))
        if action.startswith("Create") and params.get("Tags"):
            needs.append(Need("sagemaker:AddTags", arn, f"{because} (its tags)", _request_tag_context(_tags(params))))
        role = params.get("RoleArn") or params.get("ExecutionRoleArn")
        role = role or (params.get("TrainingJobDefinition") or {}).get("RoleArn")
        if role and action.startswith("Create"):
            passed = (("iam:PassedToService", "sagemaker.amazonaws.com"),)
            needs.append(Need("iam:PassRole", role, f"{because} (passes the role)", passed))
        return needs
    raise AssertionError(f"audited call {because}: which SageMaker resource? extend SAGEMAKER_KINDS in {__file__}")


def _monitoring_needs(action: str, params: dict[str, Any], region: str, because: str) -> list[Need]:
    if action == "GetMetricData":
        return [Need("cloudwatch:GetMetricData", "*", because)]
    if action == "PutMetricData":
        return [Need("cloudwatch:PutMetricData", "*", because, (("cloudwatch:namespace", params.get("Namespace")),))]
    if action in ("PutMetricAlarm", "DeleteAlarms", "DescribeAlarms"):
        names = _as_list(params.get("AlarmName") or params.get("AlarmNames") or [])
        if action == "DescribeAlarms" and not names:
            return [Need("cloudwatch:DescribeAlarms", _arn("cloudwatch", "alarm:*", region), because)]
        context = _request_tag_context(_tags(params)) if action == "PutMetricAlarm" else ()
        return [Need(f"cloudwatch:{action}", _arn("cloudwatch", f"alarm:{n}", region), because, context) for n in names]
    if action == "TagResource":
        return [Need("cloudwatch:TagResource", params["ResourceARN"], because, _request_tag_context(_tags(params)))]
    raise AssertionError(f"audited call {because} has no IAM mapping: add one to {__file__}")


def audit_needs(entry: dict[str, Any]) -> list[Need]:
    """The permissions one audited Airflow call needs, on the resources it really named."""
    service, action, params = entry["service"], entry["action"], entry.get("params") or {}
    region = entry.get("region") or REGION
    because = f"{service} {action} {json.dumps(params, default=str)[:160]}"
    if (service, action) in NO_PERMISSION:
        return []
    if entry.get("audit_error"):
        raise AssertionError(f"the emulator could not audit {because}: {entry['audit_error']}")
    if service == "s3":
        if action not in S3_ACTIONS:
            raise AssertionError(f"audited call {because} is not in S3_ACTIONS: add its IAM action")
        iam_action, level = S3_ACTIONS[action]
        key = params.get("Key") or "x"
        arn = f"arn:{PARTITION}:s3:::{params['Bucket']}" + (f"/{key}" if level == "object" else "")
        return [Need(iam_action, arn, because)]
    if service == "sagemaker":  # the runtime's InvokeEndpoint is signed as "sagemaker" too
        return _sagemaker_needs(action, params, entry, because)
    if service == "logs" and action in ("DescribeLogStreams", "GetLogEvents", "FilterLogEvents"):
        group = params.get("logGroupName") or params.get("logGroupIdentifier") or ""
        arns = [_arn("logs", f"log-group:{group}", region), _arn("logs", f"log-group:{group}:*", region)]
        if action == "GetLogEvents":
            arns = [_arn("logs", f"log-group:{group}:log-stream:{params.get('logStreamName')}", region)]
        return [Need(f"logs:{action}", arn, because) for arn in arns]
    if service == "iam" and action in ("GetRole", "SimulatePrincipalPolicy"):
        # GetRole names the role, and IAM authorizes on its ARN (with its path): the suite's role is the one it knows.
        name = params.get("RoleName", "")
        role = params.get("PolicySourceArn") or (
            ROLE_ARN if ROLE_ARN.rsplit("/", 1)[-1] == name else f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"
        )
        return [Need(f"iam:{action}", role, because)]
    if service == "servicequotas":
        return [Need(f"servicequotas:{action}", "*", because)]
    if service == "monitoring":
        return _monitoring_needs(action, params, region, because)
    raise AssertionError(f"audited call {because} has no IAM mapping: add one to {__file__}")


def denied_calls(entries: list[dict[str, Any]], policy: dict[str, Any] | None = None) -> list[str]:
    """Each audited call the policy would refuse, as 'action on resource (call)'."""
    if not entries:  # most tests make no Airflow call: nothing to render the policy for
        return []
    policy = policy or airflow_role_policy(REPLAY_PLACEHOLDERS)
    return [
        f"{n.action} on {n.resource} ({n.because})"
        for entry in entries
        for n in audit_needs(entry)
        if not allowed(policy, n.action, n.resource, n.ctx())
    ]
