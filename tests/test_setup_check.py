"""The setup check (``sagemaker_mlops_setup_check``): its lines from what it read (pure), and the DAG on the
emulator for a good set-up (green, every required line OK, the HTML report stored) and a broken one (red, every
broken line reported with its fix at once: a missing bucket, a role without SageMaker's trust, no quota for the
training type, an unknown region, an unset Variable, a paused reaper). Also the emulator's IAM policy simulator,
which the permission line relies on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.setup_check import checks as sc
from sagemaker_mlops.setup_check import report_html

from constants import ACCOUNT, DATA_BUCKET, INCREMENTAL_BUCKET, REGION, REPO
from constants import ROLE_ARN as SUITE_ROLE_ARN
from dag_runs import run_dag

DAG_ID = "sagemaker_mlops_setup_check"
# The suite's deployment role (the IAM replay's ${SageMakerExecutionRoleArn}): the Airflow role may read only it.
ROLE_ARN = SUITE_ROLE_ARN
ROLE_NAME = ROLE_ARN.rsplit("/", 1)[-1]
IN_REGION = [{"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": [REGION], "ContextKeyType": "string"}]
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _policy(**values: str) -> str:
    text = (REPO / "include/iam/sagemaker-execution-role-policy.json").read_text()
    placeholders = {
        "Partition": "aws",
        "Region": REGION,
        "Account": ACCOUNT,
        "DataBucket": DATA_BUCKET,
        "IncrementalBucket": INCREMENTAL_BUCKET,
        **values,
    }
    text = text.replace('"${Regions}"', json.dumps([REGION]))
    for name, value in placeholders.items():
        text = text.replace("${" + name + "}", value)
    return text


def _by_id(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in lines}


# -- pure ------------------------------------------------------------------------------------------------------------
def test_trust_needs_sagemaker_to_assume_the_role() -> None:
    good = json.loads((REPO / sc.TRUST_POLICY_FILE).read_text())
    assert sc.trust_line("r", good)["status"] == sc.OK
    bad = sc.trust_line("r", EC2_TRUST)
    assert bad["status"] == sc.FIX and "update-assume-role-policy --role-name r" in bad["fix"]


def test_unset_and_invalid_variables_say_which_dags_they_break() -> None:
    lines = _by_id(sc.variable_lines({"sagemaker_mlops_role_arn": "not-an-arn", "sagemaker_mlops_bucket": "b-ok"}))
    assert lines["variable:sagemaker_mlops_role_arn"]["status"] == sc.FIX
    incremental = lines["variable:sagemaker_mlops_incremental_bucket"]
    assert incremental["status"] == sc.FIX and "mnist_incremental_spot" in incremental["detail"]
    assert "airflow variables set sagemaker_mlops_incremental_bucket" in incremental["fix"]
    assert lines["variable:sagemaker_mlops_bucket"]["status"] == sc.OK
    optional = lines["variable:sagemaker_mlops_max_cost_usd"]
    assert optional["status"] == sc.INFO and not optional["required"]


def test_an_unknown_region_and_its_missing_image_are_lines_with_fixes() -> None:
    lines = _by_id(sc.region_lines("xx-nowhere-1", ["us-east-1"]))
    assert lines["region"]["status"] == sc.FIX and "sagemaker_mlops_region" in lines["region"]["fix"]
    assert lines["image"]["status"] == sc.FIX and "us-east-1" in lines["image"]["fix"]
    assert [e["status"] for e in sc.region_lines("us-east-1", ["us-east-1"])] == [sc.OK, sc.OK]


def test_buckets_need_encryption_and_public_access_blocked_and_the_source_versioning() -> None:
    lines = _by_id(
        sc.bucket_lines(
            "MWAA source",
            "src",
            exists=True,
            encryption=[],
            public_access_block={"BlockPublicAcls": True},
            versioning=None,
            versioning_required=True,
        )
    )
    assert {k: v["status"] for k, v in lines.items()} == {
        "bucket:MWAA source": sc.OK,
        "bucket:MWAA source:encryption": sc.FIX,
        "bucket:MWAA source:public": sc.FIX,
        "bucket:MWAA source:versioning": sc.FIX,
    }
    assert "IgnorePublicAcls" in lines["bucket:MWAA source:public"]["detail"]


def test_the_failure_lists_every_required_fix_and_the_html_is_self_contained() -> None:
    lines = [
        sc.line("a", "A", sc.FIX, "broken a", "fix a"),
        sc.line("b", "B", sc.FIX, "broken b", "fix b"),
        sc.line("c", "C", sc.FIX, "optional c", "fix c", required=False),
        sc.line("d", "D", sc.OK, "<fine>"),
    ]
    message = sc.failure_message(lines)
    assert message.startswith("2 required line(s)") and "fix a" in message and "fix b" in message
    assert "fix c" not in message
    html = report_html.render({"ok": False, "lines": lines, "failures": ["a", "b"]})
    assert "&lt;fine&gt;" in html and "<script" not in html and "http" not in html.split("<body>")[1]


# -- the emulator's policy simulator ---------------------------------------------------------------------------------
def test_the_emulators_policy_simulator_allows_denies_and_names_missing_context(aws: Any) -> None:
    iam = aws("iam")
    trust = (REPO / sc.TRUST_POLICY_FILE).read_text()
    arn = iam.create_role(RoleName="Sim", Path="/service-role/", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="Sim", PolicyName="p", PolicyDocument=_policy())
    results = iam.simulate_principal_policy(
        PolicySourceArn=arn,
        ActionNames=["s3:GetObject", "s3:DeleteObject"],
        ResourceArns=[f"arn:aws:s3:::{DATA_BUCKET}/k"],
        ContextEntries=IN_REGION,
    )["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in results] == [
        ("s3:GetObject", "allowed"),
        ("s3:DeleteObject", "implicitDeny"),
    ]
    other = iam.simulate_principal_policy(
        PolicySourceArn=arn,
        ActionNames=["s3:GetObject"],
        ResourceArns=["arn:aws:s3:::someone-else/k"],
        ContextEntries=IN_REGION,
    )["EvaluationResults"][0]
    assert other["EvalDecision"] == "implicitDeny"
    bare = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["cloudwatch:PutMetricData"])
    assert "cloudwatch:namespace" in bare["EvaluationResults"][0]["MissingContextValues"]
    iam.put_role_policy(
        RoleName="Sim",
        PolicyName="deny",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    denied = iam.simulate_principal_policy(
        PolicySourceArn=arn,
        ActionNames=["s3:GetObject"],
        ResourceArns=[f"arn:aws:s3:::{DATA_BUCKET}/k"],
        ContextEntries=IN_REGION,
    )["EvaluationResults"][0]
    assert denied["EvalDecision"] == "explicitDeny"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.simulate_principal_policy(PolicySourceArn=f"{arn}-gone", ActionNames=["s3:GetObject"])


# -- the DAG on the emulator -----------------------------------------------------------------------------------------
def _private_bucket(s3: Any, name: str) -> None:
    s3.create_bucket(Bucket=name)
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def _reaper_paused(paused: bool) -> None:
    """The reaper's row in Airflow's DAG table, as the dag-processor writes it (dag.test parses only its own DAG)."""
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.get(DagModel, sc.REAPER_DAG_ID)
        if row is None:
            if session.get(DagBundleModel, "dags-folder") is None:  # a fresh DB has no bundle row (a foreign key)
                session.add(DagBundleModel(name="dags-folder"))
                session.flush()
            row = DagModel(dag_id=sc.REAPER_DAG_ID, bundle_name="dags-folder")
            session.add(row)
        row.is_paused = paused


def _result(run: Any) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=DAG_ID, task_ids="setup_check", key="setup_check")
        ).first()
        return XComModel.deserialize_value(row)


@pytest.mark.e2e
def test_a_good_set_up_is_green_with_its_report_stored(
    airflow_db: Path, airflow_aws: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam, s3 = aws("iam"), aws("s3")
    trust = (REPO / sc.TRUST_POLICY_FILE).read_text()
    iam.create_role(RoleName=ROLE_NAME, Path="/service-role/", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="mlops", PolicyDocument=_policy())
    for bucket in (DATA_BUCKET, INCREMENTAL_BUCKET):
        _private_bucket(s3, bucket)
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET", INCREMENTAL_BUCKET)
    monkeypatch.delenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_ALLOWED_DATASET_HOSTS", raising=False)
    _reaper_paused(False)
    airflow_aws.clear_requests()

    run, states = run_dag(DAG_ID, {})
    result = _result(run)
    assert str(run.state) == "success", (states, [e for e in result["lines"] if e["status"] != sc.OK])
    lines = _by_id(result["lines"])
    for key in (
        "connection",
        "region",
        "image",
        "role",
        "role:trust",
        "role:permissions",
        "bucket:data",
        "bucket:data:encryption",
        "bucket:data:public",
        "bucket:incremental",
        "quota:training",
        "quota:spot_training",
        "quota:test_endpoint",
        "reaper",
    ):
        assert lines[key]["status"] == sc.OK, lines[key]
    assert result["ok"] is True and result["failures"] == []
    html = s3.get_object(Bucket=DATA_BUCKET, Key=result["html_uri"].split("/", 3)[3])["Body"].read().decode()
    assert "setup check" in html and ROLE_NAME in html
    # it spends nothing: only reads
    created = [
        a
        for s in ("sagemaker", "s3", "iam")
        for a in airflow_aws.actions(s)
        if a.startswith(("Create", "Update", "Delete", "Start"))
    ]
    assert created == [], created


@pytest.mark.e2e
@pytest.mark.iam_denied_expected  # its data bucket is one the deployment (and so the Airflow role) does not have
def test_a_broken_set_up_is_red_with_every_line_and_its_fix(
    airflow_db: Path, airflow_aws: Any, aws: Any, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    iam = aws("iam")
    iam.create_role(RoleName=ROLE_NAME, Path="/service-role/", AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET", "mlops-no-such-bucket")  # never created
    monkeypatch.delenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET", raising=False)  # unset
    airflow_aws.settings(quota_profile="p2-retired")  # ml.p2 quotas 0, as in many accounts
    _reaper_paused(True)
    capfd.readouterr()

    run, states = run_dag(DAG_ID, {})
    assert str(run.state) == "failed", states
    result = _result(run)
    lines = _by_id(result["lines"])
    expected = {
        "variable:sagemaker_mlops_incremental_bucket": "airflow variables set sagemaker_mlops_incremental_bucket",
        "bucket:data": "create-bucket --bucket mlops-no-such-bucket",
        "role:trust": f"update-assume-role-policy --role-name {ROLE_NAME}",
        "role:permissions": "put-role-policy",
        "quota:training": "ml.g4dn.xlarge",
        "quota:spot_training": "request-service-quota-increase",
        "reaper": "airflow dags unpause sagemaker_mlops_reaper",
    }
    for key, fix in expected.items():
        assert lines[key]["status"] == sc.FIX and fix in lines[key]["fix"], lines[key]
    assert set(expected) <= set(result["failures"])
    out = capfd.readouterr().out
    assert f"{len(result['failures'])} required line(s) of the setup check need a fix" in out
    for key in expected:
        assert lines[key]["title"] in out  # the log's checklist and the failure name every line

    run, states = run_dag(DAG_ID, {"region": "xx-nowhere-1"})
    assert str(run.state) == "failed", states
    lines = _by_id(_result(run)["lines"])
    assert lines["region"]["status"] == sc.FIX and lines["image"]["status"] == sc.FIX
