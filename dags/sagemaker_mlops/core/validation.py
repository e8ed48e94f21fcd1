"""Checks for the DAG trigger-form parameters, run before anything is created or billed.

Every failure is a :class:`ParamError` whose message reads ``"<field>: <what is wrong>. Fix: <how to fix>"``, so
the person who triggered the run sees which form field to change and how, instead of an AWS error minutes later
(or a bill). :func:`collect_errors` runs several checks and reports all problems at once. Stdlib only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "JobEnded",
    "ParamError",
    "collect_errors",
    "redact_url",
    "refuse_undeclared",
    "validate_bucket_name",
    "validate_region",
    "validate_role_arn",
    "validate_s3_prefix",
    "validate_s3_uri",
    "validate_sha256",
    "validate_url",
]


class JobEnded(RuntimeError):
    """A SageMaker job of this run ended Failed or Stopped: not transient, so a task fails at once (no retries).
    Here, below the capabilities, so the shared task helpers can catch every kind (training, tuning)."""


class ParamError(ValueError):
    """A bad parameter: names the field, what is wrong and how to fix it.

    A combined error (from :func:`collect_errors` or :meth:`combine`) keeps the single problems in ``errors``.
    """

    def __init__(self, field: str, problem: str, fix: str, *, errors: Sequence[ParamError] = ()) -> None:
        self.field = field
        self.problem = problem.rstrip(". ")
        self.fix = fix.rstrip()
        self.errors: tuple[ParamError, ...] = tuple(errors) or (self,)
        if len(self.errors) > 1:
            lines = "\n".join(f"  - {error}" for error in self.errors)
            message = f"{len(self.errors)} invalid parameters ({field}):\n{lines}"
        else:
            message = f"{field}: {self.problem}. Fix: {self.fix}"
        super().__init__(message)

    @classmethod
    def combine(cls, errors: Sequence[ParamError]) -> ParamError:
        """One error that lists all of ``errors`` (flattened); a single error keeps its own message."""
        flat = [single for error in errors for single in error.errors]
        if not flat:
            raise ValueError("combine() needs at least one error")
        if len(flat) == 1:
            only = flat[0]
            return cls(only.field, only.problem, only.fix)
        fields = ", ".join(dict.fromkeys(error.field for error in flat))
        return cls(fields, "several problems", "see each line", errors=flat)


def collect_errors(checks: Iterable[Callable[[], object]]) -> None:
    """Run every check (a zero-argument callable) and raise one :class:`ParamError` listing all failures.

    Reporting everything at once saves the user one failed trigger per typo.
    """
    errors: list[ParamError] = []
    for check in checks:
        try:
            check()
        except ParamError as error:
            errors.append(error)
    if errors:
        raise ParamError.combine(errors)


def _require_str(value: object, field: str, example: str) -> str:
    """The value as a str, or a ParamError when it is missing, not a string or padded with spaces."""
    if value is None or value == "":
        raise ParamError(field, "is empty", f"enter a value such as {example!r}")
    if not isinstance(value, str):
        raise ParamError(field, f"must be a string, got {type(value).__name__}", f"enter a value such as {example!r}")
    if value != value.strip():
        raise ParamError(field, f"has leading or trailing whitespace ({value!r})", "remove the surrounding spaces")
    return value


_ROLE_ARN_RE = re.compile(
    r"arn:aws(?:-cn|-us-gov)?:iam::(?P<account>\d{12}):role/"
    r"(?P<path>(?:[A-Za-z0-9_+=,.@-]+/)*)(?P<name>[A-Za-z0-9_+=,.@-]{1,64})"
)
_ROLE_ARN_EXAMPLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"


def validate_role_arn(value: object, field: str = "role_arn") -> str:
    """A full IAM *role* ARN (aws, aws-cn or aws-us-gov partition); returns it unchanged.

    The provider resolves a bare role name with ``iam:GetRole``, which the DAG's own role may not be allowed to
    call, so the form insists on the full ARN.
    """
    text = _require_str(value, field, _ROLE_ARN_EXAMPLE)
    fix = f"give the full ARN of the SageMaker execution role, like {_ROLE_ARN_EXAMPLE!r}"
    if _ROLE_ARN_RE.fullmatch(text):
        if len(text) > 2048:
            raise ParamError(field, f"is {len(text)} characters long, more than IAM allows (2048)", fix)
        return text
    if re.fullmatch(r"[A-Za-z0-9_+=,.@-]{1,64}", text):
        raise ParamError(field, f"{text!r} looks like a role name, not a role ARN", fix)
    if re.match(r"arn:aws[a-z-]*:iam::\d{12}:(user|group|policy|instance-profile)/", text):
        kind = text.split(":", 5)[5].split("/", 1)[0]
        raise ParamError(field, f"{text!r} is an IAM {kind} ARN, SageMaker needs a role", fix)
    if re.match(r"arn:aws[a-z-]*:sts::\d{12}:assumed-role/", text):
        raise ParamError(field, f"{text!r} is an STS assumed-role session ARN, not the role's ARN", fix)
    raise ParamError(field, f"{text!r} is not an IAM role ARN (arn:aws[-cn|-us-gov]:iam::<12 digits>:role/<name>)", fix)


_BUCKET_PREFIXES_RESERVED = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES_RESERVED = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_bucket_name(value: object, field: str = "bucket") -> str:
    """An S3 general-purpose bucket name per the S3 naming rules; returns it unchanged.

    Rules: 3-63 characters; lowercase letters, digits, dots and hyphens; starts and ends with a letter or digit;
    no ``..``; not an IP address; none of the reserved prefixes/suffixes.
    """
    text = _require_str(value, field, "my-mlops-bucket")
    fix = "use the name of an existing bucket (3-63 lowercase letters, digits, '-' or '.'), without 's3://' or a path"
    if text.startswith(("s3://", "arn:", "https://")) or "/" in text:
        raise ParamError(field, f"{text!r} is a URI or path, not a bucket name", fix)
    if not 3 <= len(text) <= 63:
        raise ParamError(field, f"{text!r} is {len(text)} characters long, bucket names have 3 to 63", fix)
    if text != text.lower():
        raise ParamError(field, f"{text!r} has uppercase letters, bucket names are lowercase", fix)
    if not re.fullmatch(r"[a-z0-9.-]+", text):
        raise ParamError(field, f"{text!r} has characters other than a-z, 0-9, '-' and '.'", fix)
    if not (text[0].isalnum() and text[-1].isalnum()):
        raise ParamError(field, f"{text!r} must start and end with a letter or digit", fix)
    if ".." in text:
        raise ParamError(field, f"{text!r} has two adjacent dots", fix)
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        pass
    else:
        raise ParamError(field, f"{text!r} is formatted as an IP address", fix)
    for reserved in _BUCKET_PREFIXES_RESERVED:
        if text.startswith(reserved):
            raise ParamError(field, f"{text!r} starts with the reserved prefix {reserved!r}", fix)
    for reserved in _BUCKET_SUFFIXES_RESERVED:
        if text.endswith(reserved):
            raise ParamError(field, f"{text!r} ends with the reserved suffix {reserved!r}", fix)
    return text


_PREFIX_SEGMENT_RE = re.compile(r"[A-Za-z0-9._-]+")
_MAX_PREFIX_LENGTH = 512


def validate_s3_prefix(value: object, field: str = "prefix") -> str:
    """A key prefix such as ``ch06`` or ``team/ch06``: no leading or trailing slash, no empty, ``.`` or ``..`` parts.

    The request builders join ``s3://<bucket>/<prefix>/<channel>``; a stray slash would make an empty path part,
    which S3 treats as a different key and the training job would find no data. Characters are limited to
    letters, digits, ``.``, ``_`` and ``-`` (the S3 "safe" set minus those that need quoting in IAM policies).
    """
    text = _require_str(value, field, "ch06")
    fix = "use one or more parts made of letters, digits, '.', '_' or '-', joined by single '/', e.g. 'ch06'"
    if text.startswith("s3://"):
        raise ParamError(field, f"{text!r} is an S3 URI, not a key prefix", fix + " (the bucket is a separate field)")
    if text.startswith("/"):
        raise ParamError(field, f"{text!r} starts with '/'", "remove the leading slash")
    if text.endswith("/"):
        raise ParamError(field, f"{text!r} ends with '/'", "remove the trailing slash")
    if len(text) > _MAX_PREFIX_LENGTH:
        raise ParamError(field, f"is {len(text)} characters long (max {_MAX_PREFIX_LENGTH})", "use a shorter prefix")
    for segment in text.split("/"):
        if segment == "":
            raise ParamError(field, f"{text!r} has an empty part ('//')", "use single slashes between parts")
        if segment in (".", ".."):
            raise ParamError(field, f"{text!r} has a {segment!r} part", "remove the relative path part")
        if not _PREFIX_SEGMENT_RE.fullmatch(segment):
            raise ParamError(field, f"{text!r} has characters outside letters, digits, '.', '_', '-' and '/'", fix)
    return text


def validate_s3_uri(value: object, field: str, *, require_key: bool = True) -> str:
    """An ``s3://<bucket>/<key>`` URI with a valid bucket name (and a key when ``require_key``); returns it."""
    example = "s3://my-bucket/ch06/output/job/output/model.tar.gz"
    text = _require_str(value, field, example)
    fix = f"give an S3 URI like {example!r}"
    if not text.startswith("s3://"):
        raise ParamError(field, f"{text!r} is not an s3:// URI", fix)
    if any(ch.isspace() for ch in text):
        raise ParamError(field, f"{text!r} contains whitespace", fix)
    bucket, _, key = text[len("s3://") :].partition("/")
    try:
        validate_bucket_name(bucket, field)
    except ParamError as error:
        raise ParamError(field, f"the bucket part of {text!r} is invalid: {error.problem}", fix) from None
    if require_key and not key.strip("/"):
        raise ParamError(field, f"{text!r} has no key after the bucket", fix)
    if "//" in key or key.startswith("/"):
        raise ParamError(field, f"{text!r} has an empty path part ('//')", "use single slashes in the key")
    if len(text) > 1024:
        raise ParamError(field, f"is {len(text)} characters long (SageMaker accepts at most 1024)", fix)
    return text


_REGION_RE = re.compile(r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}")


def validate_region(value: object, field: str = "region", known: Iterable[str] | None = None) -> str:
    """An AWS region code such as ``us-west-2``; with ``known``, it must also be one of those."""
    text = _require_str(value, field, "us-west-2")
    if not _REGION_RE.fullmatch(text):
        raise ParamError(field, f"{text!r} is not an AWS region code", "use a region code such as 'us-west-2'")
    if known is not None:
        choices = sorted(known)
        if text not in choices:
            raise ParamError(field, f"{text!r} is not supported here", f"use one of: {', '.join(choices)}")
    return text


def validate_sha256(value: object, field: str = "sha256") -> str | None:
    """An optional SHA-256 hex digest (64 hex digits); empty or None means "do not check". Returns it lowercased."""
    if value is None or value == "":
        return None
    text = _require_str(value, field, "0" * 64)
    digest = text.lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ParamError(
            field,
            f"{text!r} is not a SHA-256 hex digest (64 hex digits)",
            "paste the output of 'sha256sum <file>' (first column) or leave it empty to skip the check",
        )
    return digest


def redact_url(url: object) -> str:
    """``url`` as it may be logged or stored: without query string, fragment or ``user:password@``.

    Why: a pre-signed URL's query string is a bearer credential (``X-Amz-Signature``...), and logs and XCom are
    read by far more people than the trigger form. The download itself still uses the full URL; a query that
    was cut shows as ``?...`` so a reader knows there was one.
    """
    text = str(url)
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return text.split("?", 1)[0].split("#", 1)[0]
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port is not None else ""
    redacted = urlunsplit((parts.scheme, netloc if parts.netloc else "", parts.path, "", ""))
    return redacted + ("?..." if parts.query else "")


def validate_url(value: object, field: str = "url") -> str:
    """An absolute ``http``/``https`` URL with a host and no embedded credentials; returns it unchanged.

    Other schemes (``file:``, ``ftp:``, ``s3:``) are refused because the download task is an HTTP fetch, and
    credentials in the URL would end up in the task logs.
    """
    text = _require_str(value, field, "https://example.com/batch1.zip")
    fix = "give an http:// or https:// URL such as 'https://example.com/batch1.zip'"
    if any(ch.isspace() for ch in text):
        raise ParamError(field, f"{text!r} contains whitespace", fix)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as error:
        raise ParamError(field, f"{text!r} is not a valid URL ({error})", fix) from None
    if parts.scheme.lower() not in ("http", "https"):
        scheme = parts.scheme or "no scheme"
        raise ParamError(field, f"{text!r} uses {scheme!r}, only http and https are allowed", fix)
    if not parts.hostname:
        raise ParamError(field, f"{text!r} has no host name", fix)
    if parts.username is not None or parts.password is not None:
        raise ParamError(field, "contains credentials (user:password@)", "remove them; use a public or pre-signed URL")
    return text


def refuse_undeclared(keys: Iterable[str], declared: Iterable[str], dag_id: str) -> None:
    """Raise a ParamError (field ``conf``) naming the run's conf keys that the DAG does not declare as Params.

    Why: Airflow merges every conf key into ``params`` and validates only the declared ones, so an undeclared key
    (e.g. ``max_wait_seconds`` on a DAG without spot) would reach the tasks, and the budget, unchecked.
    """
    extra = sorted(set(keys) - set(declared))
    if extra:
        raise ParamError(
            "conf",
            f"the run's conf has keys {dag_id} does not declare as Params: {', '.join(extra)} (Airflow would pass "
            "them to the tasks unvalidated)",
            "remove them from the conf; the trigger form lists every field this DAG takes",
        )
