"""Checks a request against botocore's service model the way the service does (moto does not): lengths,
patterns, enums, numeric ranges, list and map sizes, required members.

botocore's client checks only types and required members (and ``min`` lengths); everything else is the service's
job, so a request that passes here would otherwise pass on the emulator and fail on AWS. The messages follow
AWS's form: ``1 validation error detected: Value 'x' at 'trainingJobName' failed to satisfy constraint: Member
must satisfy regular expression pattern: ...`` (member paths in lowerCamelCase, list items 1-based).

Service rules the model does not carry live beside the generic walk in :data:`HAND_RULES`, each citing where
AWS documents it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import botocore.session

try:  # AWS patterns are Java regexes (\p{L}, \p{N}, ...): the `regex` package reads them, `re` does not
    import regex as _regex
except ImportError:  # pragma: no cover - regex ships with the test environment
    _regex = None

_MAX_SHOWN = 200  # AWS shows the offending value; keep messages readable for huge ones


@functools.cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


@functools.cache
def _compiled(pattern: str) -> Any:
    if _regex is not None:
        return _regex.compile(pattern)
    if "\\p{" in pattern:
        return None  # cannot check without `regex`; better unchecked than wrongly refused
    return re.compile(pattern)


def _path(parent: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _scalar_problems(shape: Any, value: Any) -> list[str]:
    meta = shape.metadata
    problems: list[str] = []
    if shape.type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta and len(value) < meta["min"]:
            problems.append(f"Member must have length greater than or equal to {meta['min']}")
        if shape.enum and value not in shape.enum:
            problems.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        pattern = meta.get("pattern")
        if pattern and not problems:
            compiled = _compiled(pattern)
            if compiled is not None and compiled.fullmatch(value) is None:
                problems.append(f"Member must satisfy regular expression pattern: {pattern}")
    elif (
        shape.type_name in ("integer", "long", "float", "double")
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        if "max" in meta and value > meta["max"]:
            problems.append(f"Member must have value less than or equal to {meta['max']}")
        if "min" in meta and value < meta["min"]:
            problems.append(f"Member must have value greater than or equal to {meta['min']}")
    return problems


def _walk(shape: Any, value: Any, path: str, errors: list[str]) -> None:
    def add(problem: str) -> None:
        errors.append(f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: {problem}")

    if shape.type_name == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if value.get(name) is None:
                errors.append(
                    f"Value null at '{_path(path, name)}' failed to satisfy constraint: Member must not be null"
                )
        for name, member_value in value.items():
            if name in shape.members and member_value is not None:
                _walk(shape.members[name], member_value, _path(path, name), errors)
    elif shape.type_name == "list" and isinstance(value, list):
        meta = shape.metadata
        if "max" in meta and len(value) > meta["max"]:
            add(f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta and len(value) < meta["min"]:
            add(f"Member must have length greater than or equal to {meta['min']}")
        for index, item in enumerate(value, start=1):
            _walk(shape.member, item, f"{path}.{index}.member", errors)
    elif shape.type_name == "map" and isinstance(value, dict):
        meta = shape.metadata
        if "max" in meta and len(value) > meta["max"]:
            add(f"Map must have length less than or equal to {meta['max']}")
        if "min" in meta and len(value) < meta["min"]:
            add(f"Map must have length greater than or equal to {meta['min']}")
        key_problems = sorted({p for key in value for p in _scalar_problems(shape.key, key)})
        if key_problems:
            add(f"Map keys must satisfy constraint: [{', '.join(key_problems)}]")
        value_problems: set[str] = set()
        for item in value.values():
            if shape.value.type_name in ("structure", "list", "map"):
                _walk(shape.value, item, f"{path}.value", errors)
            else:
                value_problems.update(_scalar_problems(shape.value, item))
        if value_problems:
            add(f"Map value must satisfy constraint: [{', '.join(sorted(value_problems))}]")
    else:
        for problem in _scalar_problems(shape, value):
            add(problem)


# -- service rules the model does not carry ------------------------------------------------------------------
HandRule = Callable[[dict[str, Any]], list[str]]

# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html: "The default value is
# 1 day. The maximum value is 28 days." (the model has only min 1).
MAX_RUNTIME_SECONDS = 28 * 24 * 3600


def _max_runtime(request: dict[str, Any]) -> list[str]:
    value = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    if isinstance(value, int) and value > MAX_RUNTIME_SECONDS:
        return [
            (
                f"Value '{value}' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: "
                f"Member must have value less than or equal to {MAX_RUNTIME_SECONDS}"
            )
        ]
    return []


HAND_RULES: dict[tuple[str, str], list[HandRule]] = {
    ("sagemaker", "CreateTrainingJob"): [_max_runtime],
}


def validation_errors(service: str, operation: str, request: dict[str, Any]) -> list[str]:
    """Every constraint the request breaks, in AWS's wording (empty when it is valid or the operation unknown)."""
    model = service_model(service)
    if operation not in model.operation_names:
        return []
    shape = model.operation_model(operation).input_shape
    errors: list[str] = []
    if shape is not None:
        _walk(shape, request, "", errors)
    for rule in HAND_RULES.get((service, operation), []):
        errors.extend(rule(request))
    return errors


def validation_message(errors: list[str]) -> str:
    """AWS's summary line: "1 validation error detected: ..." / "2 validation errors detected: ...; ..."."""
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} validation {noun} detected: " + "; ".join(errors)
