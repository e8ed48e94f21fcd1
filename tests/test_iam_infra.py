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
from iam_replay import (
    AIRFLOW_POLICY_FILES,
    PARTITION,
    PLACEHOLDERS,
    Need,
    _as_list,
    _sub,
    airflow_role_policy,
    allowed,
    audit_needs,
    denied_calls,
    json_document,
)

from constants import ACCOUNT, DATA_BUCKET, FAST, INCREMENTAL_BUCKET, LOOPBACK_DATASET_HOSTS, REGION, REPO, ROLE_ARN
from dag_runs import run_dag

IAM_DIR = REPO / "include" / "iam"
TEMPLATE = REPO / "include" / "infra" / "mlops-stack.yaml"
CFN_LINT = REPO / ".venv-tools" / "bin" / "cfn-lint"
TOOLS_REQUIREMENTS = REPO / "requirements-tools.txt"

DAG_ID = "mnist_train_deploy"
REAPER_DAG_ID = "sagemaker_mlops_reaper"
SOURCE_BUCKET = "airflow-mlops-test-source"
ENVIRONMENT = "mlops-airflow"

# The JSON files' placeholders and the values the tests give them (tests/iam_replay.py). The template spells the
# same things the CloudFormation way: pseudo parameters, its bucket resources (Ref = bucket name), the role's Arn
# attribute and its own parameters for the list placeholders.
TEMPLATE_NAME_OF = {
    "Partition": "AWS::Partition",
    "Region": "AWS::Region",
    "Account": "AWS::AccountId",
    "SageMakerExecutionRoleArn": "SageMakerExecutionRole.Arn",
    "Regions": "TrainingRegions",
}
TEMPLATE_REFS: dict[str, Any] = {TEMPLATE_NAME_OF.get(name, name): value for name, value in PLACEHOLDERS.items()}
TEMPLATE_CONDITIONS = {"DefaultRegions": False}  # the tests pass TrainingRegions explicitly
# Template parameters that the bucket resources take their names from.
TEMPLATE_PARAMETER_VALUES = {
    "DataBucketName": DATA_BUCKET,
    "IncrementalBucketName": INCREMENTAL_BUCKET,
    "SourceBucketName": SOURCE_BUCKET,
    "EnvironmentName": ENVIRONMENT,
}

# The Airflow role's permissions: one AWS::IAM::ManagedPolicy of the stack per JSON file (the role lists them in its
# ManagedPolicyArns). One inline policy of them all would be too big for IAM (see test_every_policy_fits_iam_s_quotas).
AIRFLOW_MANAGED_POLICIES = {
    "airflow-execution-role-policy-mwaa.json": "AirflowMwaaPolicy",
    "airflow-execution-role-policy-sagemaker-create.json": "AirflowSageMakerCreatePolicy",
    "airflow-execution-role-policy-sagemaker-manage.json": "AirflowSageMakerManagePolicy",
    "airflow-execution-role-policy-data-metrics.json": "AirflowDataMetricsPolicy",
}
# (JSON file, template resource, "trust" | "policy" (the role's one inline policy) | "managed")
DOCUMENTS = [
    *((name, logical, "managed") for name, logical in AIRFLOW_MANAGED_POLICIES.items()),
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
    # mnist_deploy_production (tests/test_production_endpoint.py), which the replayed pipeline-1 run does not call;
    # DeleteAlarms: its off-switch (issue 21) removes the endpoint's alarms with it.
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:TagResource",
    "cloudwatch:DeleteAlarms",
    # issue 22's drift loop: batch-transform evaluation and the monitor's figures (statements ahead of the DAG code,
    # tested in test_the_drift_loop_s_calls_are_allowed_and_no_more; the per-test replay covers them once called).
    "sagemaker:CreateTransformJob",
    "sagemaker:DescribeTransformJob",
    "sagemaker:StopTransformJob",
    "cloudwatch:PutMetricData",
    # pipeline 3 (mnist_tuning); the recorded run these tests replay is pipeline 1's, which tunes nothing (the
    # reaper's Describe/Stop of a tuning job are recorded: it stops the one planted below).
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
    # sagemaker_mlops_setup_check (tests/test_setup_check.py, replayed there): reads the SageMaker role and simulates
    # its policy, and reads the data buckets' encryption, public access block and versioning; it writes nothing.
    "iam:GetRole",
    "iam:SimulatePrincipalPolicy",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketVersioning",
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
        if set(node) == {"Fn::If"}:
            condition, if_true, if_false = node["Fn::If"]
            return resolve(if_true if TEMPLATE_CONDITIONS[condition] else if_false, refs)
        return {k: resolve(v, refs) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, refs) for v in node]
    return node


def resolve_template_document(resource: str, kind: str, refs: dict[str, Any]) -> dict[str, Any]:
    """A role's trust or inline policy, or a managed policy, of the template, rendered with ``refs``."""
    properties = load_template()["Resources"][resource]["Properties"]
    if kind == "managed":
        return resolve(properties["PolicyDocument"], refs)
    if kind == "trust":
        return resolve(properties["AssumeRolePolicyDocument"], refs)
    (policy,) = properties["Policies"]
    return resolve(policy["PolicyDocument"], refs)


def template_document(resource: str, kind: str) -> dict[str, Any]:
    return resolve_template_document(resource, kind, TEMPLATE_REFS)


def airflow_policy() -> dict[str, Any]:
    return airflow_role_policy()


def airflow_raw_statements() -> list[dict[str, Any]]:
    """The Airflow role's statements as the JSON files spell them (placeholders unfilled), all files together."""
    return [s for name in AIRFLOW_POLICY_FILES for s in json.loads((IAM_DIR / name).read_text())["Statement"]]


def template_airflow_policy() -> dict[str, Any]:
    """The Airflow role's managed policies of the template, as one document."""
    documents = [template_document(logical, "managed") for logical in AIRFLOW_MANAGED_POLICIES.values()]
    return {"Version": "2012-10-17", "Statement": [s for d in documents for s in d["Statement"]]}


def sagemaker_policy() -> dict[str, Any]:
    return json_document("sagemaker-execution-role-policy.json")


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


# IAM's quotas (IAM User Guide, "IAM and AWS STS quotas"), in characters without whitespace: all inline policies of a
# role together, one managed policy, a role's trust policy (the default; it can be raised to 4,096), and how many
# managed policies a role may have attached (the default; it can be raised to 20).
ROLE_INLINE_POLICIES_CHARS = 10_240
MANAGED_POLICY_CHARS = 6_144
TRUST_POLICY_CHARS = 2_048
MANAGED_POLICIES_PER_ROLE = 10


def _bucket(prefix: str) -> str:
    return f"{prefix}-{'x' * 63}"[:63]  # the longest name DataBucketName and its siblings allow


# A deployment with the longest names the stack's parameters allow, in three regions, in the longest partition.
LONG_PLACEHOLDERS: dict[str, Any] = {
    **PLACEHOLDERS,
    "Partition": "aws-us-gov",
    "Region": "us-gov-west-1",
    "Account": "111122223333",
    "EnvironmentName": "e" * 80,
    "SourceBucket": _bucket("source"),
    "DataBucket": _bucket("data"),
    "IncrementalBucket": _bucket("incremental"),
    # a role CloudFormation names: <stack>-SageMakerExecutionRole-<id>, at most 64 characters
    "SageMakerExecutionRoleArn": f"arn:aws-us-gov:iam::111122223333:role/service-role/{'r' * 64}",
    "ModelPackageGroupName": "g" * 63,
    "Regions": ["us-gov-west-1", "us-gov-east-1", "ap-southeast-3"],
}


def iam_size(document: dict[str, Any]) -> int:
    """A policy's size as IAM counts it against its quotas: characters, whitespace not counted."""
    return sum(not c.isspace() for c in json.dumps(document, separators=(",", ":")))


@pytest.mark.parametrize(("name", "resource", "kind"), DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
def test_every_policy_fits_iam_s_quotas(name: str, resource: str, kind: str) -> None:
    """Filled for three regions and the longest names, each document stays within IAM's quota, the stack renders it
    the same, and the Airflow role's managed policies (its whole policy would be 11,000+ characters: too big for a
    role's inline policies, let alone one managed policy) are within the number a role may have attached."""
    filled = json_document(name, LONG_PLACEHOLDERS)
    refs = {TEMPLATE_NAME_OF.get(k, k): v for k, v in LONG_PLACEHOLDERS.items()}
    assert filled == resolve_template_document(resource, kind, refs), f"{name}: the stack renders it otherwise"
    limit = {"managed": MANAGED_POLICY_CHARS, "trust": TRUST_POLICY_CHARS}.get(kind, MANAGED_POLICY_CHARS)
    assert iam_size(filled) <= limit, f"{name}: {iam_size(filled)} characters, IAM allows {limit}: split it"
    role_inline = sum(
        iam_size(json_document(n, LONG_PLACEHOLDERS)) for n, r, k in DOCUMENTS if k == "policy" and r == resource
    )
    assert role_inline <= ROLE_INLINE_POLICIES_CHARS
    assert len(AIRFLOW_MANAGED_POLICIES) <= MANAGED_POLICIES_PER_ROLE


def test_every_iam_file_is_in_the_stack_and_the_airflow_role_s_sids_are_unique() -> None:
    assert sorted(p.name for p in IAM_DIR.glob("*.json")) == sorted(d[0] for d in DOCUMENTS)
    assert sorted(AIRFLOW_MANAGED_POLICIES) == sorted(AIRFLOW_POLICY_FILES)
    sids = [s["Sid"] for s in airflow_raw_statements()]
    assert len(sids) == len(set(sids)), "a Sid is in two of the Airflow role's files (the tests address them by it)"


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
    assert "ManagedPolicyArns" not in resources["SageMakerExecutionRole"]["Properties"], "only its reviewed policy"
    # The Airflow role: exactly the stack's own managed policies (the reviewed files), no inline and no AWS-managed one.
    airflow = resources["AirflowExecutionRole"]["Properties"]
    assert "Policies" not in airflow
    assert airflow["ManagedPolicyArns"] == [{"Ref": logical} for logical in AIRFLOW_MANAGED_POLICIES.values()]
    managed = {k for k, v in resources.items() if v["Type"] == "AWS::IAM::ManagedPolicy"}
    assert managed == set(AIRFLOW_MANAGED_POLICIES.values())
    for logical in managed:  # unnamed (CAPABILITY_IAM suffices) and attached through the role only
        assert not {"ManagedPolicyName", "Roles", "Users", "Groups"} & set(resources[logical]["Properties"]), logical
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
    audit: list[dict[str, Any]] = field(default_factory=list)

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
    # The audit is the server's, kept until drained: drop what earlier tests on this worker left in it (with the
    # per-test replay off, e.g. another test's eu-west-1 run), so what is checked below is this module's runs only.
    emulator_server.app.requests.drain_audit()
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
    audit = emulator_server.app.requests.drain_audit()  # every call Airflow signed, with its parameters
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
    yield PipelineRun(str(run.state), states, config, requests, job, deploy.get("model") or {}, streams, seconds, audit)


def _arn(service: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT}:{resource}"


def _log_group_arns(group: str) -> list[str]:
    """CloudWatch Logs authorizes log-group actions against either spelling of the group's ARN."""
    return [_arn("logs", f"log-group:{group}"), _arn("logs", f"log-group:{group}:*")]


def derived_needs(run: PipelineRun) -> list[Need]:
    """The permissions each audited Airflow call of the runs needs (tests/iam_replay.py), on its real resources."""
    return [need for entry in run.audit for need in audit_needs(entry)]


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


def run_policy(run: PipelineRun) -> dict[str, Any]:
    """The Airflow role's policy as the stack renders it for a deployment whose TrainingRegions are the regions the
    run works in (its config's region), after checking that every audited call went to that region."""
    regions = sorted({entry.get("region") or REGION for entry in run.audit})
    assert regions == [run.config["region"]], (
        f"the audit holds calls to {regions}, the run works in {run.config['region']}"
    )
    return airflow_role_policy({**PLACEHOLDERS, "Regions": regions})


@pytest.mark.e2e
def test_every_call_of_the_run_is_allowed_by_the_airflow_role(pipeline_run: PipelineRun) -> None:
    policy = run_policy(pipeline_run)
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
    policy = {"Statement": airflow_raw_statements()}
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
    raw = {"Statement": airflow_raw_statements()}
    # The region is "*" in the ARN and held to the stack's regions by aws:RequestedRegion (see below).
    arn_pattern = re.compile(
        r"arn:\$\{Partition\}:sagemaker:\*:\$\{Account\}:(training-job|model|endpoint-config|endpoint"
        r"|hyper-parameter-tuning-job|transform-job)/mlops-\*"
        # the production endpoint by its one name (mnist_deploy_production), and the registry's group and packages
        r"|arn:\$\{Partition\}:sagemaker:\*:\$\{Account\}:(endpoint/mnist-production"
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
            ctx = TRAINING_CREATE if action.startswith("sagemaker:Create") else {}
            assert allowed(policy, action, ours, ctx), action
            assert not allowed(policy, action, other, ctx), action
    assert allowed(policy, "sagemaker:AddTags", ours, {"aws:TagKeys": ["mlops:dag-id"]})


# -- issues 19-22: regions, the trigger form's trust boundary, production's recovery and off-switch, drift --------
PACKAGE_TAGS = {"mlops:created-by": "airflow-sagemaker-mlops", "mlops:dag-id": "mnist_train_deploy"}
REQUEST_TAGS = {"aws:TagKeys": list(PACKAGE_TAGS), **{f"aws:RequestTag/{k}": v for k, v in PACKAGE_TAGS.items()}}
OWNED = {f"aws:ResourceTag/{k}": v for k, v in PACKAGE_TAGS.items()}
PRODUCTION_OWNED = {**OWNED, "aws:ResourceTag/mlops:environment": "production"}
# What a default pipeline-1 CreateTrainingJob sets (the book's instance, the form's default runtime, isolation on).
TRAINING_CREATE = {
    **REQUEST_TAGS,
    "sagemaker:InstanceTypes": ["ml.p2.xlarge"],
    "sagemaker:MaxRuntimeInSeconds": 86400,
    "sagemaker:NetworkIsolation": "true",
}


def test_every_regional_permission_holds_in_the_stack_s_regions_only() -> None:
    """Issue 21: the stack's TrainingRegions (JSON: ${Regions}) bound every SageMaker, Logs, ECR and CloudWatch
    permission the DAGs and SageMaker use; a region outside the list is refused, one added to it is allowed."""
    for name in (*AIRFLOW_POLICY_FILES, "sagemaker-execution-role-policy.json"):
        raw = json.loads((IAM_DIR / name).read_text())
        for statement in raw["Statement"]:
            services = {a.split(":")[0] for a in _as_list(statement["Action"])}
            if services & {"sagemaker", "logs", "ecr", "cloudwatch"} and not statement["Sid"].startswith("Mwaa"):
                regions = statement.get("Condition", {}).get("StringEquals", {}).get("aws:RequestedRegion")
                assert regions == "${Regions}", f"{name} {statement['Sid']}: no aws:RequestedRegion condition"
    job = "training-job/mlops-train-x"
    for policy_values, eu_allowed in (
        (PLACEHOLDERS, False),
        ({**PLACEHOLDERS, "Regions": [REGION, "eu-west-1"]}, True),
    ):
        policy = airflow_role_policy(policy_values)
        assert allowed(policy, "sagemaker:CreateTrainingJob", _arn("sagemaker", job), TRAINING_CREATE)
        eu = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:{job}"
        assert allowed(policy, "sagemaker:CreateTrainingJob", eu, TRAINING_CREATE) is eu_allowed
        assert allowed(policy, "sagemaker:DescribeTrainingJob", eu) is eu_allowed
        assert allowed(policy, "sagemaker:ListTrainingJobs", "*", {"aws:RequestedRegion": "eu-west-1"}) is eu_allowed
    # The template: a CommaDelimitedList whose description names the DAGs' Variable, defaulting to the stack's region.
    template = load_template()
    parameter = template["Parameters"]["TrainingRegions"]
    assert parameter["Type"] == "CommaDelimitedList" and parameter["Default"] == ""
    assert "sagemaker_mlops_allowed_regions" in parameter["Description"]
    TEMPLATE_CONDITIONS["DefaultRegions"] = True
    try:
        default = template_airflow_policy()
    finally:
        TEMPLATE_CONDITIONS["DefaultRegions"] = False
    statement = next(s for s in default["Statement"] if s["Sid"] == "DagsSageMakerCreateTrainingJob")
    assert statement["Condition"]["StringEquals"]["aws:RequestedRegion"] == [PLACEHOLDERS["Region"]]


def _algorithm_images() -> dict[str, str]:
    (path,) = (REPO / "dags").rglob("algorithm_images.json")  # wherever the package keeps it
    return json.loads(path.read_text())["uris"]


def test_the_sagemaker_role_pulls_only_the_algorithm_registry_s_images() -> None:
    """Issue 20: not ``repository/image-classification`` in any account, but each region's AWS algorithm registry
    account (from the SDK-generated algorithm_images.json), and only in the team's regions."""
    expected = sorted(
        f"arn:${{Partition}}:ecr:{region}:{uri.split('.', 1)[0]}:repository/image-classification"
        for region, uri in _algorithm_images().items()
    )
    raw = json.loads((IAM_DIR / "sagemaker-execution-role-policy.json").read_text())
    (pull,) = [s for s in raw["Statement"] if s["Sid"] == "PullImageClassificationAlgorithm"]
    assert sorted(pull["Resource"]) == expected, "regenerate the list from algorithm_images.json"
    policy = sagemaker_policy()
    algorithm = _ecr_repository_arn(_algorithm_images()[REGION])
    assert allowed(policy, "ecr:BatchGetImage", algorithm)
    attacker = f"arn:aws:ecr:{REGION}:999999999999:repository/image-classification"
    assert not allowed(policy, "ecr:BatchGetImage", attacker), "a triggerer's own image-classification repository"
    other_region = _ecr_repository_arn(_algorithm_images()["eu-west-1"])
    assert not allowed(policy, "ecr:BatchGetImage", other_region), "a region outside TrainingRegions"


@pytest.mark.parametrize(
    ("action", "resource", "limits"),
    [
        ("sagemaker:CreateTrainingJob", "training-job/mlops-train-x", "training"),
        ("sagemaker:CreateHyperParameterTuningJob", "hyper-parameter-tuning-job/mlops-hpo-x", "training"),
        ("sagemaker:CreateModel", "model/mlops-model-x", "model"),
        ("sagemaker:CreateEndpointConfig", "endpoint-config/mlops-epc-x", "inference"),
        ("sagemaker:CreateTransformJob", "transform-job/mlops-eval-x", "transform"),
    ],
)
def test_creates_carry_the_admin_ceilings_as_condition_keys(action: str, resource: str, limits: str) -> None:
    """Issue 20: what the trigger form must not raise, IAM refuses too. Each key is one the Service Authorization
    Reference lists for that action ("Actions defined by Amazon SageMaker AI"): sagemaker:NetworkIsolation on
    CreateTrainingJob/CreateModel/CreateHyperParameterTuningJob, sagemaker:InstanceTypes on those two jobs,
    CreateEndpointConfig and CreateTransformJob, sagemaker:MaxRuntimeInSeconds on the two jobs, sagemaker:ModelArn
    on CreateTransformJob, aws:RequestTag/${TagKey} on every Create."""
    policy = airflow_policy()
    arn = _arn("sagemaker", resource)
    good: dict[str, Any] = {**REQUEST_TAGS}
    if limits == "training":
        good.update(TRAINING_CREATE)
    if limits == "model":
        good["sagemaker:NetworkIsolation"] = "true"
    if limits in ("inference", "transform"):
        good["sagemaker:InstanceTypes"] = ["ml.m5.xlarge"]
    if limits == "transform":
        good["sagemaker:ModelArn"] = _arn("sagemaker", "model/mlops-model-x")
    assert allowed(policy, action, arn, good)
    bad: list[dict[str, Any]] = [
        {k: v for k, v in good.items() if not k.startswith("aws:RequestTag/")},  # untagged: the reaper cannot see it
        {**good, "aws:RequestTag/mlops:created-by": "someone-else"},
    ]
    if "sagemaker:NetworkIsolation" in good:
        bad.append({**good, "sagemaker:NetworkIsolation": "false"})
    if "sagemaker:InstanceTypes" in good:
        bad.append({**good, "sagemaker:InstanceTypes": ["ml.p4d.24xlarge"]})
        bad.append({k: v for k, v in good.items() if k != "sagemaker:InstanceTypes"})
    if "sagemaker:MaxRuntimeInSeconds" in good:
        bad.append({**good, "sagemaker:MaxRuntimeInSeconds": 2419200})
    if "sagemaker:ModelArn" in good:
        bad.append({**good, "sagemaker:ModelArn": _arn("sagemaker", "model/another-teams-model")})
    for context in bad:
        assert not allowed(policy, action, arn, context), context
    # The condition keys are only ever used on actions that support them (else they never match, or deny all).
    supported = {
        "sagemaker:NetworkIsolation": {"CreateTrainingJob", "CreateModel", "CreateHyperParameterTuningJob"},
        "sagemaker:InstanceTypes": {
            "CreateTrainingJob",
            "CreateHyperParameterTuningJob",
            "CreateEndpointConfig",
            "CreateTransformJob",
        },
        "sagemaker:MaxRuntimeInSeconds": {"CreateTrainingJob", "CreateHyperParameterTuningJob"},
        "sagemaker:ModelArn": {"CreateTransformJob", "CreateEndpointConfig"},
    }
    for statement in airflow_raw_statements():
        keys = {k for tests in statement.get("Condition", {}).values() for k in tests}
        actions = {a.removeprefix("sagemaker:") for a in _as_list(statement["Action"])}
        for key in keys & set(supported):
            assert actions <= supported[key], f"{statement['Sid']}: {key} on {sorted(actions - supported[key])}"


def test_delete_stop_update_need_the_package_s_tag() -> None:
    """Issue 20: Delete/Stop/Update only on resources tagged as the package's (aws:ResourceTag), so a crafted name
    cannot make a teardown or the reaper act on another team's mlops-* resource."""
    policy = airflow_policy()
    for action, resource in [
        ("sagemaker:DeleteEndpoint", "endpoint/mlops-ep-x"),
        ("sagemaker:DeleteEndpointConfig", "endpoint-config/mlops-epc-x"),
        ("sagemaker:DeleteModel", "model/mlops-model-x"),
        ("sagemaker:StopTrainingJob", "training-job/mlops-train-x"),
        ("sagemaker:StopHyperParameterTuningJob", "hyper-parameter-tuning-job/mlops-hpo-x"),
        ("sagemaker:StopTransformJob", "transform-job/mlops-eval-x"),
        ("sagemaker:UpdateEndpoint", "endpoint/mlops-ep-x"),
    ]:
        arn = _arn("sagemaker", resource)
        assert allowed(policy, action, arn, OWNED), action
        assert not allowed(policy, action, arn, {"aws:ResourceTag/mlops:created-by": "another-team"}), action
        assert not allowed(policy, action, arn), f"{action} on an untagged resource"
    # Listing (the reaper) has no resource-level conditions: it stays on "*".
    assert allowed(policy, "sagemaker:ListEndpoints", "*")


def test_production_recovery_and_off_switch_are_allowed_on_production_only() -> None:
    """Issue 19 item 8: mnist_deploy_production deletes a Failed mnist-production before recreating it. Issue 21
    item 6: its off-switch deletes the endpoint, its config, model and alarms together."""
    policy = airflow_policy()
    production = _arn("sagemaker", "endpoint/mnist-production")
    assert allowed(policy, "sagemaker:DeleteEndpoint", production, PRODUCTION_OWNED)
    assert not allowed(policy, "sagemaker:DeleteEndpoint", production, OWNED), "a test endpoint's tags"
    assert not allowed(policy, "sagemaker:DeleteEndpoint", _arn("sagemaker", "endpoint/another-production"), OWNED)
    for kind in ("endpoint-config/mlops-prod-epc-x", "model/mlops-prod-model-x"):
        action = "sagemaker:DeleteEndpointConfig" if kind.startswith("endpoint-config") else "sagemaker:DeleteModel"
        assert allowed(policy, action, _arn("sagemaker", kind), PRODUCTION_OWNED)
    for alarm in ("mnist-production-latency", "mnist-production-drift-psi"):
        for action in ("cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"):
            assert allowed(policy, action, _arn("cloudwatch", f"alarm:{alarm}")), (action, alarm)
    assert not allowed(policy, "cloudwatch:DeleteAlarms", _arn("cloudwatch", "alarm:billing-alarm"))


def test_only_mnist_production_may_be_created_as_production() -> None:
    """Issue 20 review: a test endpoint's name (mlops-*) created with the production tags would be a production
    endpoint the reaper never removes; only mnist-production may be created tagged environment=production."""
    policy = airflow_policy()
    create = "sagemaker:CreateEndpoint"
    prod_request = {f"aws:RequestTag/{k}": v for k, v in PRODUCTION_REQUEST.items()}
    test_request = {"aws:RequestTag/mlops:created-by": "airflow-sagemaker-mlops"}
    assert not allowed(policy, create, _arn("sagemaker", "endpoint/mlops-extra-1"), prod_request)
    assert allowed(policy, create, _arn("sagemaker", "endpoint/mlops-ep-x"), test_request)
    assert allowed(policy, create, _arn("sagemaker", "endpoint/mnist-production"), prod_request)
    assert not allowed(policy, create, _arn("sagemaker", "endpoint/mnist-production"), test_request)
    assert allowed(policy, create, _arn("sagemaker", "endpoint-config/mlops-prod-epc-x"), prod_request)


PRODUCTION_REQUEST = {"mlops:created-by": "airflow-sagemaker-mlops", "mlops:environment": "production"}


def test_the_drift_loop_s_calls_are_allowed_and_no_more() -> None:
    """Issue 22: batch transform on mlops-* jobs, drift figures in the SageMakerMLOps/Drift namespace only, reading
    the production endpoint's data capture (under the data bucket)."""
    policy = airflow_policy()
    job = _arn("sagemaker", "transform-job/mlops-eval-x")
    assert allowed(policy, "sagemaker:DescribeTransformJob", job)
    assert not allowed(policy, "sagemaker:DescribeTransformJob", _arn("sagemaker", "transform-job/other"))
    assert allowed(policy, "sagemaker:AddTags", job, REQUEST_TAGS)
    dags_metrics = {**policy, "Statement": [s for s in policy["Statement"] if s["Sid"].startswith("Dags")]}
    assert allowed(dags_metrics, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "SageMakerMLOps/Drift"})
    assert not allowed(dags_metrics, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/SageMaker"})
    capture = f"arn:aws:s3:::{DATA_BUCKET}/capture/mnist-production/AllTraffic/2026/12/07/03/x.jsonl"
    assert allowed(policy, "s3:GetObject", capture)
    assert allowed(policy, "s3:ListBucket", f"arn:aws:s3:::{DATA_BUCKET}")


def test_the_replay_refuses_what_the_policy_refuses() -> None:
    """tests/iam_replay.py (run after every test) maps an audited call to its needs: a DeleteEndpoint of the
    production endpoint, as the recovery path sends it, is allowed only with the endpoint's production tags."""
    entry = {
        "service": "sagemaker",
        "action": "DeleteEndpoint",
        "region": REGION,
        "params": {"EndpointName": "mnist-production"},
        "resource_tags": {**PACKAGE_TAGS, "mlops:environment": "production"},
    }
    assert denied_calls([entry]) == []
    assert denied_calls([{**entry, "resource_tags": None}]), "a missing resource has no tags: AccessDenied"
    main_policy = {  # the policy before issue 19: no DeleteEndpoint on mnist-production
        **airflow_policy(),
        "Statement": [s for s in airflow_policy()["Statement"] if s["Sid"] != "DagsProductionEndpointChange"],
    }
    assert denied_calls([entry], main_policy)
    create = {
        "service": "sagemaker",
        "action": "CreateTrainingJob",
        "region": REGION,
        "params": {
            "TrainingJobName": "mlops-train-x",
            "RoleArn": ROLE_ARN,
            "ResourceConfig": {"InstanceType": "ml.p2.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "EnableNetworkIsolation": True,
            "Tags": [{"Key": k, "Value": v} for k, v in PACKAGE_TAGS.items()],
        },
    }
    assert denied_calls([create]) == []
    isolation_off = {**create, "params": {**create["params"], "EnableNetworkIsolation": False}}
    assert any("CreateTrainingJob" in d for d in denied_calls([isolation_off]))
