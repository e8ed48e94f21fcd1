"""Finds the AWS operations the DAGs call and prints the prose constraints botocore documents for each.

Why: the emulator's generic validator (``aws_emulator.service_model_validation``) enforces what botocore's model
carries as data (lengths, patterns, enums, ranges, required members). AWS's other rules live only in the
documentation strings ("must", "cannot", "only", "at most" ...). ``docs/aws-constraints.md`` lists them, curated by
hand; this script redoes the mechanical part so the table can be re-checked after a botocore upgrade:

    .venv/bin/python include/dev/extract_constraints.py                  # every operation the DAGs call
    .venv/bin/python include/dev/extract_constraints.py --list            # only the operations
    .venv/bin/python include/dev/extract_constraints.py sagemaker:CreateEndpointConfig --depth 3

Each candidate sentence is printed under ``Operation  member.path  [model: min/max/pattern/enum]`` so the sentences
that only restate the model (already enforced) can be told from the prose rules.

The operation scan (:func:`dag_operations`) is an ast walk of ``dags/`` and ``plugins/`` (recursive, so moving
modules into sub-packages keeps it right): boto3 client method calls (``.conn.describe_endpoint(...)``,
``client.put_object(...)``), operation names given as strings (``get_paginator("list_models")``, listing tables),
the provider hook methods and the provider operators/sensors/triggers the code uses, each mapped to the API calls
their source (amazon provider 9.34.0) makes.
"""

from __future__ import annotations

import argparse
import ast
import functools
import html
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("sagemaker", "sagemaker-runtime", "cloudwatch", "logs", "service-quotas", "s3", "sts", "iam")
"""The services whose clients the DAG code can reach (a method name is looked up in these, in this order)."""

_CHECK_S3_URL = (("s3", "HeadBucket"), ("s3", "HeadObject"), ("s3", "ListObjectsV2"))
_TRAINING_LOGS = (("logs", "DescribeLogStreams"), ("logs", "GetLogEvents"))

PROVIDER_CALLS: dict[str, tuple[tuple[str, str], ...]] = {
    # operators/sagemaker.py + hooks/sagemaker.py (9.34.0): check_training_config -> check_s3_url on each channel,
    # _get_unique_job_name -> DescribeTrainingJob, create_training_job, then describe (+ logs with print_log).
    "SageMakerTrainingOperator": (
        ("sagemaker", "CreateTrainingJob"),
        ("sagemaker", "DescribeTrainingJob"),
        *_CHECK_S3_URL,
        *_TRAINING_LOGS,
    ),
    "SageMakerTuningOperator": (
        ("sagemaker", "CreateHyperParameterTuningJob"),
        ("sagemaker", "DescribeHyperParameterTuningJob"),
        *_CHECK_S3_URL,
    ),
    "SageMakerModelOperator": (("sagemaker", "CreateModel"), ("sagemaker", "DescribeModel")),
    "SageMakerEndpointConfigOperator": (
        ("sagemaker", "CreateEndpointConfig"),
        ("sagemaker", "DescribeEndpointConfig"),
    ),
    # create, or update when AWS says it exists; then the endpoint_in_service waiter / trigger and describes
    "SageMakerEndpointOperator": (
        ("sagemaker", "CreateEndpoint"),
        ("sagemaker", "UpdateEndpoint"),
        ("sagemaker", "DescribeEndpoint"),
        ("sagemaker", "DescribeEndpointConfig"),
    ),
    # _get_unique_job_name -> DescribeTransformJob, create_transform_job, then describe job and model (results)
    "SageMakerTransformOperator": (
        ("sagemaker", "CreateTransformJob"),
        ("sagemaker", "DescribeTransformJob"),
        ("sagemaker", "DescribeModel"),
    ),
    "SageMakerTrainingSensor": (("sagemaker", "DescribeTrainingJob"), *_TRAINING_LOGS),
    "SageMakerTuningSensor": (("sagemaker", "DescribeHyperParameterTuningJob"),),
    # triggers/sagemaker.py: the service's waiters (training_job_complete, tuning_job_complete, endpoint_in_service)
    "SageMakerTrigger": (
        ("sagemaker", "DescribeTrainingJob"),
        ("sagemaker", "DescribeHyperParameterTuningJob"),
        ("sagemaker", "DescribeEndpoint"),
    ),
}
"""Provider classes -> the API calls they make for the DAGs' configuration."""

HOOK_METHODS: dict[str, tuple[str, str]] = {
    # SageMakerHook
    "describe_tuning_job": ("sagemaker", "DescribeHyperParameterTuningJob"),
    # S3Hook
    "load_string": ("s3", "PutObject"),
    "load_bytes": ("s3", "PutObject"),
    "load_file": ("s3", "PutObject"),
    "check_for_key": ("s3", "HeadObject"),
    "read_key": ("s3", "GetObject"),
    "get_key": ("s3", "HeadObject"),
    "list_keys": ("s3", "ListObjectsV2"),
    "list_prefixes": ("s3", "ListObjectsV2"),
    "check_for_prefix": ("s3", "ListObjectsV2"),
    "check_for_bucket": ("s3", "HeadBucket"),
    "delete_objects": ("s3", "DeleteObjects"),
}
"""Provider hook methods (not client methods) -> the API call each makes."""

KEYWORDS = re.compile(
    r"\b(must|cannot|can't|can not|only|at most|at least|up to|maximum|minimum|valid values?|"
    r"if you specify|not supported|exceed\w*|no more than|no less than|less than|greater than|between|"
    r"required|mutually exclusive|limit\w*|don't|do not)\b",
    re.IGNORECASE,
)


@functools.cache
def model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


@functools.cache
def _snake_ops() -> dict[str, tuple[str, str]]:
    ops: dict[str, tuple[str, str]] = {}
    for service in reversed(SERVICES):  # earlier services win a shared name
        for name in model(service).operation_names:
            ops[xform_name(name)] = (service, name)
    return ops


def _python_files(roots: Iterable[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_dir():
            yield from sorted(root.rglob("*.py"))


def dag_operations(roots: Iterable[Path] | None = None) -> dict[tuple[str, str], set[str]]:
    """(service, Operation) -> where the DAG code calls it (``file:line``), from an ast scan of ``roots``."""
    roots = list(roots) if roots is not None else [ROOT / "dags", ROOT / "plugins"]
    ops = _snake_ops()
    found: dict[tuple[str, str], set[str]] = {}

    def add(key: tuple[str, str], path: Path, node: ast.AST) -> None:
        found.setdefault(key, set()).add(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{getattr(node, 'lineno', 0)}"
        )

    for path in _python_files(roots):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                attr = node.func.attr
                client_method = "_" in attr or _is_client_call(node)  # get/search/... alone are not boto3's
                if attr in ops and client_method:
                    add(ops[attr], path, node)
                elif attr in HOOK_METHODS:
                    add(HOOK_METHODS[attr], path, node)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ops:
                if "_" in node.value and node.value.startswith(("list_", "describe_", "get_", "delete_", "stop_")):
                    add(ops[node.value], path, node)  # get_paginator("list_models"), listing tables
            elif isinstance(node, ast.Name) and node.id in PROVIDER_CALLS:
                for key in PROVIDER_CALLS[node.id]:
                    add(key, path, node)
            elif isinstance(node, ast.alias) and node.name in PROVIDER_CALLS:
                for key in PROVIDER_CALLS[node.name]:
                    add(key, path, node)
    return found


def _is_client_call(node: ast.Call) -> bool:
    """A one-word method (``search``) is a boto3 operation only when called with AWS's CamelCase keyword
    arguments (``client.search(Resource=...)``; ``re.search(...)`` and ``quotas.get(...)`` are not)."""
    return bool(node.keywords) and all(k.arg is not None and k.arg[:1].isupper() for k in node.keywords)


_TAG = re.compile(r"<[^>]+>")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z<\"'(])")


def sentences(doc: str | None) -> list[str]:
    """The documentation's sentences, HTML removed."""
    if not doc:
        return []
    text = html.unescape(_TAG.sub(" ", doc))
    text = re.sub(r"\s+", " ", text).strip()
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def candidates(doc: str | None) -> list[str]:
    """The sentences that state a rule (must, cannot, only, at most, ...)."""
    return [s for s in sentences(doc) if KEYWORDS.search(s)]


def model_rules(shape: Any) -> str:
    """What the generic validator already enforces on this shape (so a sentence restating it can be dropped)."""
    meta = shape.metadata
    parts = [f"{k}={meta[k]}" for k in ("min", "max", "pattern") if k in meta]
    if getattr(shape, "enum", None):
        parts.append("enum=" + "|".join(shape.enum[:8]) + ("|…" if len(shape.enum) > 8 else ""))
    return ", ".join(parts)


def member_constraints(shape: Any, path: str = "", depth: int = 4, seen: tuple[str, ...] = ()) -> Iterator[tuple]:
    """(member path, model rules, candidate sentences) for every member under ``shape``, ``depth`` levels deep."""
    if shape is None or depth < 0 or shape.name in seen:
        return
    seen = (*seen, shape.name)
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            member_path = f"{path}.{name}" if path else name
            docs = candidates(member.documentation)
            if docs:
                yield member_path, model_rules(member), docs
            yield from member_constraints(member, member_path, depth - 1, seen)
    elif shape.type_name == "list":
        yield from member_constraints(shape.member, f"{path}[]", depth, seen)
    elif shape.type_name == "map":
        yield from member_constraints(shape.value, f"{path}{{}}", depth, seen)


def operation_constraints(
    service: str, operation: str, depth: int = 4, output_depth: int = 1
) -> Iterator[tuple[str, str, list[str]]]:
    """The operation's own rule sentences (member ``-``), then its input members', then its output's top members
    (``(output).EndpointStatus``: the DAGs branch on statuses, whose docs say what each allows)."""
    op = model(service).operation_model(operation)
    docs = candidates(op.documentation)
    if docs:
        yield "-", "", docs
    yield from member_constraints(op.input_shape, "", depth)
    if output_depth > 0:
        yield from member_constraints(op.output_shape, "(output)", output_depth - 1)


def operation_documentation(service: str, operation: str) -> list[str]:
    """Every documentation string an operation carries: its own, its input's and output's members (recursively)
    and its errors'. What a quote of "this operation's documentation" can be checked against."""
    op = model(service).operation_model(operation)
    docs = [op.documentation or ""]
    seen: set[str] = set()

    def walk(shape: Any) -> None:
        if shape is None:
            return
        docs.append(shape.documentation or "")
        if shape.name in seen:
            return
        seen.add(shape.name)
        if shape.type_name == "structure":
            for member in shape.members.values():
                walk(member)
        elif shape.type_name == "list":
            walk(shape.member)
        elif shape.type_name == "map":
            walk(shape.value)

    for shape in (op.input_shape, op.output_shape, *op.error_shapes):
        walk(shape)
    return [doc for doc in docs if doc]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("operations", nargs="*", help="service:Operation (default: every operation the DAGs call)")
    parser.add_argument("--list", action="store_true", help="print the operations the DAGs call and where")
    parser.add_argument("--depth", type=int, default=4, help="how deep to follow nested input members")
    parser.add_argument("--output-depth", type=int, default=1, help="how deep to follow output members (0: none)")
    args = parser.parse_args(argv)
    if args.operations:
        wanted = [tuple(o.split(":", 1)) for o in args.operations]
        where: dict[tuple[str, str], set[str]] = {}
    else:
        where = dag_operations()
        wanted = sorted(where)
    print(f"# botocore {botocore.__version__}")
    for service, operation in wanted:
        print(
            f"\n## {service}:{operation}"
            + (
                f"  (called at {', '.join(sorted(where[service, operation])[:3])})"
                if (service, operation) in where
                else ""
            )
        )
        if args.list:
            continue
        for member, rules, docs in operation_constraints(service, operation, args.depth, args.output_depth):
            print(f"  {member}" + (f"  [model: {rules}]" if rules else ""))
            for sentence in docs:
                print(f"    - {sentence}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # piped into head/grep that stopped reading
        sys.exit(0)
