#!/usr/bin/env python
"""Deploy the MWAA bundle (``make bundle``) to an environment's S3 bucket, updating the environment only if needed.

    python include/mwaa/deploy.py --environment NAME --bucket BUCKET [--region R] [--bundle build/mwaa]
                                  [--profile P] [--endpoint-url URL] [--dry-run]

1. Reads (never writes): the bucket's versioning (MWAA needs it; fails if not Enabled), the environment
   (must use this bucket and DagS3Path ``dags``), the objects under ``dags/`` and the current ``plugins.zip`` /
   ``requirements.txt``. A file counts as changed when its MD5 (the ETag) or its ``sha256`` metadata differ.
2. Uploads a changed ``plugins.zip`` / ``requirements.txt`` to the bucket root, then calls
   ``mwaa.update_environment(PluginsS3Path, PluginsS3ObjectVersion, RequirementsS3Path,
   RequirementsS3ObjectVersion)`` with the new object versions, but only when a version differs from what the
   environment runs (an unchanged re-deploy never restarts the environment; a failed earlier update is retried).
3. Syncs ``dags/``: uploads new and changed files, deletes objects under ``dags/`` that the bundle no longer has
   (folder markers are kept). MWAA picks these up within about 30 s, without an environment update.

Requirements and plugins go first, so an update that MWAA rejects stops the deploy before any DAG changes.
``--dry-run`` prints every action it would take and calls only read APIs. ``--endpoint-url`` points S3 (and
MWAA) at a local emulator for testing. An operator tool: boto3 directly, not Airflow hooks.
"""

from __future__ import annotations

import argparse
import hashlib
import mimetypes
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = REPO / "build" / "mwaa"
DAGS_PREFIX = "dags/"
PLUGINS_KEY = "plugins.zip"
REQUIREMENTS_KEY = "requirements.txt"
# UpdateEnvironment is accepted in these states; anything else (CREATING, UPDATING, ...) would be rejected.
UPDATABLE_STATES = frozenset({"AVAILABLE", "UPDATE_FAILED"})
DELETE_BATCH = 1000


class DeployError(Exception):
    """The deploy cannot go ahead; the message says why and what to do."""


@dataclass
class LocalFile:
    key: str
    path: Path
    md5: str
    sha256: str
    size: int


@dataclass
class RootObject:
    """plugins.zip or requirements.txt: the local file, whether S3 has it already, and its latest version."""

    local: LocalFile
    changed: bool
    version: str | None  # the latest S3 version (the new one after upload)
    env_path: str | None
    env_version: str | None

    @property
    def env_stale(self) -> bool:
        return self.changed or self.env_path != self.local.key or self.env_version != self.version


@dataclass
class Plan:
    environment: str
    bucket: str
    uploads: list[LocalFile] = field(default_factory=list)  # under dags/
    unchanged: list[str] = field(default_factory=list)  # under dags/
    deletes: list[str] = field(default_factory=list)  # under dags/
    plugins: RootObject | None = None
    requirements: RootObject | None = None

    @property
    def needs_update(self) -> bool:
        assert self.plugins and self.requirements
        return self.plugins.env_stale or self.requirements.env_stale


@dataclass
class Result:
    plan: Plan
    updated: bool = False
    plugins_version: str | None = None
    requirements_version: str | None = None
    actions: list[str] = field(default_factory=list)


# -- reading --------------------------------------------------------------------------------------------------
def _local(path: Path, key: str) -> LocalFile:
    data = path.read_bytes()
    return LocalFile(key, path, hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(), len(data))


def local_bundle(bundle: Path) -> tuple[dict[str, LocalFile], LocalFile, LocalFile]:
    dags = bundle / "dags"
    missing = [str(p) for p in (dags, bundle / PLUGINS_KEY, bundle / REQUIREMENTS_KEY) if not p.exists()]
    if missing:
        raise DeployError(f"bundle incomplete ({', '.join(missing)} missing): run `make bundle` first")
    files = {}
    for path in sorted(p for p in dags.rglob("*") if p.is_file()):
        key = DAGS_PREFIX + path.relative_to(dags).as_posix()
        files[key] = _local(path, key)
    return files, _local(bundle / PLUGINS_KEY, PLUGINS_KEY), _local(bundle / REQUIREMENTS_KEY, REQUIREMENTS_KEY)


def _error_code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def check_versioning(s3: Any, bucket: str) -> None:
    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except Exception as err:  # botocore ClientError; NoSuchBucket / AccessDenied read best as-is
        raise DeployError(f"cannot read versioning of s3://{bucket}: {_error_code(err) or err}") from err
    if status != "Enabled":
        state = f"is {status}" if status else "was never enabled"
        raise DeployError(
            f"versioning on s3://{bucket} {state}: MWAA installs plugins.zip and requirements.txt by S3 object "
            f"version, so the bucket must have versioning Enabled. Enable it with\n    aws s3api "
            f"put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled"
        )


def read_environment(mwaa: Any, name: str, bucket: str) -> dict[str, Any]:
    try:
        env = mwaa.get_environment(Name=name)["Environment"]
    except Exception as err:
        if _error_code(err) == "ResourceNotFoundException":
            raise DeployError(f"MWAA environment {name!r} not found in this account/region") from err
        raise DeployError(f"cannot read MWAA environment {name!r}: {err}") from err
    source = env.get("SourceBucketArn")
    if source and source != f"arn:aws:s3:::{bucket}":
        raise DeployError(
            f"environment {name!r} reads from {source}, not s3://{bucket}: pass --bucket {source.rsplit(':', 1)[-1]}"
        )
    dag_path = (env.get("DagS3Path") or "dags").strip("/")
    if dag_path + "/" != DAGS_PREFIX:
        raise DeployError(
            f"environment {name!r} reads DAGs from s3://{bucket}/{dag_path}/, but the bundle "
            f"deploys to {DAGS_PREFIX}; set its DagS3Path to 'dags'"
        )
    return env


def remote_dags(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=DAGS_PREFIX):
        for obj in page.get("Contents", []):
            objects[obj["Key"]] = obj
    return objects


def _same(s3: Any, bucket: str, local: LocalFile, etag: str | None, head: dict[str, Any] | None = None) -> bool:
    """Whether S3's object has the local bytes: the ETag is the MD5 for plain uploads; else (SSE-KMS, multipart)
    the sha256 metadata this tool writes decides."""
    if etag and etag.strip('"') == local.md5:
        return True
    if head is None:
        head = s3.head_object(Bucket=bucket, Key=local.key)
    return head.get("Metadata", {}).get("sha256") == local.sha256


def _root_object(s3: Any, bucket: str, local: LocalFile, env_path: str | None, env_version: str | None) -> RootObject:
    try:
        head = s3.head_object(Bucket=bucket, Key=local.key)
    except Exception as err:
        if _error_code(err) in ("404", "NoSuchKey", "NotFound"):
            return RootObject(local, True, None, env_path, env_version)
        raise
    version = head.get("VersionId")
    # An object stored before versioning was enabled has version "null", which MWAA cannot pin: upload it again.
    changed = not version or version == "null" or not _same(s3, bucket, local, head.get("ETag"), head)
    return RootObject(local, changed, None if changed else version, env_path, env_version)


def make_plan(s3: Any, mwaa: Any, bundle: Path, bucket: str, environment: str) -> Plan:
    files, plugins, requirements = local_bundle(bundle)
    check_versioning(s3, bucket)
    env = read_environment(mwaa, environment, bucket)
    plan = Plan(environment, bucket)
    remote = remote_dags(s3, bucket)
    for key, local in files.items():
        obj = remote.get(key)
        if obj is not None and obj.get("Size") == local.size and _same(s3, bucket, local, obj.get("ETag")):
            plan.unchanged.append(key)
        else:
            plan.uploads.append(local)
    plan.deletes = sorted(k for k in remote if k not in files and not k.endswith("/"))
    plan.plugins = _root_object(s3, bucket, plugins, env.get("PluginsS3Path"), env.get("PluginsS3ObjectVersion"))
    plan.requirements = _root_object(
        s3, bucket, requirements, env.get("RequirementsS3Path"), env.get("RequirementsS3ObjectVersion")
    )
    if plan.needs_update and env.get("Status") not in UPDATABLE_STATES:
        raise DeployError(
            f"environment {environment!r} is {env.get('Status')}: it accepts an update only when "
            f"{' or '.join(sorted(UPDATABLE_STATES))}; nothing was changed, re-run once it is"
        )
    return plan


# -- writing --------------------------------------------------------------------------------------------------
def _put(s3: Any, bucket: str, local: LocalFile) -> str | None:
    content_type = mimetypes.guess_type(local.key)[0] or "application/octet-stream"
    if local.key.endswith((".py", ".txt", ".airflowignore")):
        content_type = "text/plain"
    response = s3.put_object(
        Bucket=bucket,
        Key=local.key,
        Body=local.path.read_bytes(),
        ContentType=content_type,
        Metadata={"sha256": local.sha256},
    )
    return response.get("VersionId")


def execute(s3: Any, mwaa: Any, plan: Plan, *, dry_run: bool, say: Callable[[str], None] = print) -> Result:
    assert plan.plugins and plan.requirements
    result = Result(plan)
    prefix = "[dry-run] would " if dry_run else ""

    def act(message: str) -> None:
        result.actions.append(message)
        say(prefix + message)

    versions: dict[str, str | None] = {}
    for root in (plan.plugins, plan.requirements):
        key = root.local.key
        if root.changed:
            act(f"upload {key} ({root.local.size} bytes, sha256 {root.local.sha256[:12]}) to s3://{plan.bucket}/{key}")
            if not dry_run:
                version = _put(s3, plan.bucket, root.local)
                if not version or version == "null":
                    raise DeployError(
                        f"S3 returned no version for s3://{plan.bucket}/{key}: is versioning still "
                        "Enabled on the bucket?"
                    )
                root.version = version
        else:
            say(f"{key}: unchanged in S3 (version {root.version})")
        versions[key] = root.version

    if plan.needs_update:
        shown = {k: v or "<new version>" for k, v in versions.items()}
        act(
            f"update MWAA environment {plan.environment}: PluginsS3Path={PLUGINS_KEY} "
            f"PluginsS3ObjectVersion={shown[PLUGINS_KEY]} RequirementsS3Path={REQUIREMENTS_KEY} "
            f"RequirementsS3ObjectVersion={shown[REQUIREMENTS_KEY]}"
        )
        if not dry_run:
            mwaa.update_environment(
                Name=plan.environment,
                PluginsS3Path=PLUGINS_KEY,
                PluginsS3ObjectVersion=versions[PLUGINS_KEY],
                RequirementsS3Path=REQUIREMENTS_KEY,
                RequirementsS3ObjectVersion=versions[REQUIREMENTS_KEY],
            )
            result.updated = True
            say(
                f"environment {plan.environment} is UPDATING (about 20-30 min); follow it with: aws mwaa "
                f"get-environment --name {plan.environment} --query Environment.Status"
            )
    else:
        say(f"environment {plan.environment} already runs these plugins.zip and requirements.txt versions: no update")
    result.plugins_version, result.requirements_version = versions[PLUGINS_KEY], versions[REQUIREMENTS_KEY]

    for local in plan.uploads:
        act(f"upload {local.key} ({local.size} bytes) to s3://{plan.bucket}/{local.key}")
        if not dry_run:
            _put(s3, plan.bucket, local)
    for key in plan.deletes:
        act(f"delete s3://{plan.bucket}/{key}")
    if plan.deletes and not dry_run:
        for start in range(0, len(plan.deletes), DELETE_BATCH):
            batch = plan.deletes[start : start + DELETE_BATCH]
            response = s3.delete_objects(
                Bucket=plan.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
            if response.get("Errors"):
                raise DeployError(f"S3 refused some deletes: {response['Errors']}")
    say(
        f"dags/: {len(plan.uploads)} to upload, {len(plan.deletes)} to delete, {len(plan.unchanged)} unchanged"
        + (" (dry run: nothing was written)" if dry_run else "")
    )
    return result


def deploy(
    s3: Any,
    mwaa: Any,
    *,
    bundle: Path,
    bucket: str,
    environment: str,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
) -> Result:
    return execute(s3, mwaa, make_plan(s3, mwaa, bundle, bucket, environment), dry_run=dry_run, say=say)


def make_clients(region: str | None, profile: str | None, endpoint_url: str | None) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=profile, region_name=region)
    # MWAA's API host is "api.<endpoint>": a local endpoint URL must be used as given.
    mwaa_config = Config(inject_host_prefix=False) if endpoint_url else None
    return (
        session.client("s3", endpoint_url=endpoint_url),
        session.client("mwaa", endpoint_url=endpoint_url, config=mwaa_config),
    )


def main(argv: list[str] | None = None, clients: tuple[Any, Any] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environment", required=True, help="MWAA environment name")
    parser.add_argument("--bucket", required=True, help="the environment's source bucket (name, not ARN)")
    parser.add_argument("--region", help="AWS region (default: the profile's / AWS_DEFAULT_REGION)")
    parser.add_argument("--profile", help="AWS profile")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="bundle directory (default build/mwaa)")
    parser.add_argument("--endpoint-url", help="S3/MWAA endpoint (a local emulator), for testing")
    parser.add_argument("--dry-run", action="store_true", help="print the actions; call only read APIs")
    args = parser.parse_args(argv)
    bucket = args.bucket.removeprefix("s3://").removeprefix("arn:aws:s3:::").rstrip("/")
    try:
        s3, mwaa = clients or make_clients(args.region, args.profile, args.endpoint_url)
        deploy(s3, mwaa, bundle=args.bundle, bucket=bucket, environment=args.environment, dry_run=args.dry_run)
    except DeployError as err:
        print(f"deploy: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
