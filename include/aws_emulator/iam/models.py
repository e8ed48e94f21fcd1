"""moto's IAM backend plus ``simulate_principal_policy``: the role's identity policies (inline and attached
managed, default versions) evaluated for each action and resource as IAM's policy simulator does for a principal
without resource policies: an explicit Deny wins, else an Allow, else an implicit deny.

Matching: ``Action``/``NotAction`` (case-insensitive, ``*`` and ``?`` wildcards), ``Resource``/``NotResource``
(wildcards), and ``Condition`` with the String*/Arn*/Bool operators evaluated against ``ContextEntries``. A key the
request does not supply makes that statement not apply and is listed in ``MissingContextValues``, as the simulator
does. Permissions boundaries, SCPs and resource policies are not modelled (the setup check does not pass them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from moto.iam.models import IAMBackend


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _wild(pattern: str, value: str, *, case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _condition_holds(
    operator: str, key: str, wanted: list[Any], context: Mapping[str, list[str]], missing: set[str]
) -> bool:
    base = operator.removesuffix("IfExists")
    values = context.get(key.lower())
    if values is None:
        if operator.endswith("IfExists"):
            return True
        missing.add(key)
        return False
    wanted = [str(w) for w in wanted]
    negate = "Not" in base
    if base in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        hit = any(v in wanted for v in values)
    elif base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        hit = any(v.lower() in [w.lower() for w in wanted] for v in values)
    elif base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        hit = any(_wild(w, v, case=True) for v in values for w in wanted)
    elif base == "Bool":
        hit = any(v.lower() in [w.lower() for w in wanted] for v in values)
        negate = False
    else:  # an operator this evaluator does not know: the statement does not apply (never a false Allow)
        return False
    return not hit if negate else hit


def statement_applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, list[str]], missing: set[str]
) -> bool:
    """True when the statement's action, resource and conditions all match this request."""
    if "Action" in statement:
        if not any(_wild(a, action, case=False) for a in _as_list(statement["Action"])):
            return False
    elif any(_wild(a, action, case=False) for a in _as_list(statement.get("NotAction"))):
        return False
    if "Resource" in statement:
        if not any(_wild(r, resource, case=True) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement and any(_wild(r, resource, case=True) for r in _as_list(statement["NotResource"])):
        return False
    holds = True
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, wanted in keys.items():
            holds = _condition_holds(operator, key, _as_list(wanted), context, missing) and holds
    return holds


def evaluate(
    policies: Mapping[str, Mapping[str, Any]], action: str, resource: str, context: Mapping[str, list[str]]
) -> dict[str, Any]:
    """One EvaluationResult: ``explicitDeny`` / ``allowed`` / ``implicitDeny`` with the matched statements."""
    missing: set[str] = set()
    matched: list[dict[str, Any]] = []
    decision = "implicitDeny"
    for source, document in policies.items():
        for statement in _as_list(document.get("Statement")):
            if not statement_applies(statement, action, resource, context, missing):
                continue
            matched.append({"SourcePolicyId": source, "SourcePolicyType": "IAM Policy"})
            if statement.get("Effect") == "Deny":
                decision = "explicitDeny"
            elif decision != "explicitDeny":
                decision = "allowed"
    return {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": decision,
        "MatchedStatements": matched,
        "MissingContextValues": sorted(missing) if decision != "allowed" else [],
    }


def _document(text: Any) -> dict[str, Any]:
    return text if isinstance(text, dict) else json.loads(unquote(text))


class EmulatorIamBackend(IAMBackend):
    def simulate_principal_policy(
        self,
        source_arn: str,
        actions: Iterable[str],
        resources: Iterable[str] | None,
        context_entries: Iterable[Mapping[str, Any]] | None,
    ) -> list[dict[str, Any]]:
        """IAM's SimulatePrincipalPolicy for a role (NoSuchEntity when the role does not exist)."""
        role = self.get_role_by_arn(source_arn)
        policies = {name: _document(doc) for name, doc in role.policies.items()}
        for arn, managed in role.managed_policies.items():
            version = next(v for v in managed.versions if v.is_default)
            policies[arn.rsplit("/", 1)[-1]] = _document(version.document)
        context = {
            str(e["ContextKeyName"]).lower(): [str(v) for v in e.get("ContextKeyValues", [])]
            for e in context_entries or []
        }
        return [
            evaluate(policies, action, resource, context)
            for action in actions
            for resource in (list(resources or []) or ["*"])
        ]
