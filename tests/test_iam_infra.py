"""The IAM policies (include/iam/) and the CloudFormation stack (include/infra/mlops-stack.yaml): linted, in sync
with each other, and exactly as wide as what the DAGs really call.

"What the DAGs call" is not written down by hand: a module fixture runs ``mnist_train_deploy`` end to end on the
emulator, which records every AWS request it answers (service, action). Each recorded call is mapped to the IAM
action and resource ARN it needs, with the run's real names (bucket, ``mlops-…`` job/model/endpoint names, log
stream), and checked against the policies with a small IAM evaluator (Allow/Deny, wildcards, NotResource, the
condition operators the policies use). A call the mapping does not know fails the test, naming it.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from constants import ACCOUNT, DATA_BUCKET, FAST, INCREMENTAL_BUCKET, LOOPBACK_DATASET_HOSTS, REGION, REPO, ROLE_ARN
from dag_runs import run_dag

IAM_DIR = REPO / "include" / "iam"
TEMPLATE = REPO / "include" / "infra" / "mlops-stack.yaml"
CFN_LINT = REPO / ".venv-tools" / "bin" / "cfn-lint"
TOOLS_REQUIREMENTS = REPO / "requirements-tools.txt"

DAG_ID = "mnist_train_deploy"
REAPER_DAG_ID = "sagemaker_mlops_reaper"
PARTITION = "aws"
SOURCE_BUCKET = "airflow-mlops-test-source"
ENVIRONMENT = "mlops-airflow"

# The JSON files' placeholders and the values the tests give them. The template spells the same things the
# CloudFormation way: pseudo parameters, its bucket resources (Ref = bucket name) and the role's Arn attribute.
PLACEHOLDERS = {
    "Partition": PARTITION,
    "Region": REGION,
    "Account": ACCOUNT,
    "EnvironmentName": ENVIRONMENT,
    "SourceBucket": SOURCE_BUCKET,
    "DataBucket": DATA_BUCKET,
    "IncrementalBucket": INCREMENTAL_BUCKET,
    "SageMakerExecutionRoleArn": ROLE_ARN,
    "ModelPackageGroupName": "mnist-image-classifier",
}
TEMPLATE_NAME_OF = {
    "Partition": "AWS::Partition",
    "Region": "AWS::Region",
    "Account": "AWS::AccountId",
    "SageMakerExecutionRoleArn": "SageMakerExecutionRole.Arn",
}
TEMPLATE_REFS = {TEMPLATE_NAME_OF.get(name, name): value for name, value in PLACEHOLDERS.items()}
# Template parameters that the bucket resources take their names from.
TEMPLATE_PARAMETER_VALUES = {
    "DataBucketName": DATA_BUCKET,
    "IncrementalBucketName": INCREMENTAL_BUCKET,
    "SourceBucketName": SOURCE_BUCKET,
    "EnvironmentName": ENVIRONMENT,
}

# (JSON file, template role, "trust" | "policy")
DOCUMENTS = [
    ("airflow-execution-role-policy.json", "AirflowExecutionRole", "policy"),
    ("airflow-execution-role-trust-policy.json", "AirflowExecutionRole", "trust"),
    ("sagemaker-execution-role-policy.json", "SageMakerExecutionRole", "policy"),
    ("sagemaker-execution-role-trust-policy.json", "SageMakerExecutionRole", "trust"),
]

# Granted to the Airflow role although one successful run of the pipeline never calls them. Keep this short; every
# entry says when the DAGs do call it.
ALLOWED_UNCALLED = {
    # teardown stop_training_if_running: only when the run failed or was killed while its job still trains.
    "sagemaker:StopTrainingJob",
    # SageMakerEndpointOperator: a retry of create_endpoint that finds the endpoint already exists updates it.
    "sagemaker:UpdateEndpoint",
    # mnist_deploy_production (tests/test_production_endpoint.py), which the replayed pipeline-1 run does not call.
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:TagResource",
    # pipeline 3 (mnist_tuning); the recorded run these tests replay is pipeline 1's, which tunes nothing (the
    # reaper's Describe/Stop of a tuning job are recorded: it stops the one planted below).
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
}
# The reaper's listings: SageMaker's List* actions support no resource-level permission, so they are granted on "*"
# (they reveal names and statuses, nothing else); every other SageMaker action stays on mlops-* names.
RESOURCELESS_LISTS = {
    "sagemaker:ListEndpoints",
    "sagemaker:ListEndpointConfigs",
    "sagemaker:ListModels",
    "sagemaker:ListTrainingJobs",
    "sagemaker:ListHyperParameterTuningJobs",
    "sagemaker:ListModelPackages",  # the registry's versions (a package's ARN is only known from the listing)
}
# Never granted to the Airflow role on the data buckets, whatever the DAGs do: deletes stay a human decision.
NEVER_ON_DATA = [
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutObjectAcl",
    "s3:PutLifecycleConfiguration",
]


# -- reading the files -------------------------------------------------------------------------------------------
class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation's short tags (!Sub, !Ref, !GetAtt, ...) into their long form."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # a SafeLoader subclass


_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


def _sub(text: str, values: dict[str, str], where: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise AssertionError(f"{where}: unknown placeholder ${{{name}}} in {text!r}")
        return values[name]

    return _SUB_VAR.sub(one, text)


def substitute(document: Any, values: dict[str, str], where: str) -> Any:
    """The JSON files' ``${Name}`` placeholders filled in (an unknown one fails)."""
    if isinstance(document, dict):
        return {k: substitute(v, values, where) for k, v in document.items()}
    if isinstance(document, list):
        return [substitute(v, values, where) for v in document]
    return _sub(document, values, where) if isinstance(document, str) else document


def resolve(node: Any, refs: dict[str, str]) -> Any:
    """The template's intrinsic functions (Ref, Fn::GetAtt, Fn::Sub) evaluated with ``refs``."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return refs[node["Ref"]]
        if set(node) == {"Fn::GetAtt"}:
            return refs[".".join(node["Fn::GetAtt"])]
        if set(node) == {"Fn::Sub"}:
            body = node["Fn::Sub"]
            if isinstance(body, list):
                body, extra = body[0], {k: resolve(v, refs) for k, v in body[1].items()}
                return _sub(body, {**refs, **extra}, "template")
            return _sub(body, refs, "template")
        return {k: resolve(v, refs) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, refs) for v in node]
    return node


def json_document(name: str) -> dict[str, Any]:
    return substitute(json.loads((IAM_DIR / name).read_text()), PLACEHOLDERS, name)


def template_document(role: str, kind: str) -> dict[str, Any]:
    properties = load_template()["Resources"][role]["Properties"]
    if kind == "trust":
        return resolve(properties["AssumeRolePolicyDocument"], TEMPLATE_REFS)
    (policy,) = properties["Policies"]
    return resolve(policy["PolicyDocument"], TEMPLATE_REFS)


def airflow_policy() -> dict[str, Any]:
    return json_document("airflow-execution-role-policy.json")


def sagemaker_policy() -> dict[str, Any]:
    return json_document("sagemaker-execution-role-policy.json")


# -- a tiny IAM evaluator --------------------------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's matching: ``*`` is any run of characters (``/`` and ``:`` included), ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _string_test(operator: str, wanted: list[str], actual: str) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return actual in wanted
    if operator in ("StringLike", "ArnLike"):
        return any(wildcard_match(w, actual) for w in wanted)
    if operator == "Bool":
        return actual.lower() in [str(w).lower() for w in wanted]
    raise AssertionError(f"the test's IAM evaluator does not know condition operator {operator!r}: add it")


def conditions_hold(condition: dict[str, Any] | None, context: dict[str, Any]) -> bool:
    for full_operator, tests in (condition or {}).items():
        quantifier, _, operator = full_operator.rpartition(":")
        for key, wanted in tests.items():
            wanted = [str(w) for w in _as_list(wanted)]
            actual = context.get(key)
            if quantifier == "ForAllValues":  # IAM: true for an absent or empty key
                if not all(_string_test(operator, wanted, str(a)) for a in _as_list(actual or [])):
                    return False
            elif quantifier == "ForAnyValue":
                if not any(_string_test(operator, wanted, str(a)) for a in _as_list(actual or [])):
                    return False
            elif quantifier:
                raise AssertionError(f"unknown condition quantifier in {full_operator!r}")
            elif actual is None or isinstance(actual, list) or not _string_test(operator, wanted, str(actual)):
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


def allowed(policy: dict[str, Any], action: str, resource: str, context: dict[str, Any] | None = None) -> bool:
    """Identity-policy evaluation: an explicit Deny wins, else some Allow must apply."""
    verdict = False
    for statement in _as_list(policy["Statement"]):
        if _statement_applies(statement, action, resource, context or {}):
            if statement["Effect"] == "Deny":
                return False
            verdict = True
    return verdict


def test_evaluator_follows_iam_semantics() -> None:
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret/*"},
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "arn:aws:iam::1:role/r",
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
            {
                "Effect": "Allow",
                "Action": "sagemaker:AddTags",
                "Resource": "*",
                "Condition": {"ForAllValues:StringLike": {"aws:TagKeys": "mlops:*"}},
            },
            {"Effect": "Allow", "Action": "kms:Decrypt", "NotResource": "arn:aws:kms:*:1:key/*"},
        ]
    }
    assert allowed(policy, "S3:getobject", "arn:aws:s3:::b/x/y")  # actions are case-insensitive
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::B/x")  # resources are not
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::b/secret/k")
    assert not allowed(policy, "s3:PutObject", "arn:aws:s3:::b/x")
    role = "arn:aws:iam::1:role/r"
    assert allowed(policy, "iam:PassRole", role, {"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert not allowed(policy, "iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not allowed(policy, "iam:PassRole", role)
    assert allowed(policy, "sagemaker:AddTags", "x", {"aws:TagKeys": ["mlops:a", "mlops:b"]})
    assert not allowed(policy, "sagemaker:AddTags", "x", {"aws:TagKeys": ["mlops:a", "owner"]})
    assert allowed(policy, "kms:Decrypt", "arn:aws:kms:us-east-1:2:key/k")
    assert not allowed(policy, "kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k")


# -- cfn-lint, JSON validity, no drift -------------------------------------------------------------------------------
@pytest.mark.e2e  # runs a separate tool or interpreter over the whole tree: seconds of CPU
def test_cfn_lint_passes_on_the_stack() -> None:
    if not CFN_LINT.exists():
        pytest.fail(f"{CFN_LINT.relative_to(REPO)} is missing: run bash include/dev/tools_venv.sh")
    pinned = re.search(r"^cfn-lint==(\S+)$", TOOLS_REQUIREMENTS.read_text(), re.MULTILINE).group(1)
    version = subprocess.run([str(CFN_LINT), "--version"], capture_output=True, text=True, check=True).stdout.split()
    assert version[-1] == pinned, (
        f"cfn-lint {version[-1]} is not the pinned {pinned}: run bash include/dev/tools_venv.sh"
    )
    lint = subprocess.run([str(CFN_LINT), str(TEMPLATE)], capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, f"cfn-lint {pinned} on {TEMPLATE.name}:\n{lint.stdout}{lint.stderr}"


@pytest.mark.parametrize(("name", "role", "kind"), DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
def test_policy_file_is_json_and_equals_the_template(name: str, role: str, kind: str) -> None:
    document = json.loads((IAM_DIR / name).read_text())  # valid JSON, else this raises
    assert document["Version"] == "2012-10-17"
    statements = _as_list(document["Statement"])
    sids = [s["Sid"] for s in statements if "Sid" in s]
    assert len(sids) == len(set(sids)), f"{name}: duplicate Sid"
    if kind == "policy":
        assert len(sids) == len(statements), f"{name}: every statement needs a Sid (the tests address them by it)"
    assert json_document(name) == template_document(role, kind), (
        f"{name} and {TEMPLATE.name} ({role}) differ: change both, or neither"
    )


def test_stack_buckets_roles_and_outputs() -> None:
    template = load_template()
    resources = template["Resources"]
    buckets = {k: v for k, v in resources.items() if v["Type"] == "AWS::S3::Bucket"}
    assert set(buckets) == {"DataBucket", "IncrementalBucket", "SourceBucket"}
    for logical, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}, logical
        assert bucket.get("DeletionPolicy") == "Retain", f"{logical}: a stack delete must not take the data along"
        assert set(props["BucketName"].values()) <= set(template["Parameters"]), f"{logical}: name is a parameter"
    assert buckets["SourceBucket"]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    for role in ("AirflowExecutionRole", "SageMakerExecutionRole"):
        props = resources[role]["Properties"]
        assert "ManagedPolicyArns" not in props, f"{role}: only the reviewed inline policy, no managed policies"
    trust = json_document("airflow-execution-role-trust-policy.json")["Statement"]
    assert [set(_as_list(s["Principal"]["Service"])) for s in trust] == [
        {"airflow.amazonaws.com", "airflow-env.amazonaws.com"}
    ]
    trust = json_document("sagemaker-execution-role-trust-policy.json")["Statement"]
    assert [_as_list(s["Principal"]["Service"]) for s in trust] == [["sagemaker.amazonaws.com"]]
    outputs = template["Outputs"]
    assert {
        "AirflowExecutionRoleArn",
        "SageMakerExecutionRoleArn",
        "DataBucketName",
        "IncrementalBucketName",
        "SourceBucketName",
    } <= set(outputs)
    refs = {
        **TEMPLATE_REFS,
        **TEMPLATE_PARAMETER_VALUES,
        "AirflowExecutionRole.Arn": "arn:aws:iam::1:role/a",
        "SourceBucket.Arn": f"arn:aws:s3:::{SOURCE_BUCKET}",
    }
    assert resolve(outputs["DataBucketName"]["Value"], refs) == DATA_BUCKET
    assert resolve(outputs["SageMakerExecutionRoleArn"]["Value"], refs) == ROLE_ARN


# -- the calls one real run makes --------------------------------------------------------------------------------
@dataclass
class PipelineRun:
    state: str
    task_states: dict[str, str]
    config: dict[str, Any]
    requests: list[dict[str, Any]]
    training_job: dict[str, Any]
    model_request: dict[str, Any]
    log_streams: list[str]
    seconds: float

    @property
    def recorded(self) -> set[tuple[str, str]]:
        return {(r["service"], r["action"]) for r in self.requests}


def _xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key=key)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def _expired_model_left_behind(sagemaker: Any, config: dict[str, Any], model_data_url: str | None) -> None:
    """The run's model again, as a killed run would leave it: same name, artifact and tags, expired an hour ago."""
    from datetime import UTC, datetime, timedelta

    from sagemaker_mlops.core.tags import resource_tags

    if not config or not model_data_url:
        return
    tags = resource_tags(config["dag_id"], config["run_id"], datetime.now(UTC) - timedelta(hours=1))
    sagemaker.create_model(
        ModelName=config["names"]["model"],
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": config["image_uri"], "ModelDataUrl": model_data_url},
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )


def _orphaned_tuning_job(sagemaker: Any, config: dict[str, Any], job_name: str | None) -> None:
    """A tuning job of the run's name, tags and data, still running after its run ended: the reaper stops it."""
    from emulator_helpers import tuning_request

    if not config or not job_name:
        return
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    samples = int(job["HyperParameters"]["num_training_samples"])
    request = tuning_request(config["names"]["tuning_job"], config["bucket"], config["prefix"], samples, jobs=2)
    request["TrainingJobDefinition"]["InputDataConfig"] = job["InputDataConfig"]
    request["Tags"] = [{"Key": k, "Value": v} for k, v in config["tags"].items()]
    sagemaker.create_hyper_parameter_tuning_job(**request)


@pytest.fixture(scope="module")
def pipeline_run(emulator_server: Any, airflow_db: Path, datasets: Any) -> Iterator[PipelineRun]:
    """``mnist_train_deploy`` once, end to end on a freshly reset emulator, and every AWS request it made."""
    import boto3

    from aws_emulator.control import EmulatorControl

    control = EmulatorControl(emulator_server.url)
    control.reset()
    control.settings(**FAST)
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": REGION, "endpoint_url": control.url},
    }
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
        env.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET", DATA_BUCKET)
        env.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET", INCREMENTAL_BUCKET)
        env.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_ROLE_ARN", ROLE_ARN)
        env.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_ALLOWED_DATASET_HOSTS", LOOPBACK_DATASET_HOSTS)
        run, states = run_dag(DAG_ID, datasets.conf("batch1"))
        seconds = time.monotonic() - started
        requests = control.requests()  # before the look-ups below, which are the test's, not the DAG's
        config = _xcom(run, "validate_and_preflight") or {}
        clients = {
            s: boto3.client(
                s,
                region_name=REGION,
                endpoint_url=control.url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            for s in ("sagemaker", "logs")
        }
        # Then the reaper, acting (not dry), on an expired model and a running tuning job the package left behind:
        # its List, ListTags, Describe, Delete and Stop calls and its S3 report are the Airflow role's too.
        artifact = (_xcom(run, "training_result") or {}).get("model_artifact")
        _expired_model_left_behind(clients["sagemaker"], config, artifact)
        control.settings(starting_seconds=300)  # its trials stay InProgress until the reaper stops them
        _orphaned_tuning_job(
            clients["sagemaker"], config, (_xcom(run, "training_result") or {}).get("training_job_name")
        )
        control.clear_requests()
        # Created seconds ago: a TTL of ~1 s from its creation lets the expired tag decide (the reaper counts from
        # the deployment), so the replay covers its DeleteModel.
        env.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_REAPER_TTL_HOURS", "0.0003")
        time.sleep(1.2)
        reaper_run, reaper_states = run_dag(REAPER_DAG_ID, {"dry_run": False})
        assert str(reaper_run.state) == "success", reaper_states
        requests += control.requests()
    deploy = _xcom(run, "deploy_requests") or {"model": _xcom(run, "deploy_requests", "model")}
    result = _xcom(run, "training_result") or {}
    job = clients["sagemaker"].describe_training_job(TrainingJobName=result["training_job_name"]) if result else {}
    streams = (
        [
            s["logStreamName"]
            for s in clients["logs"].describe_log_streams(
                logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{job.get('TrainingJobName')}/"
            )["logStreams"]
        ]
        if job
        else []
    )
    control.reset()
    yield PipelineRun(str(run.state), states, config, requests, job, deploy.get("model") or {}, streams, seconds)


@dataclass(frozen=True)
class Need:
    """One permission a recorded call needs: IAM action, resource ARN, request context, and why."""

    action: str
    resource: str
    because: str
    context: tuple[tuple[str, Any], ...] = field(default=())

    def ctx(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.context}


# The emulator's S3 action names (REST: method + path + subresource) -> (IAM action, bucket- or object-level).
# Bucket subresource PUTs are named after S3's API (PutPublicAccessBlock, PutBucketEncryption); an older request log
# recorded them as CreateBucket, which IMPLIED below covers.
S3_ACTIONS = {
    "HeadBucket": ("s3:ListBucket", "bucket"),
    "ListObjectsV2": ("s3:ListBucket", "bucket"),
    "ListObjects": ("s3:ListBucket", "bucket"),
    "CreateBucket": ("s3:CreateBucket", "bucket"),
    "PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock", "bucket"),
    "PutBucketEncryption": ("s3:PutEncryptionConfiguration", "bucket"),
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
# SageMaker action suffix -> (ARN resource type, key of the run config's "names"). Longest suffix first.
SAGEMAKER_KINDS = [
    ("HyperParameterTuningJob", "hyper-parameter-tuning-job", "tuning_job"),
    ("EndpointConfig", "endpoint-config", "endpoint_config"),
    ("TrainingJob", "training-job", "job"),
    ("Endpoint", "endpoint", "endpoint"),
    ("Model", "model", "model"),
]
# The Model Registry's actions -> (ARN resource type, the run's group or its first version).
REGISTRY_KINDS = [
    ("ModelPackageGroup", "model-package-group", "{group}"),
    ("ModelPackage", "model-package", "{group}/1"),
]
# Calls that need no permission of the caller.
NO_PERMISSION = {("sts", "GetCallerIdentity")}


def _arn(service: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT}:{resource}"


def _log_group_arns(group: str) -> list[str]:
    """CloudWatch Logs authorizes log-group actions against either spelling of the group's ARN."""
    return [_arn("logs", f"log-group:{group}"), _arn("logs", f"log-group:{group}:*")]


def needs_of(service: str, action: str, run: PipelineRun) -> list[Need]:
    """The permissions one recorded (service, action) needs, on this run's real resources."""
    because = f"{service} {action}"
    names, bucket, prefix = run.config["names"], run.config["bucket"], run.config["prefix"]
    if (service, action) in NO_PERMISSION:
        return []
    if service == "s3":
        if action not in S3_ACTIONS:
            raise AssertionError(f"recorded call {because} is not in S3_ACTIONS: add its IAM action")
        iam_action, level = S3_ACTIONS[action]
        arn = f"arn:{PARTITION}:s3:::{bucket}" + (f"/{prefix}/train/0.png" if level == "object" else "")
        return [Need(iam_action, arn, because)]
    if service == "sagemaker":  # the runtime's InvokeEndpoint is signed as "sagemaker" too
        registry = _registry_arn(action, run)
        if registry:
            return [Need(f"sagemaker:{action}", registry, because)]
        for suffix, kind, key in SAGEMAKER_KINDS:
            if action.endswith(suffix):
                return [Need(f"sagemaker:{action}", _arn("sagemaker", f"{kind}/{names[key]}"), because)]
        if action == "ListTags":  # the reaper reads the tags of the package's resources only (mlops-* names)
            return [
                Need("sagemaker:ListTags", _arn("sagemaker", f"{kind}/{names[key]}"), because)
                for _, kind, key in SAGEMAKER_KINDS
            ]
        if action.startswith("List") or action == "Search":
            return [Need(f"sagemaker:{action}", "*", because)]
        raise AssertionError(f"recorded call {because}: which SageMaker resource? extend SAGEMAKER_KINDS")
    if service == "logs" and action in ("DescribeLogStreams", "GetLogEvents"):
        group = "/aws/sagemaker/TrainingJobs"
        arns = _log_group_arns(group)
        if action == "GetLogEvents":
            arns += [_arn("logs", f"log-group:{group}:log-stream:{s}") for s in run.log_streams]
        return [Need(f"logs:{action}", arn, because) for arn in arns]
    if service == "servicequotas" and action in ("ListServiceQuotas", "ListAWSDefaultServiceQuotas", "GetServiceQuota"):
        return [Need(f"servicequotas:{action}", "*", because)]
    if service == "monitoring" and action == "GetMetricData":  # the utilisation report; no resource-level IAM
        return [Need("cloudwatch:GetMetricData", "*", because)]
    raise AssertionError(f"recorded call {because} has no IAM mapping in this test: add one to needs_of()")


def _registry_arn(action: str, run: PipelineRun) -> str | None:
    group = run.config.get("extra", {}).get("model_package_group")
    for suffix, kind, name in REGISTRY_KINDS:
        if action.endswith(suffix) and not action.startswith("List"):
            return _arn("sagemaker", f"{kind}/{name.format(group=group)}")
    return None


def implied_needs(service: str, action: str, run: PipelineRun) -> list[Need]:
    """Permissions a call needs beyond its own action: passing the role, tagging on create."""
    names, config = run.config["names"], run.config
    because = f"{service} {action} (implied)"
    needs: list[Need] = []
    if (service, action) in (("sagemaker", "CreateTrainingJob"), ("sagemaker", "CreateModel")):
        needs.append(
            Need("iam:PassRole", config["role_arn"], because, (("iam:PassedToService", "sagemaker.amazonaws.com"),))
        )
    registry = _registry_arn(action, run) if service == "sagemaker" and action.startswith("Create") else None
    if registry and config.get("tags"):  # the registry's tags: the run's, without the expiry
        keys = tuple(k for k in config["tags"] if k != "mlops:expires-at")
        needs.append(Need("sagemaker:AddTags", registry, because, (("aws:TagKeys", keys),)))
    elif service == "sagemaker" and action.startswith("Create") and config.get("tags"):
        for suffix, kind, key in SAGEMAKER_KINDS:
            if action.endswith(suffix):  # tags in a Create request need sagemaker:AddTags on the new resource
                needs.append(
                    Need(
                        "sagemaker:AddTags",
                        _arn("sagemaker", f"{kind}/{names[key]}"),
                        because,
                        (("aws:TagKeys", tuple(config["tags"])),),
                    )
                )
                break
    if (service, action) == ("s3", "CreateBucket"):
        # upload.ensure_bucket creates a bucket only together with its Block Public Access and SSE-S3 settings;
        # an older request log recorded those two PUTs as CreateBucket.
        bucket_arn = f"arn:{PARTITION}:s3:::{config['bucket']}"
        needs += [
            Need("s3:PutBucketPublicAccessBlock", bucket_arn, because),
            Need("s3:PutEncryptionConfiguration", bucket_arn, because),
        ]
    return needs


def derived_needs(run: PipelineRun) -> list[Need]:
    needs: list[Need] = []
    for service, action in sorted(run.recorded):
        needs += needs_of(service, action, run) + implied_needs(service, action, run)
    return needs


def derived_actions(run: PipelineRun) -> set[str]:
    return {n.action for n in derived_needs(run)}


def _statement_actions(policy: dict[str, Any], sid_prefix: str) -> dict[str, set[str]]:
    return {s["Sid"]: set(_as_list(s["Action"])) for s in policy["Statement"] if s["Sid"].startswith(sid_prefix)}


@pytest.mark.e2e
def test_pipeline_run_succeeded_and_called_aws(pipeline_run: PipelineRun) -> None:
    assert pipeline_run.state == "success", pipeline_run.task_states
    assert pipeline_run.config["bucket"] == DATA_BUCKET and pipeline_run.config["role_arn"] == ROLE_ARN
    assert all(name.startswith("mlops-") for name in pipeline_run.config["names"].values())
    # The run exercised every kind of call the policy is about (else the checks below would prove little).
    actions = derived_actions(pipeline_run)
    assert {
        "sagemaker:CreateTrainingJob",
        "sagemaker:InvokeEndpoint",
        "sagemaker:DeleteEndpoint",
        "s3:PutObject",
        "s3:GetObject",
        "logs:GetLogEvents",
        "servicequotas:ListServiceQuotas",
        "iam:PassRole",
        "sagemaker:CreateModelPackage",
        "sagemaker:UpdateModelPackage",  # pipeline 1's model, the first champion of an empty group
        "sagemaker:ListHyperParameterTuningJobs",  # the reaper, on the tuning job the fixture left running
        "sagemaker:StopHyperParameterTuningJob",
    } <= actions
    print(
        f"\n{DAG_ID}: {len(pipeline_run.requests)} AWS requests in {pipeline_run.seconds:.1f} s; derived IAM "
        f"actions: {sorted(actions)}"
    )


@pytest.mark.e2e
def test_every_call_of_the_run_is_allowed_by_the_airflow_role(pipeline_run: PipelineRun) -> None:
    policy = airflow_policy()
    denied = [
        f"{n.action} on {n.resource} ({n.because})"
        for n in derived_needs(pipeline_run)
        if not allowed(policy, n.action, n.resource, n.ctx())
    ]
    assert not denied, "the Airflow execution role policy misses:\n" + "\n".join(denied)


def _foreign(resource: str) -> list[str]:
    """The same resource elsewhere: another name, bucket, account or region."""
    if resource == "*":
        return []
    if resource.startswith("arn:aws:s3:::"):
        return [resource.replace(DATA_BUCKET, "someone-elses-bucket")]
    if resource.startswith("arn:aws:iam::"):
        return [f"arn:aws:iam::{ACCOUNT}:role/Admin"]
    out = [resource.replace(f":{ACCOUNT}:", ":999999999999:"), resource.replace(f":{REGION}:", ":eu-west-1:")]
    if ":sagemaker:" in resource:
        out.append(re.sub(r"/mlops-", "/prod-", resource))
        out.append(resource.replace("/mnist-image-classifier", "/another-teams-group"))
    if ":logs:" in resource:
        out.append(resource.replace("/aws/sagemaker/", "/aws/lambda/"))
    out = [o for o in out if o != resource]
    assert out, f"no foreign variant of {resource}"
    return out


@pytest.mark.e2e
def test_the_run_s_actions_are_denied_on_other_resources(pipeline_run: PipelineRun) -> None:
    policy = airflow_policy()
    leaks = [
        f"{n.action} on {other} ({n.because})"
        for n in derived_needs(pipeline_run)
        for other in _foreign(n.resource)
        if allowed(policy, n.action, other, n.ctx())
    ]
    assert not leaks, "the Airflow execution role reaches beyond the package's resources:\n" + "\n".join(leaks)
    role = pipeline_run.config["role_arn"]
    assert not allowed(policy, "iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not allowed(policy, "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert not allowed(
        policy,
        "sagemaker:AddTags",
        _arn("sagemaker", f"model/{pipeline_run.config['names']['model']}"),
        {"aws:TagKeys": ["mlops:created-by", "owner"]},
    )


@pytest.mark.e2e
def test_the_airflow_role_grants_no_package_action_the_dags_do_not_call(pipeline_run: PipelineRun) -> None:
    """Statements ``Dags*`` are the DAGs' own; ``Mwaa*`` are MWAA's documented needs (checked separately)."""
    policy = json.loads((IAM_DIR / "airflow-execution-role-policy.json").read_text())
    sids = {s["Sid"] for s in policy["Statement"]}
    assert all(sid.startswith(("Dags", "Mwaa")) for sid in sids), sids
    granted = set().union(*_statement_actions(policy, "Dags").values())
    assert not [a for a in granted if "*" in a or "?" in a], "no wildcard actions in the DAGs' statements"
    called = derived_actions(pipeline_run)
    unused = granted - called - ALLOWED_UNCALLED
    assert not unused, (
        f"granted but never called by {DAG_ID}: {sorted(unused)}. Remove them, or add them to "
        "ALLOWED_UNCALLED with the reason the DAGs need them"
    )
    stale = ALLOWED_UNCALLED - granted
    assert not stale, f"ALLOWED_UNCALLED lists actions the policy does not grant: {sorted(stale)}"
    # MWAA's own statements must not reach the DAGs' resources or services.
    for sid, actions in _statement_actions(policy, "Mwaa").items():
        assert not [a for a in actions if a.split(":")[0] in ("sagemaker", "iam", "servicequotas")], sid


@pytest.mark.parametrize("action", NEVER_ON_DATA)
def test_the_airflow_role_cannot_delete_or_open_the_data(action: str) -> None:
    policy = airflow_policy()
    for bucket in (DATA_BUCKET, INCREMENTAL_BUCKET):
        for arn in (f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/ch06/output/model.tar.gz"):
            assert not allowed(policy, action, arn), f"{action} on {arn}"
    for statement in policy["Statement"]:
        assert action not in _as_list(statement.get("Action", [])), statement.get("Sid")


def test_passrole_is_conditioned_and_sagemaker_is_scoped_to_mlops_names() -> None:
    raw = json.loads((IAM_DIR / "airflow-execution-role-policy.json").read_text())
    arn_pattern = re.compile(
        r"arn:\$\{Partition\}:sagemaker:\$\{Region\}:\$\{Account\}:(training-job|model|endpoint-config|endpoint"
        r"|hyper-parameter-tuning-job)/mlops-\*"
        # the production endpoint by its one name (mnist_deploy_production), and the registry's group and packages
        r"|arn:\$\{Partition\}:sagemaker:\$\{Region\}:\$\{Account\}:(endpoint/mnist-production"
        r"|model-package-group/\$\{ModelPackageGroupName\}|model-package/\$\{ModelPackageGroupName\}/\*)"
    )
    passrole = [s for s in raw["Statement"] if "iam:PassRole" in _as_list(s.get("Action", []))]
    assert len(passrole) == 1
    assert _as_list(passrole[0]["Resource"]) == ["${SageMakerExecutionRoleArn}"]
    assert passrole[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    for statement in raw["Statement"]:
        actions = _as_list(statement.get("Action", []))
        if any(a.startswith("sagemaker:") for a in actions):
            assert all(a.startswith("sagemaker:") for a in actions), statement["Sid"]
            resources = _as_list(statement["Resource"])
            if set(actions) <= RESOURCELESS_LISTS:  # SageMaker's List* take no resource ARN: "*" only, read-only
                assert resources == ["*"], statement["Sid"]
                continue
            assert all(arn_pattern.fullmatch(r) for r in resources), (statement["Sid"], resources)
        assert "*" not in actions and "iam:*" not in actions and "sagemaker:*" not in actions, statement.get("Sid")
    # Nothing but the four resource types of the DAGs' names, and names outside mlops-* are refused.
    policy = airflow_policy()
    assert not allowed(policy, "sagemaker:CreateTrainingJob", _arn("sagemaker", "training-job/train-1"))
    assert not allowed(policy, "sagemaker:DeleteEndpoint", _arn("sagemaker", "endpoint/prod-ep"))
    assert not allowed(policy, "sagemaker:CreateNotebookInstance", _arn("sagemaker", "notebook-instance/mlops-x"))


# -- the SageMaker execution role against what the run's job and endpoint used ---------------------------------------
def _s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _ecr_repository_arn(image: str) -> str:
    registry, _, path = image.partition("/")
    account, _, rest = registry.partition(".dkr.ecr.")
    region = rest.split(".", 1)[0]
    return f"arn:{PARTITION}:ecr:{region}:{account}:repository/{path.rsplit(':', 1)[0]}"


def sagemaker_role_needs(run: PipelineRun) -> list[Need]:
    """What SageMaker does with the role for the run's job and endpoint (from the job's description)."""
    job, model = run.training_job, run.model_request
    needs: list[Need] = []
    uris = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]]
    for uri in uris + [model["PrimaryContainer"]["ModelDataUrl"]]:
        bucket, key = _s3_parts(uri)
        needs += [
            Need("s3:ListBucket", f"arn:aws:s3:::{bucket}", f"read {uri}"),
            Need("s3:GetObject", f"arn:aws:s3:::{bucket}/{key.rstrip('/')}/x", f"read {uri}"),
        ]
    writes = [job["OutputDataConfig"]["S3OutputPath"], job["ModelArtifacts"]["S3ModelArtifacts"]]
    if job.get("CheckpointConfig"):
        writes.append(job["CheckpointConfig"]["S3Uri"])
    for uri in writes:
        bucket, key = _s3_parts(uri)
        needs.append(Need("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}", f"write {uri}"))
    for image in {job["AlgorithmSpecification"]["TrainingImage"], model["PrimaryContainer"]["Image"]}:
        needs.append(Need("ecr:GetAuthorizationToken", "*", f"pull {image}"))
        repository = _ecr_repository_arn(image)
        needs += [
            Need(a, repository, f"pull {image}")
            for a in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")
        ]
    streams = [f"/aws/sagemaker/TrainingJobs:log-stream:{s}" for s in run.log_streams]
    streams.append(f"/aws/sagemaker/Endpoints/{run.config['names']['endpoint']}:log-stream:AllTraffic/i-0")
    for stream in streams:
        needs += [
            Need(a, _arn("logs", f"log-group:{stream}"), "job/endpoint logs")
            for a in ("logs:CreateLogStream", "logs:PutLogEvents")
        ]
        group = stream.split(":log-stream:")[0]
        needs += [
            Need(a, arn, "job/endpoint logs")
            for arn in _log_group_arns(group)
            for a in ("logs:CreateLogGroup", "logs:DescribeLogStreams")
        ]
    for namespace in ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints"):
        needs.append(Need("cloudwatch:PutMetricData", "*", "metrics", (("cloudwatch:namespace", namespace),)))
    return needs


@pytest.mark.e2e
def test_the_sagemaker_role_allows_what_the_run_s_job_and_endpoint_use(pipeline_run: PipelineRun) -> None:
    assert pipeline_run.state == "success", pipeline_run.task_states
    policy = sagemaker_policy()
    needs = sagemaker_role_needs(pipeline_run)
    denied = [
        f"{n.action} on {n.resource} ({n.because})" for n in needs if not allowed(policy, n.action, n.resource, n.ctx())
    ]
    assert not denied, "the SageMaker execution role policy misses:\n" + "\n".join(denied)
    leaks = [
        f"{n.action} on {other}"
        for n in needs
        for other in _foreign(n.resource)
        if not n.action.startswith("ecr:") and allowed(policy, n.action, other, n.ctx())
    ]
    assert not leaks, "the SageMaker execution role reaches beyond the package's resources:\n" + "\n".join(leaks)
    assert not allowed(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/EC2"})
    assert not allowed(policy, "ecr:BatchGetImage", "arn:aws:ecr:us-east-1:811284229777:repository/xgboost")
    for bucket in (DATA_BUCKET, INCREMENTAL_BUCKET):
        assert not allowed(policy, "s3:DeleteObject", f"arn:aws:s3:::{bucket}/ch06/output/x")
    # Pipeline 2's bucket and a spot job's checkpoints are covered too (same statements, second bucket).
    assert allowed(policy, "s3:PutObject", f"arn:aws:s3:::{INCREMENTAL_BUCKET}/mlops-train-x/checkpoints/c.params")
    assert allowed(policy, "s3:GetObject", f"arn:aws:s3:::{DATA_BUCKET}/ch06/output/mlops-train-x/model.tar.gz")


def test_an_older_request_log_still_derives_the_bucket_settings() -> None:
    """requests_log.py once recorded the bucket-level PUTs (?publicAccessBlock, ?encryption) as CreateBucket."""
    config = {"names": {"job": "mlops-train-x"}, "bucket": DATA_BUCKET, "prefix": "ch06", "role_arn": ROLE_ARN}
    for recorded in (["CreateBucket"], ["CreateBucket", "PutPublicAccessBlock", "PutBucketEncryption"]):
        run = PipelineRun("success", {}, config, [{"service": "s3", "action": a} for a in recorded], {}, {}, [], 0)
        assert derived_actions(run) == {
            "s3:CreateBucket",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutEncryptionConfiguration",
        }, recorded


def _all_actions(documents: Iterable[dict[str, Any]]) -> set[str]:
    return {a for d in documents for s in d["Statement"] for a in _as_list(s.get("Action", []))}


def test_no_policy_grants_admin_wildcards() -> None:
    actions = _all_actions([airflow_policy(), sagemaker_policy()])
    assert not {a for a in actions if a == "*" or a.endswith(":*")}, actions


def test_the_airflow_role_may_run_this_package_s_tuning_jobs_only() -> None:
    """Pipeline 3: the tuning actions on mlops-* tuning jobs (tags on create too), and on nothing else."""
    policy = airflow_policy()
    ours, other = (
        _arn("sagemaker", "hyper-parameter-tuning-job/mlops-hpo-x"),
        _arn("sagemaker", "hyper-parameter-tuning-job/x"),
    )
    for action in sorted(ALLOWED_UNCALLED):
        if "HyperParameterTuningJob" in action:
            assert allowed(policy, action, ours), action
            assert not allowed(policy, action, other), action
    assert allowed(policy, "sagemaker:AddTags", ours, {"aws:TagKeys": ["mlops:dag-id"]})
