#!/usr/bin/env python
"""Build the Amazon MWAA deployment bundle: exactly what MWAA syncs, nothing else.

    python include/mwaa/build_bundle.py [--out build/mwaa] [--json]

Writes (deterministically, from a clean directory):

    <out>/dags/            the DAG files, the shared ``sagemaker_mlops`` package (with its data) and .airflowignore
                           -> synced to s3://<bucket>/dags/ (MWAA copies it to /usr/local/airflow/dags)
    <out>/plugins.zip      the *contents* of plugins/ (top-level entries are the files/dirs inside plugins/),
                           fixed timestamps and modes -> s3://<bucket>/plugins.zip (unzipped to .../plugins)
    <out>/requirements.txt a verbatim copy of the top-level requirements.txt, whose first line must be MWAA's
                           Airflow 3.3.1 / Python 3.12 constraint line -> s3://<bucket>/requirements.txt

No startup script: the requirements are wheels on PyPI (Pillow has manylinux wheels, the amazon provider is
pre-installed in the MWAA image) and the DAGs need no OS packages or environment variables.

Nothing from include/ or tests/ ships; the build fails if any shipped Python file imports a package that exists
only locally (include, aws_emulator, local_datasets, moto, ...), because MWAA would fail to parse it.
Standard library only, so it runs with any Python 3.11+.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import hashlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "build" / "mwaa"

AIRFLOW_VERSION = "3.3.1"
PYTHON_VERSION = "3.12"
CONSTRAINT_URL = (
    f"https://raw.githubusercontent.com/apache/airflow/constraints-{AIRFLOW_VERSION}/constraints-{PYTHON_VERSION}.txt"
)
CONSTRAINT_LINE = f'--constraint "{CONSTRAINT_URL}"'

# Top-level modules that exist only in this repo's dev/test set-up (include/, requirements-dev.txt): never on MWAA.
LOCAL_ONLY_MODULES = frozenset(
    {"include", "aws_emulator", "local_datasets", "sdk_oracle", "moto", "mlxtend", "pytest", "tests", "conftest"}
)
# Never shipped, wherever they appear under dags/ or plugins/.
EXCLUDED_DIRS = frozenset(
    {
        "__pycache__",
        "tests",
        "test",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        ".ipynb_checkpoints",
        ".git",
        ".idea",
        ".vscode",
    }
)
# (No test_*.py / *_test.py patterns: sagemaker_mlops/serving/smoke_test.py is product code. A test module that imports
# pytest fails the local-only import check instead of being dropped silently.)
EXCLUDED_FILES = ("*.pyc", "*.pyo", "conftest.py", ".DS_Store", "*.swp", "*~")
# The bundle's own entries (a previous bundle may be replaced; anything else in --out is refused).
BUNDLE_ENTRIES = frozenset({"dags", "plugins.zip", "requirements.txt"})

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold: timestamps never change the bytes
ZIP_FILE_MODE = 0o100644
ZIP_DIR_MODE = 0o040755
ZIP_UNIX = 3

NO_STARTUP_SCRIPT = (
    "startup script: none (not needed: every requirement is a PyPI wheel installed under MWAA's "
    "constraints, the amazon provider is pre-installed, and the DAGs need no OS packages or "
    "environment variables)"
)


class BundleError(Exception):
    """The bundle cannot be built as MWAA needs it; the message says what to fix."""


@dataclass
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass
class Manifest:
    out: str
    dags: list[FileEntry] = field(default_factory=list)
    plugins_zip: FileEntry | None = None
    plugins_entries: list[str] = field(default_factory=list)
    requirements: FileEntry | None = None
    startup_script: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


# -- helpers ----------------------------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _excluded(name: str, is_dir: bool) -> bool:
    if is_dir:
        return name in EXCLUDED_DIRS
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in EXCLUDED_FILES)


def shippable_files(root: Path) -> list[str]:
    """Relative POSIX paths of every file under root that ships, sorted; symlinks are refused."""
    found: list[str] = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in list(dirnames):
            if (here / name).is_symlink():
                raise BundleError(f"{here / name} is a symlink: MWAA syncs plain files only; copy what it points to")
        dirnames[:] = sorted(d for d in dirnames if not _excluded(d, True))
        for name in sorted(filenames):
            path = here / name
            if path.is_symlink():
                raise BundleError(f"{path} is a symlink: MWAA syncs plain files only; copy what it points to")
            if not _excluded(name, False):
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def local_only_imports(path: Path, source: bytes) -> list[str]:
    """'file:line: import X' for every import (anywhere in the file) of a module that does not ship to MWAA."""
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as err:
        raise BundleError(f"{path}:{err.lineno}: syntax error: {err.msg}") from err
    problems = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        for module in modules:
            if module.split(".", 1)[0] in LOCAL_ONLY_MODULES:
                problems.append(f"{path}:{node.lineno}: imports {module!r}")
    return problems


def check_requirements(path: Path) -> bytes:
    """The requirements file's bytes, after checking MWAA can install it as-is."""
    if not path.is_file():
        raise BundleError(f"{path} not found: MWAA needs a requirements.txt starting with {CONSTRAINT_LINE}")
    data = path.read_bytes()
    lines = data.decode("utf-8").splitlines()
    first = lines[0].strip() if lines else ""
    try:
        tokens = shlex.split(first)
    except ValueError:
        tokens = []
    if tokens and "=" in tokens[0] and tokens[0].startswith("--constraint="):
        tokens = ["--constraint", tokens[0].split("=", 1)[1]]
    if len(tokens) != 2 or tokens[0] not in ("--constraint", "-c") or tokens[1] != CONSTRAINT_URL:
        raise BundleError(
            f"{path}: the first line must be MWAA's Airflow {AIRFLOW_VERSION} / Python {PYTHON_VERSION} constraint "
            f"line\n    expected: {CONSTRAINT_LINE}\n    found:    {first or '(empty file)'}"
        )
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r", "--requirement", "-e", "--editable", "-c", "--constraint", ".", "/", "file:")):
            raise BundleError(
                f"{path}:{number}: {line!r} refers to a local file or a second constraint; only "
                "requirements.txt and plugins.zip reach MWAA's installer"
            )
    return data


def deterministic_zip(source: Path, target: Path) -> list[str]:
    """Zips the contents of source (entries relative to it, no top folder); returns the entry names."""
    files = shippable_files(source)
    dirs = sorted({parent for f in files for parent in _parents(f)})
    names = sorted(set(dirs) | set(files))
    with zipfile.ZipFile(target, "w") as archive:
        for name in names:
            if name in dirs:
                info = zipfile.ZipInfo(name + "/", date_time=ZIP_DATE)
                info.external_attr = (ZIP_DIR_MODE << 16) | 0x10
                info.create_system = ZIP_UNIX
                archive.writestr(info, b"")
            else:
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.external_attr = ZIP_FILE_MODE << 16
                info.create_system = ZIP_UNIX
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(
                    info, (source / name).read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9
                )
    return [n + "/" if n in dirs else n for n in names]


def _parents(relative: str) -> list[str]:
    parts = relative.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _prepare_out(out: Path, repo: Path) -> None:
    resolved = out.resolve()
    if resolved == repo.resolve():
        raise BundleError(f"--out {out} is the repository itself; use build/mwaa")
    for source in (repo / "dags", repo / "plugins"):
        if resolved == source.resolve() or source.resolve() in resolved.parents:
            raise BundleError(f"--out {out} is inside the sources ({source}); use build/mwaa")
    if out.exists():
        if not out.is_dir():
            raise BundleError(f"--out {out} exists and is not a directory")
        unknown = sorted(p.name for p in out.iterdir() if p.name not in BUNDLE_ENTRIES)
        if unknown:
            raise BundleError(
                f"refusing to replace {out}: it holds {', '.join(unknown)}, which a bundle never "
                "does; pick an empty or new --out directory"
            )


# -- build ------------------------------------------------------------------------------------------------------
def build(out: Path = DEFAULT_OUT, repo: Path = REPO) -> Manifest:
    """Builds the bundle into out (replacing a previous bundle there) and returns its manifest."""
    repo = Path(repo)
    out = Path(out)
    dags_src, plugins_src = repo / "dags", repo / "plugins"
    if not dags_src.is_dir():
        raise BundleError(f"{dags_src} not found")
    if not (dags_src / ".airflowignore").is_file():
        raise BundleError(
            f"{dags_src / '.airflowignore'} not found: without it MWAA's DAG processor parses the "
            "shared package as DAG files"
        )
    _prepare_out(out, repo)

    dag_files = shippable_files(dags_src)
    plugin_files = shippable_files(plugins_src)
    problems: list[str] = []
    for root, files in ((dags_src, dag_files), (plugins_src, plugin_files)):
        for rel in files:
            if rel.endswith(".py"):
                path = root / rel
                problems += local_only_imports(path.relative_to(repo), path.read_bytes())
    if problems:
        raise BundleError(
            "these shipped files import modules that exist only locally (include/ or dev "
            "requirements), so they would not parse on MWAA:\n    " + "\n    ".join(problems)
        )
    requirements = check_requirements(repo / "requirements.txt")

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        manifest = Manifest(out=str(out))
        for rel in dag_files:
            target = staging / "dags" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            data = (dags_src / rel).read_bytes()
            target.write_bytes(data)
            manifest.dags.append(FileEntry(f"dags/{rel}", len(data), sha256_bytes(data)))
        (staging / "dags").mkdir(exist_ok=True)

        manifest.plugins_entries = deterministic_zip(plugins_src, staging / "plugins.zip")
        zipped = (staging / "plugins.zip").read_bytes()
        manifest.plugins_zip = FileEntry("plugins.zip", len(zipped), sha256_bytes(zipped))
        if not plugin_files:
            manifest.notes.append("plugins/ is empty: plugins.zip is an empty archive (valid for MWAA)")

        (staging / "requirements.txt").write_bytes(requirements)
        manifest.requirements = FileEntry("requirements.txt", len(requirements), sha256_bytes(requirements))
        manifest.startup_script = None
        manifest.notes.append(NO_STARTUP_SCRIPT)

        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest


def format_manifest(manifest: Manifest) -> str:
    lines = [
        f"MWAA bundle in {manifest.out}/ (Airflow {AIRFLOW_VERSION}, Python {PYTHON_VERSION})",
        (f"  dags/  -> s3://<bucket>/dags/  ({len(manifest.dags)} files, {sum(f.size for f in manifest.dags)} bytes)"),
    ]
    lines += [f"    {f.size:>8}  {f.path[len('dags/') :]}" for f in manifest.dags]
    for entry in (manifest.plugins_zip, manifest.requirements):
        assert entry is not None
        lines.append(f"  {entry.path:<17} {entry.size:>8} bytes  sha256 {entry.sha256}")
        if entry is manifest.plugins_zip:
            lines.append(f"    entries: {', '.join(manifest.plugins_entries) or '(none)'}")
    lines += [f"  {note}" for note in manifest.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: build/mwaa)")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.out)
    except BundleError as err:
        print(f"build_bundle: error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(manifest.as_dict(), indent=2) if args.json else format_manifest(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
