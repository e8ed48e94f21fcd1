"""The import graph of dags/ and include/: no cycles, the layering of docs/architecture.md, no emulator in DAG code.

Every module is parsed (not imported), and every import counts — top-level, inside a function, relative or
absolute, ``from x import y`` where ``y`` is a module — so a lazy import cannot hide an arrow that points the
wrong way. The rooms and what each may import are read from the table in docs/architecture.md, so the page and
this test cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = REPO / "docs" / "architecture.md"
PACKAGE_ROOTS = {  # importable packages: module name = dotted path below the root
    "sagemaker_mlops": REPO / "dags",
    "aws_emulator": REPO / "include",
    "local_datasets": REPO / "include",
}
SCRIPT_DIRS = {  # directories of scripts that import their siblings by bare name
    "dags": REPO / "dags",  # the DAG files
    "dev": REPO / "include" / "dev",
    "mwaa": REPO / "include" / "mwaa",
    "sdk_oracle": REPO / "include" / "sdk_oracle",
    "plugins": REPO / "plugins",
}


def layering(text: str) -> dict[str, set[str]]:
    """Room -> the rooms it may import, from the architecture page's table (rows ``| `room` | ... | `a`, `b` |``;
    ``*`` is every package of sagemaker_mlops)."""
    rules: dict[str, set[str]] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and (room := re.fullmatch(r"`([\w*]+)`", cells[0])):
            rules[room.group(1)] = set(re.findall(r"`([\w*]+)`", cells[2]))
    packages = {room for room in rules if (PACKAGE_ROOTS["sagemaker_mlops"] / "sagemaker_mlops" / room).is_dir()}
    return {room: (allowed - {"*"}) | (packages if "*" in allowed else set()) for room, allowed in rules.items()}


def modules() -> dict[str, Path]:
    """Every module: ``sagemaker_mlops.training.job``, ``aws_emulator.sagemaker.models``, ``dev:local_stack``."""
    found: dict[str, Path] = {}
    for top, root in PACKAGE_ROOTS.items():
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for group, folder in SCRIPT_DIRS.items():
        for path in sorted(folder.glob("*.py")):
            found[f"{group}:{path.stem}"] = path
    return found


def room_of(module: str) -> str:
    """The room a module lives in: a sagemaker_mlops package (``training``), a top package, or a script dir."""
    if ":" in module:
        return module.split(":")[0]
    parts = module.split(".")
    if parts[0] == "sagemaker_mlops":
        return parts[1] if len(parts) > 1 else "sagemaker_mlops"
    return parts[0]


def imports_of(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported module of the project, line) for every import statement anywhere in the module."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    group = module.split(":")[0] if ":" in module else None

    def resolve(name: str) -> str | None:
        if group and f"{group}:{name.split('.')[0]}" in known:  # a script's sibling
            return f"{group}:{name.split('.')[0]}"
        while name and name not in known:  # `from a.b import c`, where c is a function: the module a.b
            name = name.rpartition(".")[0]
        return name or None

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if target := resolve(alias.name):
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # `from pkg import module` imports the module itself
                if (target := resolve(f"{source}.{alias.name}")) is not None:
                    yield target, node.lineno


def graph() -> dict[str, dict[str, int]]:
    known = modules()
    edges: dict[str, dict[str, int]] = {}
    for module, path in known.items():
        edges[module] = {}
        for target, line in imports_of(module, path, known):
            if target != module and not (module.startswith(f"{target}.") and target in PACKAGE_ROOTS):
                edges[module].setdefault(target, line)
    return edges


def find_cycle(edges: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle as a path (``a -> b -> a``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, {})):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


@pytest.fixture(scope="module")
def edges() -> dict[str, dict[str, int]]:
    return graph()


def test_no_import_cycle(edges: dict[str, dict[str, int]]) -> None:
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_follow_the_architecture_table(edges: dict[str, dict[str, int]]) -> None:
    rules = layering(ARCHITECTURE.read_text())
    assert {"core", "run", "dags", "aws_emulator"} <= set(rules), "docs/architecture.md lost its layering table"
    wrong = []
    for module, targets in edges.items():
        room = room_of(module)
        if room == "sagemaker_mlops":  # the package's own __init__: a docstring, importing nothing
            wrong += [f"{module} imports {target}" for target in targets]
            continue
        assert room in rules, f"{module}: room {room!r} is not in docs/architecture.md's table"
        for target, line in targets.items():
            if room_of(target) != room and room_of(target) not in rules[room]:
                wrong.append(f"{modules()[module].relative_to(REPO)}:{line}: {room} may not import {room_of(target)}")
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(wrong)


def test_dag_code_never_imports_the_emulator(edges: dict[str, dict[str, int]]) -> None:
    dag_code = [m for m in edges if m.startswith(("sagemaker_mlops", "dags:", "plugins:"))]
    assert dag_code, "no DAG modules found"
    offenders = [f"{m} -> {t}" for m in dag_code for t in edges[m] if t.startswith("aws_emulator")]
    assert not offenders, offenders


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The graph builder itself: a lazy absolute import and a relative one both become arrows, so a cycle made
    of them is found (a checker that missed them could never fail)."""
    (tmp_path / "a.py").write_text("def f():\n    from pkg.b import g\n")
    (tmp_path / "b.py").write_text("from . import a\n")
    known = {"pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py"}
    found = {m: dict(imports_of(m, p, known)) for m, p in known.items()}
    assert set(found["pkg.a"]) == {"pkg.b"} and set(found["pkg.b"]) == {"pkg.a"}
    assert find_cycle(found) == ["pkg.a", "pkg.b", "pkg.a"]
