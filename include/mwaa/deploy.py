#!/usr/bin/env python
"""Deploy the MWAA bundle (``make bundle``) to an environment's S3 bucket, touching only what this package owns.

    python include/mwaa/deploy.py --environment NAME --bucket BUCKET [--region R] [--bundle build/mwaa]
                                  [--profile P] [--endpoint-url URL] [--dry-run]
                                  [--force-requirements] [--force-plugins] [--take-over]

An MWAA environment is often shared: other teams' DAGs live under the same ``dags/`` and their packages in the same
``requirements.txt``. So the deploy keeps a manifest of the keys it wrote, ``s3://BUCKET/.sagemaker_mlops/
deploy-manifest.json`` (outside ``dags/``: MWAA neither syncs nor parses it), and:

1. Reads (never writes): the bucket's versioning (MWAA needs it; fails if not Enabled), the environment
   (must use this bucket and DagS3Path ``dags``), the manifest, the objects under ``dags/`` and the current
   ``plugins.zip`` / ``requirements.txt``. A file counts as changed when its MD5 (the ETag) or its ``sha256``
   metadata differ.
2. Prints the plan: every key it adds, updates or deletes, the foreign keys it leaves alone (``keep-foreign``),
   and what happens to plugins.zip, requirements.txt and the environment. ``--dry-run`` stops here.
3. Refuses, before any write, to replace what it did not write: a ``requirements.txt`` / ``plugins.zip`` whose
   current S3 version is not the one its manifest records (or with no manifest at all), an environment that runs
   another requirements/plugins path, or a foreign file under ``dags/`` with other bytes at a key the bundle needs.
   ``--force-requirements`` / ``--force-plugins`` allow the first two, ``--take-over`` allows all three.
4. Uploads a changed ``plugins.zip`` / ``requirements.txt`` to the bucket root, then calls
   ``mwaa.update_environment(PluginsS3Path, PluginsS3ObjectVersion, RequirementsS3Path,
   RequirementsS3ObjectVersion)`` with the new object versions, but only when a version differs from what the
   environment runs (an unchanged re-deploy never restarts the environment; a failed earlier update is retried).
5. Syncs ``dags/``: uploads new and changed files, deletes only keys the previous manifest listed and the bundle no
   longer has (and only if nobody changed them since), then writes the new manifest. Objects of other teams are
   never written or deleted. MWAA picks DAG changes up within about 30 s, without an environment update. The bucket
   is versioned, so a delete leaves a delete marker: earlier versions stay recoverable.

A re-deploy with nothing changed writes nothing. Requirements and plugins go first, so an update that MWAA rejects
stops the deploy before any DAG changes. ``--endpoint-url`` points S3 (and MWAA) at a local emulator for testing.
An operator tool: boto3 directly, not Airflow hooks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
# Outside dags/ (MWAA syncs only DagS3Path) and outside the three root files MWAA installs: never shipped.
MANIFEST_KEY = ".sagemaker_mlops/deploy-manifest.json"
PACKAGE = "airflow-sagemaker-mlops"
MANIFEST_FORMAT = 1
# UpdateEnvironment is accepted in these states; anything else (CREATING, UPDATING, ...) would be rejected.
UPDATABLE_STATES = frozenset({"AVAILABLE", "UPDATE_FAILED"})
DELETE_BATCH = 1000
FORCE_FLAG = {PLUGINS_KEY: "--force-plugins", REQUIREMENTS_KEY: "--force-requirements"}
MAKE_FLAG = {PLUGINS_KEY: "FORCE_PLUGINS=1", REQUIREMENTS_KEY: "FORCE_REQUIREMENTS=1"}


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
    """plugins.zip or requirements.txt: the local file, what S3 holds, whether this package wrote it, and the
    environment's current setting."""

    local: LocalFile
    changed: bool
    version: str | None  # the latest S3 version (the new one after upload)
    env_path: str | None
    env_version: str | None
    remote_version: str | None = None  # what S3 holds now (None: no object)
    foreign: str | None = None  # why replacing it would overwrite something this package did not write

    @property
    def env_stale(self) -> bool:
        return self.changed or self.env_path != self.local.key or self.env_version != self.version


@dataclass
class Plan:
    environment: str
    bucket: str
    manifest: dict[str, Any] | None = None  # the previous manifest (None: first deploy)
    adds: list[LocalFile] = field(default_factory=list)  # under dags/, no object there yet
    updates: list[LocalFile] = field(default_factory=list)  # under dags/, ours, other bytes
    takeovers: list[LocalFile] = field(default_factory=list)  # under dags/, someone else's, other bytes
    adopted: list[str] = field(default_factory=list)  # someone else's key with our exact bytes: ours from now on
    unchanged: list[str] = field(default_factory=list)  # under dags/
    deletes: list[str] = field(default_factory=list)  # ours (previous manifest), gone from the bundle
    kept_changed: list[str] = field(default_factory=list)  # ours once, gone from the bundle, changed by someone
    foreign: list[str] = field(default_factory=list)  # under dags/, not ours, not in the bundle: never touched
    files: dict[str, LocalFile] = field(default_factory=dict)  # the bundle's dags/
    plugins: RootObject | None = None
    requirements: RootObject | None = None

    @property
    def uploads(self) -> list[LocalFile]:
        return sorted(self.adds + self.updates + self.takeovers, key=lambda f: f.key)

    @property
    def needs_update(self) -> bool:
        assert self.plugins and self.requirements
        return self.plugins.env_stale or self.requirements.env_stale

    def refusals(self, *, force_plugins: bool, force_requirements: bool, take_over: bool) -> list[str]:
        """What this deploy would overwrite without owning it, each with its fix; empty when it may go ahead."""
        assert self.plugins and self.requirements
        problems = []
        for root, forced in ((self.plugins, force_plugins), (self.requirements, force_requirements)):
            if root.foreign and not (forced or take_over):
                key = root.local.key
                problems.append(
                    f"{root.foreign}. Replacing it drops whatever the environment installs from it (on a shared "
                    f"environment: another team's {'packages' if key == REQUIREMENTS_KEY else 'plugins'}). Merge "
                    f"theirs into this repository's {key}, then re-run with {FORCE_FLAG[key]} "
                    f"(make deploy-mwaa ... {MAKE_FLAG[key]}) or --take-over (TAKE_OVER=1)"
                )
        if self.takeovers and not take_over:
            keys = ", ".join(f.key for f in self.takeovers)
            problems.append(
                f"{keys}: already in s3://{self.bucket} with other bytes and not in this package's manifest "
                "(someone else's file at a key the bundle needs). Rename ours, or, if the file is this package's "
                "(e.g. deployed before the manifest existed), re-run with --take-over (TAKE_OVER=1)"
            )
        return problems

    def manifest_after(self) -> dict[str, Any]:
        """The manifest this deploy leaves: every key of the bundle, and the root versions it wrote or kept."""
        assert self.plugins and self.requirements
        return {
            "format": MANIFEST_FORMAT,
            "package": PACKAGE,
            "dags": {k: {"md5": f.md5, "sha256": f.sha256} for k, f in sorted(self.files.items())},
            "roots": {
                r.local.key: {"version": r.version, "sha256": r.local.sha256} for r in (self.plugins, self.requirements)
            },
        }


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


def _missing(err: Exception) -> bool:
    return _error_code(err) in ("404", "NoSuchKey", "NotFound")


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


def read_manifest(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The manifest the previous deploy wrote, or None before the first one."""
    try:
        body = s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read()
    except Exception as err:
        if _missing(err):
            return None
        raise DeployError(f"cannot read s3://{bucket}/{MANIFEST_KEY}: {_error_code(err) or err}") from err
    try:
        manifest = json.loads(body)
        ok = manifest.get("package") == PACKAGE and manifest.get("format") == MANIFEST_FORMAT
        ok = ok and isinstance(manifest.get("dags"), dict) and isinstance(manifest.get("roots"), dict)
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise DeployError(
            f"s3://{bucket}/{MANIFEST_KEY} is not a deploy manifest of {PACKAGE} (format {MANIFEST_FORMAT}): nothing "
            "was changed. Restore it from an earlier object version (the bucket is versioned) or, if this bucket "
            "holds no other team's files, delete it and deploy with --take-over"
        )
    return manifest


def remote_dags(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=DAGS_PREFIX):
        for obj in page.get("Contents", []):
            objects[obj["Key"]] = obj
    return objects


def _same(s3: Any, bucket: str, key: str, md5: str, sha256: str, etag: str | None, head: Any = None) -> bool:
    """Whether S3's object has these bytes: the ETag is the MD5 for plain uploads; else (SSE-KMS, multipart)
    the sha256 metadata this tool writes decides."""
    if etag and etag.strip('"') == md5:
        return True
    if head is None:
        head = s3.head_object(Bucket=bucket, Key=key)
    return head.get("Metadata", {}).get("sha256") == sha256


def _root_object(
    s3: Any, bucket: str, local: LocalFile, env: dict[str, Any], prefix: str, manifest: dict[str, Any] | None
) -> RootObject:
    env_path, env_version = env.get(f"{prefix}S3Path"), env.get(f"{prefix}S3ObjectVersion")
    root = RootObject(local, True, None, env_path, env_version)
    key = local.key
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as err:
        if not _missing(err):
            raise
        head = None
    if head is not None:
        root.remote_version = head.get("VersionId")
        # An object stored before versioning was enabled has version "null", which MWAA cannot pin: upload it again.
        pinned = root.remote_version and root.remote_version != "null"
        root.changed = not pinned or not _same(s3, bucket, key, local.md5, local.sha256, head.get("ETag"), head)
        root.version = None if root.changed else root.remote_version
        owned = (manifest or {}).get("roots", {}).get(key, {}).get("version")
        if root.changed and root.remote_version != owned:
            why = (
                f"no deploy manifest at s3://{bucket}/{MANIFEST_KEY}"
                if manifest is None
                else f"the manifest records version {owned}"
            )
            root.foreign = f"s3://{bucket}/{key} (version {root.remote_version}) was not written by this deploy ({why})"
    if env_path and env_path.lstrip("/") != key and not root.foreign:
        root.foreign = (
            f"environment {env.get('Name')!r} installs {prefix.lower()} from s3://{bucket}/{env_path}, not "
            f"{key}: switching it to {key} would replace a file this deploy did not write"
        )
    return root


def make_plan(s3: Any, mwaa: Any, bundle: Path, bucket: str, environment: str) -> Plan:
    files, plugins, requirements = local_bundle(bundle)
    check_versioning(s3, bucket)
    env = read_environment(mwaa, environment, bucket)
    manifest = read_manifest(s3, bucket)
    owned: dict[str, dict[str, str]] = (manifest or {}).get("dags", {})
    plan = Plan(environment, bucket, manifest=manifest, files=files)
    remote = remote_dags(s3, bucket)
    for key, local in files.items():
        obj = remote.get(key)
        if obj is None:
            plan.adds.append(local)
        elif obj.get("Size") == local.size and _same(s3, bucket, key, local.md5, local.sha256, obj.get("ETag")):
            (plan.unchanged if key in owned else plan.adopted).append(key)
        else:
            (plan.updates if key in owned else plan.takeovers).append(local)
    for key, obj in sorted(remote.items()):
        if key in files or key.endswith("/"):  # folder markers (the console's) stay
            continue
        if key not in owned:
            plan.foreign.append(key)
        elif _same(s3, bucket, key, owned[key].get("md5", ""), owned[key].get("sha256", ""), obj.get("ETag")):
            plan.deletes.append(key)
        else:
            plan.kept_changed.append(key)
    plan.plugins = _root_object(s3, bucket, plugins, env, "Plugins", manifest)
    plan.requirements = _root_object(s3, bucket, requirements, env, "Requirements", manifest)
    if plan.needs_update and env.get("Status") not in UPDATABLE_STATES:
        raise DeployError(
            f"environment {environment!r} is {env.get('Status')}: it accepts an update only when "
            f"{' or '.join(sorted(UPDATABLE_STATES))}; nothing was changed, re-run once it is"
        )
    return plan


def describe(plan: Plan) -> list[str]:
    """The plan as lines a person reviews before anything is written."""
    assert plan.plugins and plan.requirements
    found = f"manifest s3://{plan.bucket}/{MANIFEST_KEY}: " + (
        f"{len(plan.manifest['dags'])} dags/ keys owned" if plan.manifest else "none yet (first deploy)"
    )
    lines = [f"plan for s3://{plan.bucket} (environment {plan.environment}); {found}"]
    rows = (
        [("add", f.key, "") for f in plan.adds]
        + [("update", f.key, "") for f in plan.updates]
        + [("replace-foreign", f.key, "not this package's, other bytes: needs --take-over") for f in plan.takeovers]
        + [("adopt", k, "already there with the same bytes: recorded as this package's") for k in plan.adopted]
        + [("delete", k, "in the previous manifest, not in this bundle") for k in plan.deletes]
        + [("keep", k, "in the previous manifest, but changed since: left alone") for k in plan.kept_changed]
        + [("keep-foreign", k, "not this package's: never touched") for k in plan.foreign]
    )
    for action, key, why in sorted(rows, key=lambda r: r[1]):
        lines.append(f"  {action:<15} {key}" + (f"  ({why})" if why else ""))
    lines.append(f"  {'unchanged':<15} {len(plan.unchanged)} dags/ files of this package")
    for root in (plan.plugins, plan.requirements):
        if not root.changed:
            state = f"unchanged (version {root.version})"
        elif root.remote_version is None:
            state = "add"
        else:
            state = f"update (replaces version {root.remote_version})"
        if root.foreign:
            state += f"; NOT OURS: {root.foreign}"
        lines.append(f"  {root.local.key}: {state}")
    lines.append(
        f"  environment {plan.environment}: " + ("update" if plan.needs_update else "no update (already current)")
    )
    return lines


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


def execute(
    s3: Any,
    mwaa: Any,
    plan: Plan,
    *,
    dry_run: bool,
    force_plugins: bool = False,
    force_requirements: bool = False,
    take_over: bool = False,
    say: Callable[[str], None] = print,
) -> Result:
    """Print the plan, refuse (before any write) to replace what this package does not own, then carry it out."""
    assert plan.plugins and plan.requirements
    for line in describe(plan):
        say(line)
    refusals = plan.refusals(force_plugins=force_plugins, force_requirements=force_requirements, take_over=take_over)
    if refusals:
        raise DeployError(
            "refusing to replace what this package did not write; nothing was changed:\n  - " + "\n  - ".join(refusals)
        )
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
    # Last: a deploy cut short leaves the old manifest, and the next one adopts what this one uploaded (same bytes).
    manifest = plan.manifest_after()
    if manifest != plan.manifest:
        act(f"write the manifest s3://{plan.bucket}/{MANIFEST_KEY} ({len(manifest['dags'])} dags/ keys)")
        if not dry_run:
            s3.put_object(
                Bucket=plan.bucket,
                Key=MANIFEST_KEY,
                Body=(json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(),
                ContentType="application/json",
            )
    say(
        f"dags/: {len(plan.uploads)} to upload, {len(plan.deletes)} to delete, {len(plan.unchanged)} unchanged, "
        f"{len(plan.foreign)} foreign left alone" + (" (dry run: nothing was written)" if dry_run else "")
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
    force_plugins: bool = False,
    force_requirements: bool = False,
    take_over: bool = False,
    say: Callable[[str], None] = print,
) -> Result:
    return execute(
        s3,
        mwaa,
        make_plan(s3, mwaa, bundle, bucket, environment),
        dry_run=dry_run,
        force_plugins=force_plugins,
        force_requirements=force_requirements,
        take_over=take_over,
        say=say,
    )


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
    parser.add_argument("--dry-run", action="store_true", help="print the plan and actions; call only read APIs")
    parser.add_argument(
        "--force-requirements", action="store_true", help="replace a requirements.txt this deploy did not write"
    )
    parser.add_argument("--force-plugins", action="store_true", help="replace a plugins.zip this deploy did not write")
    parser.add_argument(
        "--take-over",
        action="store_true",
        help="both --force flags, and overwrite files under dags/ at the bundle's keys that another deploy wrote",
    )
    args = parser.parse_args(argv)
    bucket = args.bucket.removeprefix("s3://").removeprefix("arn:aws:s3:::").rstrip("/")
    try:
        s3, mwaa = clients or make_clients(args.region, args.profile, args.endpoint_url)
        deploy(
            s3,
            mwaa,
            bundle=args.bundle,
            bucket=bucket,
            environment=args.environment,
            dry_run=args.dry_run,
            force_plugins=args.force_plugins,
            force_requirements=args.force_requirements,
            take_over=args.take_over,
        )
    except Exception as err:
        setup = aws_setup_error(err)
        if setup is None and not isinstance(err, DeployError):
            raise
        print(f"deploy: error: {setup or err}", file=sys.stderr)
        return 1
    return 0


def aws_setup_error(err: BaseException) -> str | None:
    """One line with the fix when ``err`` (or what caused it) is boto3 finding no region or no credentials, which
    would otherwise end the deploy in a traceback (or in a check's message that hides the cause); else None."""
    from botocore.exceptions import NoCredentialsError, NoRegionError

    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, NoRegionError):
            return "no AWS region: pass REGION=<region> (make deploy-mwaa) / --region, or set AWS_REGION"
        if isinstance(seen, NoCredentialsError):
            return (
                "no AWS credentials: configure them (aws configure, AWS_PROFILE=<profile>, or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and run again; nothing was changed"
            )
        seen = seen.__cause__ or seen.__context__
    return None


if __name__ == "__main__":
    sys.exit(main())
