"""The docs stay true: every name README.md and docs/*.md give in backticks exists in the code, and the
configuration reference lists every Param, Variable and environment variable the code reads.

How a name in backticks is recognised (the docs' markup convention, see docs/contributing.md):

* ``make X ...`` - X is a Makefile target (also in fenced shell blocks);
* ``sagemaker_mlops_*`` - an Airflow Variable the DAGs read (or the reaper's DAG id);
* ``mnist_*`` - a DAG id;
* ``UPPER_CASE`` with an underscore - an environment variable (or constant) named in the code, Makefile, compose;
* a path whose first part is a top-level entry of the repository (``dags/``, ``include/``, ``tests/``, ...) - it
  exists (``file::test_name``: the test is defined there); generated folders (``build/``, ``.local/``, ``.venv*``)
  must be named by the code that makes them;
* another ``snake_case`` name - a task id, Param, Variable or DAG id, or else a word the code contains.

The Param tables of docs/configuration.md are generated from the DAGs (``python tests/test_docs.py`` prints them)
and must equal what the DAGs declare.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from constants import REPO

DAGS_DIR = REPO / "dags"
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CONFIGURATION = REPO / "docs" / "configuration.md"
GENERATED_DIRS = (".local", "build", ".venv", ".venv-sdk", ".venv-tools", ".pytest_cache")
PARAMS_BEGIN = "<!-- params:begin (generated: python tests/test_docs.py) -->"
PARAMS_END = "<!-- params:end -->"
VARIABLE_PREFIX = "sagemaker_mlops_"

INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
MAKE = re.compile(r"(?:^|[\s;&|(])make\s+((?:[A-Z_]+=\S*\s+)*)([a-z][\w-]*)")
ENV_NAME = re.compile(r"^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=.*)?$")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
PATH = re.compile(r"^[\w.-]+(?:/[\w.*-]*)+(?:::\w+)?$")
FILE_SUFFIXES = (".py", ".sh", ".yaml", ".yml", ".toml", ".txt", ".cfg")
# UPPER_CASE names checked as environment variables; others (CAPABILITY_IAM, CREATE_COMPLETE) are AWS's words.
ENV_PREFIXES = ("AIRFLOW_", "SAGEMAKER_MLOPS_", "AWS_", "UV_", "PYTHON")
ENV_SUFFIXES = ("_PORT", "_ARGS", "_SECONDS", "_DIR", "_CRON", "_PATH")
# Pages other branches write (layout, AWS's limits): a link to them may lead nowhere until they are merged.
PENDING_PAGES = {"docs/architecture.md"}


# -- what the code has ----------------------------------------------------------------------------------------------


@cache
def dagbag() -> Any:
    """The project's DAGs, parsed once per process (cheap: no DAG file imports anything heavy)."""
    from airflow.models import DagBag

    bag = DagBag(str(DAGS_DIR))
    assert not bag.import_errors, bag.import_errors
    return bag


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([a-z][\w-]*)\s*:(?!=)", text, re.MULTILINE)}


def _python_files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from (p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def variables_read(root: Path = DAGS_DIR) -> set[str]:
    """Every Airflow Variable name the DAG code reads, by an AST scan: ``Variable.get("x")``, constants named
    ``*VARIABLE*``, ``*_variable`` arguments and defaults, ``f"{PREFIX}name"`` and ``_pick(params, "name", ...)``
    (Param ``name`` falls back to Variable ``sagemaker_mlops_<name>``)."""
    trees = [ast.parse(p.read_text(), str(p)) for p in _python_files(root)]
    prefixes = {
        _name(t)
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and _str(node.value) == VARIABLE_PREFIX
        for t in node.targets
    }
    found: set[str] = set()

    def add(value: str | None) -> None:
        if value and re.fullmatch(rf"{VARIABLE_PREFIX}[a-z0-9_]+", value):
            found.add(value)

    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = _name(node.func)
                if func in ("get", "variable") and node.args:
                    add(_str(node.args[0]))
                if func == "_pick" and len(node.args) >= 3 and _str(node.args[1]):
                    add(VARIABLE_PREFIX + _str(node.args[1]))  # type: ignore[operator]
                for keyword in node.keywords:
                    if keyword.arg and "variable" in keyword.arg:
                        add(_str(keyword.value))
            elif isinstance(node, ast.Assign):
                if any("VARIABLE" in _name(t) for t in node.targets):
                    add(_str(node.value))
            elif isinstance(node, ast.arguments):
                positional = node.posonlyargs + node.args
                pairs = list(zip(positional[len(positional) - len(node.defaults) :], node.defaults, strict=True))
                pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True) if d is not None]
                for arg, default in pairs:
                    if "variable" in arg.arg:
                        add(_str(default))
            elif isinstance(node, ast.JoinedStr):
                for head, tail in zip(node.values, node.values[1:], strict=False):
                    if isinstance(head, ast.FormattedValue) and _name(head.value) in prefixes and _str(tail):
                        word = re.match(r"[a-z0-9_]*[a-z0-9]", _str(tail) or "")
                        if word:
                            add(VARIABLE_PREFIX + word.group(0))
    return found


def env_vars_read(*roots: Path) -> set[str]:
    """Environment variables the given code reads: ``os.environ.get("X")``, ``os.environ["X"]``, ``os.getenv``."""
    found: set[str] = set()
    for path in _python_files(*roots):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and node.args and _str(node.args[0]):
                if (_name(node.func) == "get" and _name(getattr(node.func, "value", None) or node) == "environ") or (
                    _name(node.func) == "getenv"
                ):
                    found.add(_str(node.args[0]))  # type: ignore[arg-type]
            elif isinstance(node, ast.Subscript) and _name(node.value) == "environ" and _str(node.slice):
                found.add(_str(node.slice))  # type: ignore[arg-type]
    return {name for name in found if name.isupper()}


@cache
def code_text() -> str:
    """Everything that can name an environment variable, a generated path or an internal word."""
    files = [REPO / name for name in ("Makefile", "docker-compose.yaml", ".env.example", "pyproject.toml")]
    for root in ("dags", "plugins", "include", "tests", ".ci"):
        files += [
            path
            for path in (REPO / root).rglob("*")
            if path.is_file()
            and path.suffix in (".py", ".sh", ".yaml", ".Dockerfile", "")
            and path.stat().st_size < 2e6
            and "__pycache__" not in path.parts
            and path.name != "test_docs.py"  # its own examples of missing names must not count
        ]
    return "\n".join(path.read_text(errors="replace") for path in files)


@cache
def code_words() -> frozenset[str]:
    return frozenset(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code_text()))


@cache
def known_names() -> dict[str, set[str]]:
    bag = dagbag()
    return {
        "dag": set(bag.dag_ids),
        "task": {t.task_id for dag in bag.dags.values() for t in dag.tasks},
        "param": {name for dag in bag.dags.values() for name in dag.params},
        "variable": variables_read(),
    }


# -- the Param tables of docs/configuration.md ----------------------------------------------------------------------


def _cell(text: Any) -> str:
    """A table cell: no line breaks, ``|`` escaped, ``<job>`` shown rather than taken for an HTML tag."""
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ").strip()


def render_param_tables() -> str:
    """One table per DAG: every Param with its form section, default and meaning, as the DAG declares them."""
    out = []
    for dag_id in sorted(dagbag().dag_ids):
        dag = dagbag().dags[dag_id]
        out += [f"### `{dag_id}`", "", "| Param | Form section | Default | Meaning |", "|---|---|---|---|"]
        for name in dag.params:
            param = dag.params.get_param(name)
            schema = param.schema
            default = param.value if param.has_value else None
            shown = "empty" if default in (None, "") else f"`{json.dumps(default)}`"
            meaning = schema.get("title") or ""
            if param.description:
                meaning = f"{meaning}: {param.description}" if meaning else param.description
            limits = [f"{k} {schema[k]}" for k in ("minimum", "maximum") if k in schema]
            if schema.get("enum"):
                limits.append("one of " + ", ".join(str(v) for v in schema["enum"]))
            if limits:
                meaning += f" ({'; '.join(limits)})"
            section = schema.get("section") or "(top of the form)"
            out.append(f"| `{name}` | {_cell(section)} | {_cell(shown)} | {_cell(meaning)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# -- what the docs name ---------------------------------------------------------------------------------------------


def doc_names(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line, text, in a fenced block) for every inline code span, and every line of a fenced block."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            yield number, line, True
        else:
            for match in INLINE.finditer(line):
                yield number, match.group(1).strip(), False


def problem(name: str) -> str | None:
    """Why a name in backticks does not exist in the code, or None."""
    known = known_names()
    if name.startswith("make "):
        match = MAKE.match(name)
        if match and match.group(2) not in make_targets():
            return f"make target {match.group(2)!r} is not in the Makefile"
        return None
    if re.fullmatch(r"sagemaker_mlops_[a-z0-9_]+", name):
        ok = name in known["variable"] or name in known["dag"]
        return None if ok else f"Variable {name!r} is read nowhere in dags/"
    if re.fullmatch(r"mnist_[a-z0-9_]+", name):
        return None if name in known["dag"] else f"DAG id {name!r} does not exist"
    env = ENV_NAME.match(name)
    if env and (env.group(1).startswith(ENV_PREFIXES) or env.group(1).endswith(ENV_SUFFIXES)):
        found = env.group(1) in code_words()
        return None if found else f"environment variable {env.group(1)!r} is named nowhere in the code"
    if PATH.match(name) and name.split("/")[0] in {p.name for p in REPO.iterdir()} | set(GENERATED_DIRS):
        return path_problem(name)
    if "/" not in name and name.endswith(FILE_SUFFIXES) and re.fullmatch(r"[\w.-]+", name):
        exists = (REPO / name).exists() or any(REPO.glob(f"[!.]*/**/{name}"))
        return None if exists else f"file {name!r} exists nowhere in the repository"
    if SNAKE.match(name):
        if any(name in names for names in known.values()) or name in code_words():
            return None
        return f"{name!r} is no task id, Param, Variable or DAG id, and the code does not contain it"
    return None


def path_problem(name: str) -> str | None:
    file, _, test = name.partition("::")
    if file.split("/")[0] in GENERATED_DIRS:
        stem = file.rstrip("/")
        return None if stem in code_text() else f"generated path {file!r} is made by nothing in the code"
    matches = list(REPO.glob(file.rstrip("/"))) if "*" in file else [REPO / file.rstrip("/")]
    if not any(p.exists() for p in matches):
        return f"path {file!r} does not exist"
    if test and not re.search(rf"^\s*(?:async\s+)?def {re.escape(test)}\(", (REPO / file).read_text(), re.MULTILINE):
        return f"test {test!r} is not defined in {file}"
    return None


def fenced_problems(line: str) -> Iterator[str]:
    for match in MAKE.finditer(line):
        if match.group(2) not in make_targets():
            yield f"make target {match.group(2)!r} is not in the Makefile"
    for token in re.findall(r"(?<![\w/$.{-])((?:include|dags|tests|plugins|docs)/[\w./-]+)", line):
        if not (REPO / token.rstrip("/.")).exists():
            yield f"path {token!r} does not exist"


# -- the tests ------------------------------------------------------------------------------------------------------


def test_the_docs_exist_and_the_readme_stays_short() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 300, "README.md is the five-minute read: move detail to docs/"
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)", readme))
    missing = [p.relative_to(REPO).as_posix() for p in DOCS[1:] if p.relative_to(REPO).as_posix() not in linked]
    assert not missing, f"README.md links no {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_name_in_the_docs_exists_in_the_code(doc: Path) -> None:
    where = doc.relative_to(REPO).as_posix()
    problems = []
    for line, text, fenced in doc_names(doc):
        found = list(fenced_problems(text)) if fenced else [p for p in [problem(text)] if p]
        problems += [f"{where}:{line}: {p}" for p in found]
    assert not problems, "names in the docs that the code does not have:\n" + "\n".join(problems)


def test_every_relative_link_in_the_docs_resolves() -> None:
    problems = []
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", line):
                resolved = (doc.parent / target).resolve()
                pending = resolved.relative_to(REPO).as_posix() in PENDING_PAGES if resolved.is_relative_to(REPO) else 0
                if "://" not in target and not resolved.exists() and not pending:
                    problems.append(f"{doc.relative_to(REPO).as_posix()}:{number}: link {target!r} leads nowhere")
    assert not problems, "\n".join(problems)


def test_the_configuration_reference_names_every_param_variable_and_environment_variable() -> None:
    text = CONFIGURATION.read_text()
    named = {m.group(1) for m in INLINE.finditer(text)}
    wanted = {
        "Param": known_names()["param"],
        "Variable": known_names()["variable"],
        "environment variable": env_vars_read(DAGS_DIR, REPO / "plugins"),
    }
    missing = [f"{kind} {name}" for kind, names in wanted.items() for name in sorted(names) if name not in named]
    assert not missing, f"docs/configuration.md does not describe: {missing}"


def test_the_param_tables_are_the_dags_own() -> None:
    text = CONFIGURATION.read_text()
    assert PARAMS_BEGIN in text and PARAMS_END in text, f"docs/configuration.md lost its {PARAMS_BEGIN} markers"
    shown = text.split(PARAMS_BEGIN, 1)[1].split(PARAMS_END, 1)[0].strip() + "\n"
    assert shown == render_param_tables(), (
        "docs/configuration.md's Param tables differ from the DAGs: regenerate them with "
        "`PYTHONPATH=dags:plugins:include .venv/bin/python tests/test_docs.py` (it rewrites them in place)"
    )


def test_the_task_lists_of_docs_pipelines_are_complete() -> None:
    """docs/pipelines.md lists every DAG's tasks on a line ``- `dag_id`: `task`, ...``: exactly the DAG's."""
    lines = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^- `([a-z_]+)`: (.*)$", (REPO / "docs" / "pipelines.md").read_text(), re.MULTILINE)
    }
    problems = []
    for dag_id, dag in sorted(dagbag().dags.items()):
        listed = set(INLINE.findall(lines.get(dag_id, "")))
        actual = {task.task_id for task in dag.tasks}
        if listed != actual:
            problems.append(f"{dag_id}: missing {sorted(actual - listed)}, not in the DAG {sorted(listed - actual)}")
    assert not problems, "docs/pipelines.md's task lists differ from the DAGs:\n" + "\n".join(problems)


def test_the_scans_find_what_they_look_for() -> None:
    """The scans themselves: a known Variable, the reaper's, a prefixed one and an env var are all found."""
    variables = variables_read()
    assert {"sagemaker_mlops_bucket", "sagemaker_mlops_reaper_dry_run", "sagemaker_mlops_region"} <= variables
    assert "SAGEMAKER_MLOPS_POLL_SECONDS" in env_vars_read(DAGS_DIR)
    assert problem("make no-such-target") and problem("sagemaker_mlops_no_such")
    assert problem("include/no/such.py") and problem("tests/test_docs.py::no_such_test")
    assert problem("mnist_no_such_dag") and problem("AIRFLOW_NO_SUCH_ENV_VARIABLE")
    assert not problem("make test") and not problem("tests/test_docs.py::test_the_scans_find_what_they_look_for")


def write_param_tables() -> None:
    """Regenerate docs/configuration.md's Param tables in place, between the markers."""
    text = CONFIGURATION.read_text()
    head, rest = text.split(PARAMS_BEGIN, 1)
    tail = rest.split(PARAMS_END, 1)[1]
    CONFIGURATION.write_text(f"{head}{PARAMS_BEGIN}\n\n{render_param_tables()}\n{PARAMS_END}{tail}")


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    write_param_tables()
