"""docs/aws-constraints.md stays true: every `enforced` row names a test that exists, every operation is botocore's,
every quote is botocore's wording, every GAP is in the summary, and every operation the DAG code calls has a row."""

from __future__ import annotations

import ast
import functools
import html
import re
from pathlib import Path

import botocore.session
import extract_constraints
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "aws-constraints.md"
HEADER = ["Operation", "Member", "Constraint (quoted, short)", "Emulator", "Test"]
EMULATOR = re.compile(r"^(enforced|not modelled: \S.*|GAP( \(.+\))?)$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@functools.cache
def rows() -> list[dict[str, str]]:
    """Each row of the per-service tables, with its service (from the ``## Name (`service`)`` heading)."""
    found: list[dict[str, str]] = []
    service = None
    in_table = False
    for line in DOC.read_text().splitlines():
        heading = re.match(r"^## .*\(`([a-z0-9-]+)`\)\s*$", line)
        if heading:
            service, in_table = heading[1], False
            continue
        if line.startswith("## "):
            service, in_table = None, False
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if cells == HEADER:
            in_table = service is not None
            continue
        if in_table and not set(line) <= set("|-: "):
            assert len(cells) == len(HEADER), f"row of {len(cells)} cells, not {len(HEADER)}: {line}"
            found.append({"service": service, **dict(zip(HEADER, cells, strict=True))})
    return found


def gap_summary() -> list[list[str]]:
    text = DOC.read_text().split("## GAPs", 1)[1].split("\n## ", 1)[0]
    return [_cells(line) for line in text.splitlines() if line.startswith("| ") and not line.startswith("| #")]


def test_the_doc_has_a_table_per_service() -> None:
    services = {row["service"] for row in rows()}
    assert {"sagemaker", "sagemaker-runtime", "cloudwatch", "logs", "service-quotas", "s3"} <= services


@pytest.mark.parametrize("row", rows(), ids=lambda r: f"{r['Operation']}.{r['Member']}")
def test_each_row_is_well_formed(row: dict[str, str]) -> None:
    assert EMULATOR.match(row["Emulator"]), row
    assert row["Operation"] in botocore.session.get_session().get_service_model(row["service"]).operation_names
    if row["Emulator"] == "enforced":
        assert re.fullmatch(r"tests/[\w/]+\.py::\w+", row["Test"]), f"an enforced rule names its test: {row}"
    else:
        assert row["Test"] == "—", f"only an enforced rule names a test: {row}"


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_enforced_row_names_a_test_that_exists() -> None:
    missing = []
    for row in rows():
        if row["Emulator"] != "enforced":
            continue
        path, function = row["Test"].split("::")
        if not (ROOT / path).is_file() or function not in _test_functions(ROOT / path):
            missing.append(row["Test"])
    assert missing == []


def _normal(text: str) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"\s+([.,;:)])", r"\1", text).replace("( ", "(").strip().lower()


@functools.cache
def operation_docs(service: str, operation: str) -> str:
    """The operation's documentation strings (its own, its members', its errors'), normalised, one text."""
    return "\n".join(_normal(doc) for doc in extract_constraints.operation_documentation(service, operation))


def test_quotes_are_botocores_words() -> None:
    """A "quoted" constraint is the operation's own documentation at this botocore (`code` spans are AWS's or the
    emulator's messages); after a botocore upgrade a reworded rule shows up here."""
    wrong = []
    for row in rows():
        for quote in re.findall(r'"([^"]+)"', row["Constraint (quoted, short)"]):
            for fragment in re.split(r"\.\.\.|…", quote):
                documented = operation_docs(row["service"], row["Operation"])
                if len(fragment.strip()) >= 4 and _normal(fragment) not in documented:
                    wrong.append((row["service"], row["Operation"], fragment.strip()))
    assert wrong == []


def test_every_gap_is_in_the_summary() -> None:
    summarised = " ".join(cells[1] for cells in gap_summary())
    missing = {row["Operation"] for row in rows() if row["Emulator"].startswith("GAP")} - set(
        re.findall(r"[A-Z][A-Za-z0-9]+", summarised)
    )
    assert missing == set()


def test_every_operation_says_what_the_generic_validator_covers() -> None:
    """One ``(model)`` row per operation: the model's own constraints are enforced (SageMaker) or a GAP."""
    operations = {(row["service"], row["Operation"]) for row in rows()}
    model_rows = [(row["service"], row["Operation"]) for row in rows() if row["Member"] == "(model)"]
    assert sorted(model_rows) == sorted(operations)


def test_every_operation_the_dag_code_calls_has_a_row_and_no_other() -> None:
    called = set(extract_constraints.dag_operations())
    listed = {(row["service"], row["Operation"]) for row in rows()}
    assert called - listed == set(), "operations the DAG code calls that the table lacks"
    assert listed - called == set(), "operations in the table that the DAG code no longer calls"


def test_the_scan_finds_client_calls_paginators_hook_methods_and_provider_operators(tmp_path: Path) -> None:
    package = tmp_path / "dags" / "pkg" / "sub"
    package.mkdir(parents=True)
    (package / "mod.py").write_text(
        "from airflow.providers.amazon.aws.operators.sagemaker import SageMakerModelOperator\n"
        "import re\n"
        "def f(hook, s3, client):\n"
        "    hook.conn.describe_endpoint(EndpointName='x')\n"
        "    client.get_paginator('list_models')\n"
        "    s3.check_for_key('k', 'b')\n"
        "    re.search('a', 'b')\n"
        "    client.search(Resource='TrainingJob')\n"
    )
    found = set(extract_constraints.dag_operations([tmp_path / "dags"]))
    assert found == {
        ("sagemaker", "DescribeEndpoint"),
        ("sagemaker", "ListModels"),
        ("s3", "HeadObject"),
        ("sagemaker", "Search"),
        ("sagemaker", "CreateModel"),
        ("sagemaker", "DescribeModel"),
    }


def test_the_extractor_finds_the_prose_rules_issue_19_was_built_on() -> None:
    """The sentences of defects 19.1 and 19.2 come out of the mechanical pass (so an upgrade's new ones would too)."""
    package = dict(
        (member, docs)
        for member, _, docs in extract_constraints.operation_constraints("sagemaker", "CreateModelPackage", depth=1)
    )
    assert any("you cannot supply a tag argument" in sentence for sentence in package["Tags"])
    update = list(extract_constraints.operation_constraints("sagemaker", "UpdateEndpoint", depth=5))
    canary = [docs for member, _, docs in update if member.endswith("TrafficRoutingConfiguration.CanarySize")]
    assert any("less than or equal to 50%" in sentence for sentence in canary[0])
