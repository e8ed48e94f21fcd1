"""Deterministic, SageMaker-valid resource names for one DAG run.

Why deterministic: a task retry or a cleared task must compute the *same* names as the first try, so teardown
tasks can find (and delete) what an earlier try created, and the names can be rendered before anything exists.
Why a hash token: Airflow run ids (``manual__2026-11-24T08:00:00+00:00``) contain ``_ : + .``, which SageMaker
names do not allow, and sanitising alone could map two runs to one name; the token keeps different runs apart.
Why the ``mlops-`` prefix: the IAM policies scope SageMaker actions to ``arn:...:training-job/mlops-*`` and
friends, so every resource the DAGs create must start with it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = [
    "DATASETS_FOLDER",
    "DEFAULT_NAME_LENGTH",
    "DRIFT_ALARM_FIGURES",
    "MAX_NAME_LENGTH",
    "NAME_PREFIX",
    "PROVIDER_SUFFIX_LENGTH",
    "TOKEN_LENGTH",
    "attempt_name",
    "dataset_prefix",
    "drift_alarm_name",
    "drift_alarm_names",
    "is_valid_sagemaker_name",
    "resource_name",
    "run_token",
]

NAME_PREFIX = "mlops"
"""Prefix of every SageMaker resource name; IAM policies match ``<kind>/mlops-*``."""

MAX_NAME_LENGTH = 63
"""SageMaker's limit for training job, model, endpoint config and endpoint names."""

PROVIDER_SUFFIX_LENGTH = 11
"""``-<epoch seconds>`` that the Amazon provider appends (after cutting the name to 52) when a job name exists."""

DEFAULT_NAME_LENGTH = MAX_NAME_LENGTH - PROVIDER_SUFFIX_LENGTH
"""52: short enough that the provider's de-duplicated name ``name[:52]-<epoch>`` still contains the whole token."""

TOKEN_LENGTH = 16
"""Hex characters of sha256 in the token: 64 bits. Why not fewer: a teardown deletes by name (after checking the
resource's tags), and a triggerer chooses the run id, so a name collision must be out of reach, not just unlikely.
16 still fits the tuning job's 32 characters (``mlops-hpo-`` + a 5-character hint + the token)."""

_SAGEMAKER_NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_PART_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Airflow's generated run ids: <run type>__<ISO timestamp>[...]
_AIRFLOW_RUN_ID_RE = re.compile(
    r"(?P<type>[A-Za-z_]+?)__(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})T(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
)
_RUN_TYPE_SHORT = {"manual": "manual", "scheduled": "sched", "asset_triggered": "asset", "backfill": "backfill"}


def is_valid_sagemaker_name(name: object) -> bool:
    """Whether ``name`` matches SageMaker's ``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`` (so at most 63 characters)."""
    return isinstance(name, str) and _SAGEMAKER_NAME_RE.fullmatch(name) is not None


def run_token(dag_id: str, run_id: str) -> str:
    """A short stable hash of (dag_id, run_id): the first :data:`TOKEN_LENGTH` (16) hex digits of sha256.

    Both parts go in, separated by a NUL, so two DAGs triggered with the same run id get different names.
    """
    digest = hashlib.sha256(f"{dag_id}\0{run_id}".encode()).hexdigest()
    return digest[:TOKEN_LENGTH]


def _slug(text: str) -> str:
    """Lowercase ASCII letters and digits joined by single hyphens (accents folded, anything else dropped)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def _readable_run_part(run_id: str) -> str:
    """A human hint of the run for the name: ``manual__2026-11-24T08:00:00+00:00`` gives ``manual-20261124t080000``."""
    match = _AIRFLOW_RUN_ID_RE.match(run_id)
    if match:
        run_type = _RUN_TYPE_SHORT.get(match["type"], match["type"])
        stamp = f"{match['y']}{match['mo']}{match['d']}t{match['h']}{match['mi']}{match['s']}"
        return _slug(f"{run_type}-{stamp}")
    return _slug(run_id)


def resource_name(prefix: str, kind: str, dag_id: str, run_id: str, *, max_length: int = DEFAULT_NAME_LENGTH) -> str:
    """``<prefix>-<kind>-<readable run hint>-<token>``, e.g. ``mlops-train-manual-20261124t080000-3f2a9c01b7d4e5f6``.

    Always a valid SageMaker name of at most ``max_length`` (default 52, see :data:`DEFAULT_NAME_LENGTH`)
    characters; the same for the same (dag_id, run_id, kind), different for different runs (the token). The
    readable part is cut, or dropped, to fit; the prefix, kind and token never are.

    Raises ValueError when prefix or kind are not lowercase ``[a-z0-9]`` words joined by ``-`` or are too long
    to leave room for the token.
    """
    if not 1 <= max_length <= MAX_NAME_LENGTH:
        raise ValueError(f"max_length: {max_length} is outside 1..{MAX_NAME_LENGTH}. Fix: pass a value in that range")
    for field, value in (("prefix", prefix), ("kind", kind)):
        if not isinstance(value, str) or not _PART_RE.fullmatch(value):
            raise ValueError(
                f"{field}: {value!r} is not lowercase letters/digits joined by single '-'."
                " Fix: use e.g. 'mlops', 'train'"
            )
    token = run_token(dag_id, run_id)
    fixed = f"{prefix}-{kind}-"
    room = max_length - len(fixed) - len(token)
    if room < 0:
        raise ValueError(
            f"kind: {prefix!r} + {kind!r} leave no room for the {TOKEN_LENGTH}-character token in {max_length}"
            " characters. Fix: use a shorter prefix or kind"
        )
    readable = _readable_run_part(run_id)[: max(room - 1, 0)].strip("-")
    name = f"{fixed}{readable}-{token}" if readable else f"{fixed}{token}"
    assert is_valid_sagemaker_name(name) and len(name) <= max_length, name
    return name


def attempt_name(base: str, attempt: int) -> str:
    """The training job of capacity-retry ``attempt``: the run's name for the first, ``<base>-a<n>`` after it
    (deterministic, so a re-run finds the latest attempt; ≤ 52 + 3 characters, still a valid SageMaker name)."""
    if attempt < 1:
        raise ValueError(f"attempt: {attempt} is below 1. Fix: count attempts from 1")
    name = base if attempt == 1 else f"{base}-a{attempt}"
    assert is_valid_sagemaker_name(name), name
    return name


DATASETS_FOLDER = "datasets"
"""The folder under a DAG's prefix that holds its datasets, one content-addressed prefix per zip."""

_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def dataset_prefix(prefix: str, sha256: str) -> str:
    """``<prefix>/datasets/<sha256>``: where one zip's channels live, addressed by the zip's content.

    Why by content: every run of a DAG used to share ``<prefix>/<channel>/``, so one run's extra file (a
    ``zzz.lst``) stayed in every later run's channels. Under its own digest a zip's prefix holds exactly its files;
    a re-run of the same zip finds them all in place (0 bytes sent), a different zip never meets them.
    """
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
        raise ValueError(f"sha256: {sha256!r} is not 64 lowercase hex digits. Fix: pass the zip's SHA-256 hex digest")
    base = prefix.strip("/")
    return f"{base}/{DATASETS_FOLDER}/{sha256}" if base else f"{DATASETS_FOLDER}/{sha256}"


DRIFT_ALARM_FIGURES = ("class_mix_js", "mean_top1_confidence", "unreadable_fraction", "error_rate")
"""The production monitor's figures that have a CloudWatch alarm (``monitoring.drift.alarm_thresholds``' keys)."""


def drift_alarm_name(endpoint_name: str, figure: str) -> str:
    """``<endpoint>-drift-<figure>``: the monitor creates it, decommission deletes it (why here: ``production``
    may not import ``monitoring``), and the IAM pattern ``alarm:mnist-production-*`` covers it."""
    return f"{endpoint_name}-drift-{figure.replace('_', '-')}"


def drift_alarm_names(endpoint_name: str) -> list[str]:
    """Every drift alarm the production monitor may have created for ``endpoint_name``."""
    return [drift_alarm_name(endpoint_name, figure) for figure in DRIFT_ALARM_FIGURES]
