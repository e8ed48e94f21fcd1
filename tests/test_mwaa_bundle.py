"""The MWAA bundle (include/mwaa/build_bundle.py) and its deploy (include/mwaa/deploy.py).

The bundle must hold exactly what MWAA syncs, parse on its own (no include/ on sys.path), and its requirements must
resolve under MWAA's constraints. Deploy runs against the emulator's S3; moto 5.2.5 has no MWAA backend, so a real
boto3 MWAA client (botocore validates every request against the service model) is answered by an in-memory
environment.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from constants import ACCOUNT, REGION

REPO = Path(__file__).resolve().parents[1]
MWAA_DIR = REPO / "include" / "mwaa"
AIRFLOW_CONSTRAINTS = MWAA_DIR / "constraints" / "airflow-3.3.1-python3.12.txt"
ESSENTIAL_CONSTRAINTS = MWAA_DIR / "constraints" / "mwaa-essential-3.3.1.txt"
VENV_BIN = Path(sys.executable).parent
EXPECTED_DAG_IDS = {"mnist_train_deploy", "mnist_incremental_spot", "mnist_tuning", "sagemaker_mlops_reaper"}
LOCAL_ONLY = {"include", "aws_emulator", "local_datasets", "sdk_oracle", "moto", "mlxtend"}


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"mwaa_{name}", MWAA_DIR / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build_bundle = _load("build_bundle")
deploy_tool = _load("deploy")


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _source_files(root: Path) -> set[str]:
    """What MWAA needs from a source folder: every file but caches, bytecode and tests."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not {"__pycache__", "tests"} & set(p.relative_to(root).parts) and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The bundle, built once by the command-line entry point exactly as `make bundle` runs it."""
    out = tmp_path_factory.mktemp("mwaa") / "bundle"
    run = subprocess.run(
        [sys.executable, str(MWAA_DIR / "build_bundle.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return SimpleNamespace(path=out, stdout=run.stdout)


# -- the bundle ---------------------------------------------------------------------------------------------------
def test_bundle_has_exactly_what_mwaa_needs(bundle: SimpleNamespace) -> None:
    out = bundle.path
    assert sorted(p.name for p in out.iterdir()) == ["dags", "plugins.zip", "requirements.txt"]  # no startup.sh
    shipped = _tree(out / "dags")
    assert set(shipped) == _source_files(REPO / "dags")
    for needed in (
        "mnist_train_deploy.py",
        ".airflowignore",
        "sagemaker_mlops/__init__.py",
        "sagemaker_mlops/data/algorithm_images.json",
        "sagemaker_mlops/data/prices.json",
    ):
        assert needed in shipped
    for rel, digest in shipped.items():
        parts = Path(rel).parts
        assert "__pycache__" not in parts and not rel.endswith(".pyc"), rel
        assert not LOCAL_ONLY & set(parts) and "tests" not in parts, rel
        assert digest == hashlib.sha256((REPO / "dags" / rel).read_bytes()).hexdigest(), rel
    assert (out / "requirements.txt").read_bytes() == (REPO / "requirements.txt").read_bytes()
    # The manifest names every file and the two hashes MWAA versions by.
    for name in ("plugins.zip", "requirements.txt"):
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() in bundle.stdout
    assert "mnist_train_deploy.py" in bundle.stdout
    assert "startup script: none (not needed" in bundle.stdout


def test_plugins_zip_holds_the_contents_of_plugins(bundle: SimpleNamespace) -> None:
    with zipfile.ZipFile(bundle.path / "plugins.zip") as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        top = {name.split("/", 1)[0] for name in names}
        expected_top = (
            {p.name for p in (REPO / "plugins").iterdir() if p.name != "__pycache__" and p.suffix != ".pyc"}
            if (REPO / "plugins").is_dir()
            else set()
        )
        assert top == expected_top  # unzipped into /usr/local/airflow/plugins: no "plugins/" level
        assert not any(n.startswith("plugins/") or "__pycache__" in n or n.endswith(".pyc") for n in names)
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
        files = {n for n in names if not n.endswith("/")}
        assert files == _source_files(REPO / "plugins")
        for name in files:
            assert archive.read(name) == (REPO / "plugins" / name).read_bytes()
        assert archive.testzip() is None


def test_build_is_deterministic_and_replaces_the_previous_bundle(bundle: SimpleNamespace, tmp_path: Path) -> None:
    out = tmp_path / "again"
    (out / "dags").mkdir(parents=True)
    (out / "dags" / "removed_dag.py").write_text("stale\n")
    manifest = build_bundle.build(out)
    assert _tree(out) == _tree(bundle.path)  # byte for byte, plugins.zip included
    assert manifest.plugins_zip.sha256 == hashlib.sha256((out / "plugins.zip").read_bytes()).hexdigest()
    (out / "notes.txt").write_text("not a bundle file\n")
    with pytest.raises(build_bundle.BundleError, match="refusing to replace"):
        build_bundle.build(out)
    with pytest.raises(build_bundle.BundleError, match="inside the sources"):
        build_bundle.build(REPO / "dags" / "out")


def _repo_copy(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "dags", repo / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "plugins", repo / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "requirements.txt", repo / "requirements.txt")
    return repo


def test_build_fails_when_shipped_code_imports_what_does_not_ship(tmp_path: Path) -> None:
    repo = _repo_copy(tmp_path)
    (repo / "dags" / "local_only_dag.py").write_text(
        "from airflow.sdk import DAG\nfrom aws_emulator.control import EmulatorControl\n"
    )
    (repo / "dags" / "sagemaker_mlops" / "helper.py").write_text("def f():\n    import moto\n")
    with pytest.raises(build_bundle.BundleError) as err:
        build_bundle.build(tmp_path / "out", repo=repo)
    message = str(err.value)
    assert "exist only locally" in message
    assert "dags/local_only_dag.py:2: imports 'aws_emulator.control'" in message
    assert "dags/sagemaker_mlops/helper.py:2: imports 'moto'" in message
    assert not (tmp_path / "out").exists()


def test_build_fails_without_the_mwaa_constraint_line(tmp_path: Path) -> None:
    repo = _repo_copy(tmp_path)
    text = (repo / "requirements.txt").read_text()
    (repo / "requirements.txt").write_text(text.replace("constraints-3.3.1/", "constraints-3.2.1/", 1))
    expected = re.escape("first line must be MWAA's Airflow 3.3.1 / Python 3.12")
    with pytest.raises(build_bundle.BundleError, match=expected):
        build_bundle.build(tmp_path / "out", repo=repo)


# -- the DAGs parse from the bundle alone ------------------------------------------------------------------------
PARSE = r"""
import importlib.util, json, sys
from pathlib import Path
dags = Path(sys.argv[1])
# What MWAA's DAG processor does in 3.3.1 (dag_processing/processor.py): a BundleDagBag puts the DAGs folder on
# sys.path, parses every file not in .airflowignore, then serializes each DAG.
from airflow.dag_processing.dagbag import BundleDagBag
from airflow.serialization.serialized_objects import DagSerialization
bag = BundleDagBag(dags, bundle_path=dags, bundle_name="dags-folder")
errors = dict(bag.import_errors)
for dag_id, dag in bag.dags.items():
    try:
        DagSerialization.from_dict(DagSerialization.to_dict(dag))
    except Exception as err:
        errors[f"serialize {dag_id}"] = repr(err)
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()
print(json.dumps({
    "errors": errors,
    "dags": {dag_id: Path(dag.fileloc).name for dag_id, dag in bag.dags.items()},
    "files": sorted(stat.file for stat in bag.dagbag_stats),
    "plugin_errors": plugins_manager.get_import_errors(),
    "plugin_files": sorted(str(p["source"]).removeprefix("$PLUGINS_FOLDER/")
                           for p in plugins_manager.get_plugin_info()),
    "local_only_loaded": sorted(m for m in sys.modules if m.split(".")[0] in LOCAL_ONLY),
    "local_only_findable": sorted(m for m in ("include", "aws_emulator", "local_datasets")
                                  if importlib.util.find_spec(m) is not None),
}))
""".replace("LOCAL_ONLY", repr(sorted(LOCAL_ONLY)))


@pytest.mark.e2e  # runs a separate tool or interpreter over the whole tree: seconds of CPU
def test_dags_parse_from_the_bundle_alone(bundle: SimpleNamespace, tmp_path: Path) -> None:
    home, plugins = tmp_path / "airflow-home", tmp_path / "airflow-home" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(bundle.path / "plugins.zip") as archive:
        archive.extractall(plugins)  # as MWAA does, into /usr/local/airflow/plugins
    dags = bundle.path / "dags"
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AWS_EC2_METADATA_DISABLED": "true",
    }  # no PYTHONPATH: include/ is not importable, as on MWAA
    # No `airflow db migrate`: parsing (like MWAA's DAG processor) needs no metadata DB; it would cost ~10 s.
    run = subprocess.run(
        [sys.executable, "-c", PARSE, str(dags)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}, result["errors"]
    assert set(result["dags"]) >= EXPECTED_DAG_IDS, result["dags"]
    top_level_py = sorted(p.name for p in dags.glob("*.py"))
    assert result["files"] == top_level_py  # .airflowignore keeps the package out of parsing
    assert set(result["dags"].values()) == set(top_level_py)  # every DAG file defines a DAG
    assert result["plugin_errors"] == {}
    # Every shipped plugin module that defines an AirflowPlugin is loaded from the unzipped plugins folder.
    plugin_modules = {
        p.relative_to(plugins).as_posix() for p in plugins.rglob("*.py") if "(AirflowPlugin)" in p.read_text()
    }
    assert plugin_modules <= set(result["plugin_files"]), result["plugin_files"]
    assert result["local_only_loaded"] == [] and result["local_only_findable"] == []


# -- requirements ------------------------------------------------------------------------------------------------
def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def _requirements(path: Path) -> list[Requirement]:
    reqs = []
    for line in path.read_text().splitlines()[1:]:
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            reqs.append(Requirement(line))
    return reqs


def test_requirements_are_pinned_compatibly_with_mwaa_constraints(bundle: SimpleNamespace) -> None:
    requirements = bundle.path / "requirements.txt"
    url = re.search(r'"(https://[^"]+)"', requirements.read_text().splitlines()[0]).group(1)
    assert f"# {url}" in AIRFLOW_CONSTRAINTS.read_text()  # the vendored file is the one MWAA fetches
    constraints, essential = _pins(AIRFLOW_CONSTRAINTS), _pins(ESSENTIAL_CONSTRAINTS)
    assert constraints["apache-airflow-providers-amazon"] == "9.34.0"
    assert essential["apache-airflow"] == "3.3.1" and constraints["boto3"] == "1.43.56"
    for name, version in essential.items():  # MWAA installs both files together: they must agree
        assert constraints.get(name, version) == version, name
    for req in _requirements(requirements):
        name = canonicalize_name(req.name)
        pinned = essential.get(name) or constraints.get(name)
        if pinned:
            assert req.specifier.contains(pinned, prereleases=True), f"{req} conflicts with MWAA's {name}=={pinned}"
        else:
            assert [s.operator for s in req.specifier] == ["=="], f"{req}: not in MWAA's constraints, pin it with =="
        for extra in req.extras:  # e.g. amazon[aiobotocore]: the extra's package is pinned by the constraints
            assert canonicalize_name(extra) in constraints, f"{req}: extra {extra} is not pinned by the constraints"


def _uv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    run = subprocess.run(
        [str(VENV_BIN / "uv"), *args, "--python", sys.executable],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    if run.returncode and re.search(r"(?i)failed to fetch|dns error|connect|timed out|network", run.stderr):
        pytest.skip(f"package index unreachable: {run.stderr.strip()[-300:]}")
    return run


@pytest.mark.e2e  # a separate interpreter or tool (a second or more each)
def test_requirements_resolve_under_mwaa_constraints(bundle: SimpleNamespace, tmp_path: Path) -> None:
    # MWAA fetches the constraint URL itself; here its vendored copy stands in, plus the essential pins MWAA
    # always adds (safe-pip-install).
    lines = (bundle.path / "requirements.txt").read_text().splitlines()
    assert lines[0].startswith("--constraint ")
    plain = tmp_path / "requirements.txt"
    plain.write_text("\n".join(lines[1:]) + "\n")
    constraints = ["-c", str(AIRFLOW_CONSTRAINTS), "-c", str(ESSENTIAL_CONSTRAINTS)]
    # A fresh resolution for MWAA's platform (Amazon Linux 2023, x86_64, glibc 2.34, Python 3.12) ...
    compiled = _uv(
        "pip",
        "compile",
        str(plain),
        *constraints,
        "--python-version",
        "3.12",
        "--python-platform",
        "x86_64-manylinux_2_34",
        "--no-header",
        "--no-annotate",
        "--quiet",
        cwd=tmp_path,
    )
    assert compiled.returncode == 0, compiled.stderr
    resolved = dict(line.split("==", 1) for line in compiled.stdout.splitlines() if "==" in line)
    assert resolved["apache-airflow"] == "3.3.1"
    assert resolved["apache-airflow-providers-amazon"] == "9.34.0"
    assert resolved["boto3"] == "1.43.56"
    # ... and against this repo's MWAA-parity venv: nothing to change, nothing to conflict.
    dry = _uv("pip", "install", "--dry-run", "-r", str(plain), *constraints, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr


# -- deploy --------------------------------------------------------------------------------------------------------
class FakeMwaa:
    """MWAA GetEnvironment/UpdateEnvironment for one in-memory environment, behind a real boto3 client."""

    def __init__(self, name: str, bucket: str, status: str = "AVAILABLE") -> None:
        import boto3

        self.env: dict[str, Any] = {
            "Name": name,
            "Arn": f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/{name}",
            "Status": status,
            "AirflowVersion": "3.3.1",
            "SourceBucketArn": f"arn:aws:s3:::{bucket}",
            "DagS3Path": "dags",
        }
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.client = boto3.client(
            "mwaa", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.client.meta.events.register("before-parameter-build.mwaa", self._capture)
        self.client.meta.events.register("before-call.mwaa", self._answer)

    @property
    def updates(self) -> list[dict[str, Any]]:
        return [params for op, params in self.calls if op == "UpdateEnvironment"]

    @staticmethod
    def _capture(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["fake_mwaa"] = (model.name, copy.deepcopy(params))  # botocore validates them right after

    def _answer(self, context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        operation, params = context["fake_mwaa"]
        self.calls.append((operation, params))
        if params.get("Name") != self.env["Name"]:
            return self._error(404, "ResourceNotFoundException", f"Environment {params.get('Name')} not found")
        if operation == "GetEnvironment":
            return SimpleNamespace(status_code=200, headers={}), {"Environment": copy.deepcopy(self.env)}
        if operation == "UpdateEnvironment":
            if self.env["Status"] not in ("AVAILABLE", "UPDATE_FAILED"):
                return self._error(400, "ValidationException", f"Environment is {self.env['Status']}")
            self.env.update({k: v for k, v in params.items() if k != "Name"})
            return SimpleNamespace(status_code=200, headers={}), {"Arn": self.env["Arn"]}
        raise AssertionError(f"deploy must not call {operation}")

    @staticmethod
    def _error(status: int, code: str, message: str) -> tuple[Any, dict[str, Any]]:
        return (
            SimpleNamespace(status_code=status, headers={}),
            {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        )


WRITES = {"PutObject", "DeleteObject", "DeleteObjects", "MultipartUpload", "CopyObject"}


def _bucket(s3: Any, name: str, versioning: str | None = "Enabled") -> str:
    s3.create_bucket(Bucket=name)
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    return name


def _deploy(
    s3: Any, mwaa: FakeMwaa, bundle_dir: Path, bucket: str, *extra: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    code = deploy_tool.main(
        ["--environment", mwaa.env["Name"], "--bucket", bucket, "--bundle", str(bundle_dir), *extra],
        clients=(s3, mwaa.client),
    )
    out, err = capsys.readouterr()
    return code, out, err


def _s3_objects(s3: Any, bucket: str) -> dict[str, bytes]:
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def _manifest(s3: Any, bucket: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=bucket, Key=deploy_tool.MANIFEST_KEY)["Body"].read())


def _writes(emulator: Any) -> list[str]:
    return [a for a in emulator.actions("s3") if a in WRITES]


def test_deploy_syncs_uploads_and_updates_only_on_change(
    bundle: SimpleNamespace, aws: Any, emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws("s3")
    bucket = _bucket(s3, "airflow-mlops-deploy")
    s3.put_object(Bucket=bucket, Key="dags/", Body=b"")  # the console's folder marker stays
    s3.put_object(Bucket=bucket, Key="startup.sh", Body=b"#!/bin/sh\n")  # outside dags/: never touched
    mwaa = FakeMwaa("mlops-env", bucket)
    work = tmp_path / "bundle"
    shutil.copytree(bundle.path, work)
    (work / "dags" / "sagemaker_mlops" / "retired.py").write_text("# dropped by the next release\n")

    code, out, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 0, err
    objects = _s3_objects(s3, bucket)
    expected = {f"dags/{rel}" for rel in _tree(work / "dags")} | {
        "dags/",
        "plugins.zip",
        "requirements.txt",
        "startup.sh",
        deploy_tool.MANIFEST_KEY,
    }
    assert set(objects) == expected
    for key in expected - {"dags/", "startup.sh", deploy_tool.MANIFEST_KEY}:
        assert objects[key] == (work / key).read_bytes(), key
    versions = {k: s3.head_object(Bucket=bucket, Key=k)["VersionId"] for k in ("plugins.zip", "requirements.txt")}
    (update,) = mwaa.updates
    assert update == {
        "Name": "mlops-env",
        "PluginsS3Path": "plugins.zip",
        "PluginsS3ObjectVersion": versions["plugins.zip"],
        "RequirementsS3Path": "requirements.txt",
        "RequirementsS3ObjectVersion": versions["requirements.txt"],
    }
    assert mwaa.env["PluginsS3ObjectVersion"] == versions["plugins.zip"]
    assert mwaa.env["RequirementsS3ObjectVersion"] == versions["requirements.txt"]
    # The manifest names exactly what this deploy wrote, with the versions the environment runs.
    manifest = _manifest(s3, bucket)
    assert set(manifest["dags"]) == {f"dags/{rel}" for rel in _tree(work / "dags")}
    assert {k: v["version"] for k, v in manifest["roots"].items()} == versions
    assert "  add             dags/sagemaker_mlops/retired.py" in out

    # The next release drops a file: the second deploy deletes it (it is in the manifest), and nothing else.
    (work / "dags" / "sagemaker_mlops" / "retired.py").unlink()
    emulator.clear_requests()
    code, out, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 0, err
    assert "  delete          dags/sagemaker_mlops/retired.py  (in the previous manifest" in out
    assert sorted(_writes(emulator)) == ["DeleteObjects", "PutObject"]  # the delete, the new manifest
    assert set(_s3_objects(s3, bucket)) == expected - {"dags/sagemaker_mlops/retired.py"}
    assert "dags/sagemaker_mlops/retired.py" not in _manifest(s3, bucket)["dags"]
    assert len(mwaa.updates) == 1

    # Unchanged: no writes at all (not even the manifest), no environment update.
    emulator.clear_requests()
    code, out, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 0, err
    assert len(mwaa.updates) == 1
    assert not _writes(emulator), emulator.actions("s3")
    assert "no update" in out and f"0 to upload, 0 to delete, {len(_tree(work / 'dags'))} unchanged" in out

    # A new requirements.txt: one upload, one update with the new version and the same plugins.zip version.
    (work / "requirements.txt").write_text((work / "requirements.txt").read_text() + "# touched\n")
    emulator.clear_requests()
    code, out, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 0, err
    assert _writes(emulator) == ["PutObject", "PutObject"]  # requirements.txt, then the manifest
    new_version = s3.head_object(Bucket=bucket, Key="requirements.txt")["VersionId"]
    assert new_version != versions["requirements.txt"]
    assert f"requirements.txt: update (replaces version {versions['requirements.txt']})" in out
    assert mwaa.updates[-1]["RequirementsS3ObjectVersion"] == new_version
    assert mwaa.updates[-1]["PluginsS3ObjectVersion"] == versions["plugins.zip"]
    assert _manifest(s3, bucket)["roots"]["requirements.txt"]["version"] == new_version


OTHER_TEAM = {
    "dags/etl_orders.py": b"# another team's DAG\nfrom airflow.sdk import DAG\n",
    "dags/orders_lib/__init__.py": b"# their shared code\n",
    "dags/orders_lib/sql/load.sql": b"select 1;\n",
}
THEIR_REQUIREMENTS = b"--constraint x\napache-airflow-providers-postgres==6.3.0\n"


def _shared_environment(s3: Any, bucket: str) -> FakeMwaa:
    """A bucket and environment another team already uses: their DAGs, and their requirements.txt installed."""
    _bucket(s3, bucket)
    for key, body in OTHER_TEAM.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    version = s3.put_object(Bucket=bucket, Key="requirements.txt", Body=THEIR_REQUIREMENTS)["VersionId"]
    mwaa = FakeMwaa("shared-env", bucket)
    mwaa.env.update({"RequirementsS3Path": "requirements.txt", "RequirementsS3ObjectVersion": version})
    return mwaa


def _theirs_untouched(s3: Any, bucket: str) -> None:
    objects = _s3_objects(s3, bucket)
    for key, body in OTHER_TEAM.items():
        assert objects.get(key) == body, key
        # ... and never rewritten: one version each, no delete marker.
        listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
        assert len(listing.get("Versions", [])) == 1 and not listing.get("DeleteMarkers"), key


def test_deploy_to_a_shared_environment_touches_nothing_of_another_team(
    bundle: SimpleNamespace, aws: Any, emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws("s3")
    bucket = "airflow-shared-env"
    mwaa = _shared_environment(s3, bucket)
    their_version = mwaa.env["RequirementsS3ObjectVersion"]
    work = tmp_path / "bundle"
    shutil.copytree(bundle.path, work)

    # Their requirements.txt is not ours to replace: refused, with the fix, before any write.
    emulator.clear_requests()
    code, out, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 1
    assert "refusing to replace what this package did not write; nothing was changed" in err
    assert f"s3://{bucket}/requirements.txt (version {their_version}) was not written by this deploy" in err
    assert "no deploy manifest" in err and "--force-requirements" in err and "FORCE_REQUIREMENTS=1" in err
    assert "plugins.zip" not in err  # there is none yet: adding one replaces nothing
    assert not _writes(emulator) and mwaa.updates == []
    for key in OTHER_TEAM:  # the plan was shown first, their files marked as left alone
        assert f"  keep-foreign    {key}  (not this package's: never touched)" in out
    assert s3.get_object(Bucket=bucket, Key="requirements.txt")["Body"].read() == THEIR_REQUIREMENTS

    # Merged (here: told to), the deploy goes ahead and still leaves their DAGs alone.
    code, out, err = _deploy(s3, mwaa, work, bucket, "--force-requirements", capsys=capsys)
    assert code == 0, err
    _theirs_untouched(s3, bucket)
    assert set(_manifest(s3, bucket)["dags"]) == {f"dags/{rel}" for rel in _tree(work / "dags")}
    assert f"{len(OTHER_TEAM)} foreign left alone" in out

    # Our next release drops a module: only that one goes, theirs stay.
    dropped = "dags/sagemaker_mlops/__init__.py"
    (work / dropped).unlink()
    code, out, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 0, err
    assert dropped not in _s3_objects(s3, bucket)
    _theirs_untouched(s3, bucket)

    # They ship a new requirements.txt: our next changed requirements.txt is refused again (not the version we wrote).
    theirs_again = s3.put_object(Bucket=bucket, Key="requirements.txt", Body=THEIR_REQUIREMENTS + b"# v2\n")
    (work / "requirements.txt").write_text((work / "requirements.txt").read_text() + "# ours v2\n")
    emulator.clear_requests()
    updates = len(mwaa.updates)
    code, _, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 1 and f"(version {theirs_again['VersionId']}) was not written by this deploy" in err
    assert "the manifest records version" in err
    assert not _writes(emulator) and len(mwaa.updates) == updates


def test_deploy_refuses_to_overwrite_a_foreign_file_at_a_bundle_key(
    bundle: SimpleNamespace, aws: Any, emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws("s3")
    bucket = _bucket(s3, "airflow-mlops-foreign-key")
    theirs = b"# another team's ignore rules\norders_lib/\n"
    s3.put_object(Bucket=bucket, Key="dags/.airflowignore", Body=theirs)
    mwaa = FakeMwaa("mlops-env", bucket)
    emulator.clear_requests()
    code, out, err = _deploy(s3, mwaa, bundle.path, bucket, capsys=capsys)
    assert code == 1
    assert "dags/.airflowignore: already in s3://airflow-mlops-foreign-key with other bytes" in err
    assert "--take-over (TAKE_OVER=1)" in err
    assert "  replace-foreign dags/.airflowignore" in out
    assert not _writes(emulator) and mwaa.updates == []
    assert s3.get_object(Bucket=bucket, Key="dags/.airflowignore")["Body"].read() == theirs

    code, out, err = _deploy(s3, mwaa, bundle.path, bucket, "--take-over", capsys=capsys)
    assert code == 0, err
    ours = (bundle.path / "dags" / ".airflowignore").read_bytes()
    assert s3.get_object(Bucket=bucket, Key="dags/.airflowignore")["Body"].read() == ours
    assert "dags/.airflowignore" in _manifest(s3, bucket)["dags"]


def test_deploy_leaves_a_dropped_file_someone_changed_and_an_environment_on_another_requirements_path(
    bundle: SimpleNamespace, aws: Any, emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws("s3")
    bucket = _bucket(s3, "airflow-mlops-edge-cases")
    mwaa = FakeMwaa("mlops-env", bucket)
    work = tmp_path / "bundle"
    shutil.copytree(bundle.path, work)
    (work / "dags" / "handed_over.py").write_text("# ours first\n")
    code, _, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 0, err

    # Another team rewrote the file we are about to drop: it is theirs now, so the drop leaves it.
    s3.put_object(Bucket=bucket, Key="dags/handed_over.py", Body=b"# theirs now\n")
    (work / "dags" / "handed_over.py").unlink()
    code, out, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 0, err
    assert "  keep            dags/handed_over.py  (in the previous manifest, but changed since" in out
    assert s3.get_object(Bucket=bucket, Key="dags/handed_over.py")["Body"].read() == b"# theirs now\n"
    assert "dags/handed_over.py" not in _manifest(s3, bucket)["dags"]

    # The environment installs another file's requirements: switching it to ours is refused, then allowed.
    mwaa.env["RequirementsS3Path"] = "team-a/requirements.txt"
    emulator.clear_requests()
    updates = len(mwaa.updates)
    code, _, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 1 and "installs requirements from s3://airflow-mlops-edge-cases/team-a/requirements.txt" in err
    assert "--force-requirements" in err and not _writes(emulator) and len(mwaa.updates) == updates
    code, _, err = _deploy(s3, mwaa, work, bucket, "--force-requirements", capsys=capsys)
    assert code == 0, err
    assert mwaa.updates[-1]["RequirementsS3Path"] == "requirements.txt"

    # A manifest that is not ours (or is damaged) stops the deploy before anything is written.
    s3.put_object(Bucket=bucket, Key=deploy_tool.MANIFEST_KEY, Body=b'{"package": "someone-else"}')
    emulator.clear_requests()
    code, _, err = _deploy(s3, mwaa, work, bucket, capsys=capsys)
    assert code == 1 and "is not a deploy manifest of airflow-sagemaker-mlops" in err
    assert not _writes(emulator)


def test_deploy_dry_run_prints_the_plan_and_writes_nothing(
    bundle: SimpleNamespace, aws: Any, emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws("s3")
    bucket = _bucket(s3, "airflow-mlops-dry-run")
    s3.put_object(Bucket=bucket, Key="dags/other_team_dag.py", Body=b"old\n")
    # Deployed before the manifest existed, with our exact bytes: adopted, not uploaded again.
    same = "dags/mnist_train_deploy.py"
    s3.put_object(Bucket=bucket, Key=same, Body=(bundle.path / same).read_bytes())
    mwaa = FakeMwaa("mlops-env", bucket)
    emulator.clear_requests()
    code, out, err = _deploy(s3, mwaa, bundle.path, bucket, "--dry-run", capsys=capsys)
    assert code == 0, err
    assert not _writes(emulator), emulator.actions("s3")
    assert [op for op, _ in mwaa.calls] == ["GetEnvironment"]
    assert set(_s3_objects(s3, bucket)) == {"dags/other_team_dag.py", same}
    assert "manifest s3://airflow-mlops-dry-run/.sagemaker_mlops/deploy-manifest.json: none yet" in out
    assert f"  adopt           {same}  (already there with the same bytes" in out
    assert f"would upload {same} " not in out
    for rel in sorted(set(_tree(bundle.path / "dags")) - {same.removeprefix("dags/")}):
        assert f"  add             dags/{rel}\n" in out
        assert f"[dry-run] would upload dags/{rel} " in out
    assert "  keep-foreign    dags/other_team_dag.py" in out and "would delete" not in out
    assert "  plugins.zip: add" in out and "  requirements.txt: add" in out
    assert "[dry-run] would upload plugins.zip" in out and "[dry-run] would upload requirements.txt" in out
    assert "[dry-run] would update MWAA environment mlops-env" in out
    assert "[dry-run] would write the manifest" in out


@pytest.mark.parametrize("versioning", [None, "Suspended"])
def test_deploy_refuses_a_bucket_without_versioning(
    bundle: SimpleNamespace, aws: Any, emulator: Any, versioning: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws("s3")
    bucket = _bucket(s3, "airflow-mlops-unversioned", versioning=versioning)
    mwaa = FakeMwaa("mlops-env", bucket)
    emulator.clear_requests()
    code, _, err = _deploy(s3, mwaa, bundle.path, bucket, capsys=capsys)
    assert code == 1
    assert "versioning on s3://airflow-mlops-unversioned" in err and "must have versioning Enabled" in err
    assert "put-bucket-versioning --bucket airflow-mlops-unversioned" in err
    assert not WRITES & set(emulator.actions("s3")) and mwaa.calls == []


def test_deploy_refuses_a_busy_or_mismatched_environment(
    bundle: SimpleNamespace, aws: Any, emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws("s3")
    bucket = _bucket(s3, "airflow-mlops-busy")
    emulator.clear_requests()
    code, _, err = _deploy(s3, FakeMwaa("mlops-env", bucket, status="UPDATING"), bundle.path, bucket, capsys=capsys)
    assert code == 1 and "is UPDATING" in err and "nothing was changed" in err
    code, _, err = _deploy(s3, FakeMwaa("mlops-env", "someone-elses-bucket"), bundle.path, bucket, capsys=capsys)
    assert code == 1 and "reads from arn:aws:s3:::someone-elses-bucket" in err
    mwaa = FakeMwaa("mlops-env", bucket)
    code = deploy_tool.main(
        ["--environment", "missing-env", "--bucket", bucket, "--bundle", str(bundle.path)], clients=(s3, mwaa.client)
    )
    assert code == 1 and "'missing-env' not found" in capsys.readouterr().err
    assert not WRITES & set(emulator.actions("s3"))


def test_deploy_without_region_or_credentials_says_what_to_pass_in_one_line(
    bundle: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 21 review: the README's dry-run line without REGION= ended in a NoRegionError traceback."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    argv = ["--environment", "mlops-env", "--bucket", "acme-mwaa-source", "--bundle", str(bundle.path), "--dry-run"]
    assert deploy_tool.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "no AWS region: pass REGION=<region>" in err and "\n" not in err
    assert deploy_tool.main([*argv, "--region", "us-east-1"]) == 1
    err = capsys.readouterr().err.strip()
    assert "no AWS credentials: configure them" in err and "\n" not in err
