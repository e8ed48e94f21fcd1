"""DAG integrity: every top-level file in dags/ parses, defines DAGs, and each DAG follows the project's rules.

Rules (each a checker function returning a list of problems, so the checkers are themselves tested below against
a temporary dags folder holding deliberately bad files):

* the DagBag has no import errors (cycles and duplicate task ids are import errors), and each DAG file defines
  at least one DAG;
* every DAG has tags, an owner other than ``airflow`` on every task, a description, ``doc_md``, ``catchup=False``,
  an explicit ``max_active_runs``, no cycles, unique task ids, every teardown has a setup upstream, and no task
  emits an Asset its own DAG is scheduled on (each success would start the DAG again);
* every task retries (>= 1), except ``train``: a retry of it could only find its own training job
  (``action_if_job_exists="fail"``) - a re-run re-attaches through ``start_or_attach`` instead. That must be the
  only exception, and it must be explained in the task's doc or the docstring of the function that builds it;
* parsing is cheap: no DAG file imports a heavy module (sagemaker, numpy, PIL, ...) at top level - neither
  directly (checked statically over dags/) nor transitively (checked by importing each file in a child forked
  from a fresh interpreter that imported only the baseline, ``airflow.sdk`` plus the provider's SageMaker
  operators, and comparing ``sys.modules`` with it); the import time of each file is printed;
* product code never builds boto3 clients itself (dags/ and plugins/): it goes through the provider's hooks, so
  the connection's credentials and ``endpoint_url`` apply.

To tell "set explicitly" from "left at the default", DAGs are parsed with defaults that fail the checks: a
sentinel ``max_active_runs_per_dag``, ``catchup_by_default=True`` and ``default_task_retries=0``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from constants import REPO

DAGS_DIR = REPO / "dags"
PLUGINS_DIR = REPO / "plugins"

HEAVY_MODULES = (
    "sagemaker",
    "numpy",
    "PIL",
    "pandas",
    "sklearn",
    "torch",
    "moto",
    "aws_emulator",
    "local_datasets",
    "mlxtend",
)
# Not even the baseline may load these: the SDK is not a runtime dependency, the rest are test/dev tooling.
NEVER_IMPORTED = frozenset({"sagemaker", "moto", "aws_emulator", "local_datasets"})
BASELINE_IMPORTS = ("airflow.sdk", "airflow.providers.amazon.aws.operators.sagemaker")
BOTO3_FACTORIES = frozenset({"client", "resource", "Session"})

DEFAULT_OWNER = "airflow"
# Task ids allowed to run without retries; each needs a documented reason (see check_retries).
ZERO_RETRY_TASKS = frozenset({"train", "tune"})  # a re-run re-attaches to the job instead (start_or_attach*)
UNSET_MAX_ACTIVE_RUNS = 7919  # a prime nobody sets on purpose: seeing it means max_active_runs was not set
PARSE_ENV = {
    "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": str(UNSET_MAX_ACTIVE_RUNS),
    "AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT": "True",
    "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "0",
    "AIRFLOW__OPERATORS__DEFAULT_OWNER": DEFAULT_OWNER,
}
RESULT_MARKER = "@@IMPORT_PROBE@@"


# -- discovery ----------------------------------------------------------------------------------------------------
def dag_files(dags_dir: Path) -> list[Path]:
    """The files the DAG processor parses: the *.py at the top of dags/ (shared code is in an ignored package)."""
    return sorted(p for p in dags_dir.glob("*.py") if p.is_file() and not p.name.startswith("__"))


def python_files(*folders: Path) -> list[Path]:
    return sorted(
        p for folder in folders if folder.is_dir() for p in folder.rglob("*.py") if "__pycache__" not in p.parts
    )


DAG_FILES = dag_files(DAGS_DIR)


def _file_id(path: Path) -> str:
    return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name


def parse_dags(dags_dir: Path) -> Any:
    """A DagBag of ``dags_dir``, parsed with defaults that make every 'not set explicitly' visible."""
    from airflow.models import DagBag

    with pytest.MonkeyPatch.context() as mp:
        for key, value in PARSE_ENV.items():
            mp.setenv(key, value)
        return DagBag(str(dags_dir))


def dags_in_file(bag: Any, path: Path) -> list[Any]:
    return sorted(
        (dag for dag in bag.dags.values() if Path(dag.fileloc).resolve() == path.resolve()), key=lambda dag: dag.dag_id
    )


def import_errors_for(bag: Any, path: Path) -> dict[str, str]:
    return {file: err for file, err in bag.import_errors.items() if Path(file).resolve() == path.resolve()}


# -- per-DAG checkers: (dag, dags_dir) -> problems ------------------------------------------------------------------
def check_tags(dag: Any, dags_dir: Path) -> list[str]:
    return [] if dag.tags and all(str(tag).strip() for tag in dag.tags) else [f"{dag.dag_id}: no tags"]


def check_owner(dag: Any, dags_dir: Path) -> list[str]:
    bad = sorted(t.task_id for t in dag.tasks if (t.owner or "").strip().lower() in ("", DEFAULT_OWNER))
    return (
        [f"{dag.dag_id}: tasks owned by the default {DEFAULT_OWNER!r} (set default_args['owner']): {bad}"]
        if bad
        else []
    )


def _retry_rationales(task_id: str, dag_file: Path, dags_dir: Path) -> list[str]:
    """Docstrings of the functions that build ``task_id`` with a literal ``retries=0``, in the DAG's own file or the
    shared code below dags/ (not in other DAG files: this DAG cannot be using those)."""
    found: list[str] = []
    other_dag_files = {p.resolve() for p in dag_files(dags_dir)} - {dag_file.resolve()}
    for path in python_files(dags_dir):
        if path.resolve() in other_dag_files:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(func):
                if not isinstance(call, ast.Call):
                    continue
                kw = {k.arg: k.value for k in call.keywords if k.arg}
                if (
                    isinstance(kw.get("task_id"), ast.Constant)
                    and kw["task_id"].value == task_id
                    and isinstance(kw.get("retries"), ast.Constant)
                    and kw["retries"].value == 0
                ):
                    found.append(ast.get_docstring(func) or "")
    return found


def check_retries(dag: Any, dags_dir: Path) -> list[str]:
    problems = []
    for task in dag.tasks:
        retries = task.retries or 0
        if task.task_id not in ZERO_RETRY_TASKS:
            if retries < 1:
                problems.append(
                    f"{dag.dag_id}.{task.task_id}: retries={retries}, needs >= 1 (only "
                    f"{sorted(ZERO_RETRY_TASKS)} may have 0)"
                )
            continue
        if retries != 0:
            problems.append(
                f"{dag.dag_id}.{task.task_id}: retries={retries}, must be 0 (a retry only finds its "
                "own job; re-runs re-attach instead)"
            )
        docs = [getattr(task, attr, None) or "" for attr in ("doc_md", "doc", "doc_rst", "doc_json", "doc_yaml")]
        docs += _retry_rationales(task.task_id, Path(dag.fileloc), dags_dir)
        if not any("retr" in str(doc).lower() for doc in docs):
            problems.append(
                f"{dag.dag_id}.{task.task_id}: retries=0 is not explained in its doc or in the "
                "docstring of the function that builds it"
            )
    return problems


def check_doc_md(dag: Any, dags_dir: Path) -> list[str]:
    return [] if (dag.doc_md or "").strip() else [f"{dag.dag_id}: no doc_md"]


def check_description(dag: Any, dags_dir: Path) -> list[str]:
    return [] if (dag.description or "").strip() else [f"{dag.dag_id}: no description"]


def check_catchup(dag: Any, dags_dir: Path) -> list[str]:
    return [] if dag.catchup is False else [f"{dag.dag_id}: catchup={dag.catchup!r}, set catchup=False"]


def check_max_active_runs(dag: Any, dags_dir: Path) -> list[str]:
    value = dag.max_active_runs
    if value == UNSET_MAX_ACTIVE_RUNS:
        return [f"{dag.dag_id}: max_active_runs not set (left at the configured default)"]
    return [] if isinstance(value, int) and value >= 1 else [f"{dag.dag_id}: max_active_runs={value!r}"]


def check_no_cycles(dag: Any, dags_dir: Path) -> list[str]:
    problems = []
    checks: list[Callable[[], Any]] = [dag.check_cycle]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from airflow.utils.dag_cycle_tester import check_cycle as legacy_check_cycle
    except ImportError:
        pass
    else:
        checks.append(lambda: legacy_check_cycle(dag))
    for check in checks:
        try:
            check()
        except Exception as err:  # AirflowDagCycleException
            problems.append(f"{dag.dag_id}: {type(err).__name__}: {err}")
    return problems


def check_teardowns_have_setups(dag: Any, dags_dir: Path) -> list[str]:
    """A teardown guards a set-up - except a run-outcome watcher (sagemaker_mlops/run/outcome.py): set-up-less on
    purpose, it is the last task, after every other one, and its failure fails the run."""

    def watches_the_run(t: Any) -> bool:
        after_all = len(t.get_flat_relative_ids(upstream=True)) == len(dag.tasks) - 1
        return t.on_failure_fail_dagrun and not t.downstream_list and after_all

    bad = sorted(
        t.task_id
        for t in dag.tasks
        if t.is_teardown and not any(u.is_setup for u in t.upstream_list) and not watches_the_run(t)
    )
    return [f"{dag.dag_id}: teardowns without a setup upstream: {bad}"] if bad else []


def check_unique_task_ids(dag: Any, dags_dir: Path) -> list[str]:
    ids = [t.task_id for t in dag.tasks]
    dupes = sorted(task_id for task_id, n in Counter(ids).items() if n > 1)
    problems = [f"{dag.dag_id}: duplicate task ids {dupes}"] if dupes else []
    if set(ids) != set(dag.task_dict):
        problems.append(f"{dag.dag_id}: task_dict does not match its tasks")
    return problems


def scheduled_assets(dag: Any) -> set[str]:
    """The names of the Assets whose events start ``dag`` (an Asset schedule, or assets beside a cron), through
    any ``|``/``&`` of them."""
    names, stack = set(), [getattr(dag.timetable, "asset_condition", None)]
    while stack:
        condition = stack.pop()
        if hasattr(condition, "objects"):  # AssetAny / AssetAll
            stack.extend(condition.objects)
        elif condition is not None:
            names.add(condition.name)
    return names


def check_no_self_trigger(dag: Any, dags_dir: Path) -> list[str]:
    """A DAG never emits an Asset it schedules on: each success would start it again (pipeline 2's promotion is
    the champion Asset, not the model Asset it retrains on)."""
    loops = sorted(
        f"{t.task_id} -> {outlet.name}"
        for t in dag.tasks
        for outlet in t.outlets
        if getattr(outlet, "name", None) in scheduled_assets(dag)
    )
    return [f"{dag.dag_id}: emits Assets it is scheduled on (starts itself): {loops}"] if loops else []


DAG_CHECKS: dict[str, Callable[[Any, Path], list[str]]] = {
    "tags": check_tags,
    "owner": check_owner,
    "retries": check_retries,
    "doc_md": check_doc_md,
    "description": check_description,
    "catchup": check_catchup,
    "max_active_runs": check_max_active_runs,
    "no_cycles": check_no_cycles,
    "teardowns_have_setups": check_teardowns_have_setups,
    "unique_task_ids": check_unique_task_ids,
    "no_self_trigger": check_no_self_trigger,
}


def dag_problems(dag: Any, dags_dir: Path) -> dict[str, list[str]]:
    return {name: problems for name, check in DAG_CHECKS.items() if (problems := check(dag, dags_dir))}


# -- static checkers ------------------------------------------------------------------------------------------------
def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node run when the module is imported: module level and class bodies, not function bodies (nor
    ``if TYPE_CHECKING:`` blocks)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            # decorators and default values run at import; the body does not
            stack.extend(node.decorator_list if not isinstance(node, ast.Lambda) else [])
            stack.extend(d for d in node.args.defaults + node.args.kw_defaults if d is not None)
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def top_level_heavy_imports(path: Path) -> list[str]:
    """``line: module`` for each heavy module imported when ``path`` is imported (function-level imports are fine)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in _import_time_nodes(tree.body):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            names = [node.args[0].value]
        found += [f"{node.lineno}: {name}" for name in names if name.split(".")[0] in HEAVY_MODULES]
    return sorted(found, key=lambda s: int(s.split(":")[0]))


def boto3_factory_calls(path: Path) -> list[str]:
    """``line: code`` for each boto3 client/resource/Session built directly (anywhere in the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module_aliases = {"boto3"}
    factory_aliases: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            module_aliases |= {a.asname or a.name for a in node.names if a.name == "boto3"}
            module_aliases |= {a.asname for a in node.names if a.name == "boto3.session" and a.asname}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in ("boto3", "boto3.session"):
            for alias in node.names:
                if alias.name in BOTO3_FACTORIES:
                    factory_aliases.add(alias.asname or alias.name)
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                elif alias.name == "session":
                    module_aliases.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        direct = isinstance(func, ast.Name) and func.id in factory_aliases
        via_module = (
            isinstance(func, ast.Attribute)
            and func.attr in BOTO3_FACTORIES
            and ast.unparse(func.value).split(".")[0] in module_aliases
        )
        if direct or via_module:
            found.append(f"{node.lineno}: {ast.unparse(func)}(")
    return sorted(set(found), key=lambda s: (int(s.split(":")[0]), s))


# -- runtime import probe -------------------------------------------------------------------------------------------
# One interpreter imports the baseline, then forks once per DAG file: each child imports its file on top of exactly
# the baseline (as the DAG processor's parse does) and reports, without paying Airflow's import again per file.
PROBE = r"""
import importlib.abc, importlib.util, json, os, sys, time
marker, watch, targets = sys.argv[1], set(json.loads(sys.argv[2])), json.loads(sys.argv[3])
attempted = set()

class Recorder(importlib.abc.MetaPathFinder):
    # Notes every attempt to import a watched module, even one that fails (not installed, not on the path).
    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in watch:
            attempted.add(fullname.partition(".")[0])
        return None

def report(key, error, seconds, reparse_seconds=None):
    loaded = sorted(name for name in watch if name in sys.modules)
    print(marker + json.dumps({"key": key, "loaded": loaded, "attempted": sorted(attempted), "seconds": seconds,
                               "reparse_seconds": reparse_seconds, "error": error}), flush=True)

def load(target, name):
    spec = importlib.util.spec_from_file_location(name, target)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)

sys.meta_path.insert(0, Recorder())
error, start = None, time.perf_counter()
try:
    for name in json.loads(sys.argv[4]):
        importlib.import_module(name)
except BaseException as err:
    error = f"{type(err).__name__}: {err}"
report("", error, time.perf_counter() - start)
for target in targets:
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        continue
    error, reparse_seconds, start = None, None, time.perf_counter()
    try:
        load(target, "dag_file_under_test")
    except BaseException as err:
        error = f"{type(err).__name__}: {err}"
    seconds = time.perf_counter() - start
    if error is None:  # again, with everything it imports cached: the cost of building the DAGs alone
        start = time.perf_counter()
        load(target, "dag_file_under_test_again")
        reparse_seconds = time.perf_counter() - start
    report(target, error, seconds, reparse_seconds)
    os._exit(0)
"""


def probe_imports(dags_dir: Path, dag_files: list[Path]) -> dict[str, dict[str, Any]]:
    """The baseline modules imported in a fresh interpreter (key ``""``), then each of ``dag_files`` on top of
    them in a forked child (key: the file's path): the heavy modules each one loaded or tried to."""
    env = {**os.environ, **PARSE_ENV, "PYTHONPATH": str(dags_dir), "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir)}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            RESULT_MARKER,
            json.dumps(HEAVY_MODULES),
            json.dumps([str(path) for path in dag_files]),
            json.dumps(BASELINE_IMPORTS),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(dags_dir.parent),
        timeout=300,
    )
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER) :])
            results[result.pop("key")] = result
    expected = {"", *map(str, dag_files)}
    assert proc.returncode == 0 and set(results) == expected, (
        f"import probe failed ({proc.returncode}), results for {sorted(results)}:\n{proc.stdout}\n{proc.stderr}"
    )
    return results


def heavy_import_problems(result: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    problems = []
    if result["error"]:
        problems.append(f"import failed: {result['error']}")
    added = sorted(set(result["loaded"]) - set(baseline["loaded"]))
    if added:
        problems.append(f"loads heavy modules the baseline does not: {added}")
    never = sorted(NEVER_IMPORTED & (set(result["loaded"]) | set(result["attempted"]) - set(baseline["attempted"])))
    if never:
        problems.append(f"imports (or tries to) modules that must never be imported: {never}")
    return problems


@pytest.fixture(scope="module")
def dagbag(airflow_db: Path) -> Any:
    return parse_dags(DAGS_DIR)


@pytest.fixture(scope="module")
def import_probe() -> dict[str, dict[str, Any]]:
    results = probe_imports(DAGS_DIR, DAG_FILES)
    assert results[""]["error"] is None, results[""]
    return results


@pytest.fixture(scope="module")
def import_baseline(import_probe: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return import_probe[""]


# -- the project's DAGs ---------------------------------------------------------------------------------------------
def test_dags_folder_has_dag_files() -> None:
    assert DAG_FILES, f"no DAG files in {DAGS_DIR}"


def test_dagbag_has_no_import_errors(dagbag: Any) -> None:
    assert not dagbag.import_errors, "\n".join(f"{f}:\n{e}" for f, e in dagbag.import_errors.items())
    parsed = {Path(f).resolve() for f in dagbag.file_last_changed}
    assert parsed <= {p.resolve() for p in DAG_FILES}, (
        "the DAG processor parses files outside the top of dags/ "
        f"(is dags/.airflowignore still excluding shared code?): {sorted(map(str, parsed))}"
    )


@pytest.mark.parametrize("path", DAG_FILES, ids=_file_id)
def test_dag_file_defines_a_dag(dagbag: Any, path: Path) -> None:
    assert not import_errors_for(dagbag, path)
    assert dags_in_file(dagbag, path), f"{path.name} defines no DAG"


@pytest.mark.parametrize(
    ("path", "check"), [pytest.param(path, name, id=f"{path.name}-{name}") for path in DAG_FILES for name in DAG_CHECKS]
)
def test_dag_rules(dagbag: Any, path: Path, check: str) -> None:
    dags = dags_in_file(dagbag, path)
    assert dags, f"{path.name} defines no DAG"
    problems = [problem for dag in dags for problem in DAG_CHECKS[check](dag, DAGS_DIR)]
    assert not problems, "\n".join(problems)


def test_train_is_the_only_task_without_retries(dagbag: Any) -> None:
    """The exception list is exactly what the DAGs use: no stale entries, no others (check_retries has the rest)."""
    zero = {t.task_id for dag in dagbag.dags.values() for t in dag.tasks if not t.retries}
    assert zero <= ZERO_RETRY_TASKS, zero
    assert "train" in zero, "no DAG has a 'train' task with retries=0 any more: update ZERO_RETRY_TASKS"


@pytest.mark.parametrize("path", DAG_FILES, ids=_file_id)
def test_dag_file_imports_no_heavy_modules(
    path: Path,
    import_probe: dict[str, dict[str, Any]],
    import_baseline: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = import_probe[str(path)]
    with capsys.disabled():
        reparse = "n/a" if result["reparse_seconds"] is None else f"{result['reparse_seconds']:.3f} s"
        print(
            f"\n[import time] {path.name}: {result['seconds']:.3f} s on top of the baseline, re-import {reparse} "
            f"(baseline {' + '.join(BASELINE_IMPORTS)} in a fresh interpreter: {import_baseline['seconds']:.3f} s)"
        )
    assert not (NEVER_IMPORTED & set(import_baseline["loaded"])), import_baseline
    problems = heavy_import_problems(result, import_baseline)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", python_files(DAGS_DIR), ids=_file_id)
def test_no_top_level_heavy_imports(path: Path) -> None:
    found = top_level_heavy_imports(path)
    assert not found, f"{_file_id(path)} imports heavy modules at import time (move them into the task): {found}"


@pytest.mark.parametrize("path", python_files(DAGS_DIR, PLUGINS_DIR), ids=_file_id)
def test_no_direct_boto3_clients(path: Path) -> None:
    found = boto3_factory_calls(path)
    assert not found, f"{_file_id(path)} builds boto3 clients itself (use the provider's hooks): {found}"


# -- the checkers catch what they should: a temporary dags folder with bad files -------------------------------------
GOOD_DAG = '''
"""### Good
A DAG that follows every rule."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, setup, task

if TYPE_CHECKING:
    import pandas


def train_operator():
    """Builds train: no retries, a retry would only find its own job."""
    return EmptyOperator(task_id="train", retries=0)


with DAG(dag_id="good", description="good", doc_md=__doc__, schedule=None, start_date=datetime(2026, 1, 1),
         catchup=False, max_active_runs=1, tags=["test"],
         default_args={"owner": "ml-platform", "retries": 1, "retry_delay": timedelta(seconds=1)}) as dag:
    @setup
    @task
    def create():
        import numpy  # function level: fine

    @task
    def delete():
        pass

    created = create()
    created >> train_operator() >> delete().as_teardown(setups=created)
'''

BAD_DAG = """
from __future__ import annotations

from datetime import datetime

import numpy
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, task, teardown

try:
    import aws_emulator
except ImportError:
    pass

with DAG(dag_id="bad", schedule=Asset("bad.model"), start_date=datetime(2026, 1, 1)) as dag:
    @teardown
    @task
    def orphan_teardown():
        pass

    EmptyOperator(task_id="train") >> EmptyOperator(task_id="other", retries=0) >> orphan_teardown()
    EmptyOperator(task_id="publish", outlets=[Asset("bad.model"), Asset("bad.other")])
"""

BAD_TRAIN_DAG = """
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="bad_train", description="d", doc_md="d", schedule=None, start_date=datetime(2026, 1, 1),
         catchup=False, max_active_runs=1, tags=["t"], default_args={"owner": "me", "retries": 3}):
    EmptyOperator(task_id="train")
"""

CYCLIC_DAG = """
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="cyclic", schedule=None, start_date=datetime(2026, 1, 1)):
    a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
    a >> b >> a
"""

DUPLICATE_IDS_DAG = """
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="duplicate_ids", schedule=None, start_date=datetime(2026, 1, 1)):
    EmptyOperator(task_id="same")
    EmptyOperator(task_id="same")
"""

NOT_A_DAG = '''
"""Mentions airflow and a dag, so the DagBag parses it, but defines none."""
from airflow.sdk import task
'''

BOTO3_PLUGIN = '''
"""Docstrings may say boto3.client("s3") freely."""
import boto3
import boto3 as b3
from boto3 import Session as BotoSession


def clients():
    return boto3.client("s3"), b3.resource("s3"), boto3.session.Session(), BotoSession()
'''


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("integrity")
    files = {
        "dags/good.py": GOOD_DAG,
        "dags/bad.py": BAD_DAG,
        "dags/bad_train.py": BAD_TRAIN_DAG,
        "dags/cyclic.py": CYCLIC_DAG,
        "dags/duplicate_ids.py": DUPLICATE_IDS_DAG,
        "dags/not_a_dag.py": NOT_A_DAG,
        "plugins/boto3_plugin.py": BOTO3_PLUGIN,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def bad_bag(airflow_db: Path, bad_folder: Path) -> Any:
    return parse_dags(bad_folder / "dags")


def test_checkers_see_import_errors_and_files_without_dags(bad_bag: Any, bad_folder: Path) -> None:
    dags = bad_folder / "dags"
    assert [p.name for p in dag_files(dags)] == [
        "bad.py",
        "bad_train.py",
        "cyclic.py",
        "duplicate_ids.py",
        "good.py",
        "not_a_dag.py",
    ]
    assert "Cycle detected" in "".join(import_errors_for(bad_bag, dags / "cyclic.py").values())
    assert "same" in "".join(import_errors_for(bad_bag, dags / "duplicate_ids.py").values())
    assert not dags_in_file(bad_bag, dags / "not_a_dag.py")
    assert [d.dag_id for d in dags_in_file(bad_bag, dags / "good.py")] == ["good"]


def test_checkers_pass_a_good_dag(bad_bag: Any, bad_folder: Path) -> None:
    assert dag_problems(bad_bag.get_dag("good"), bad_folder / "dags") == {}


def test_checkers_flag_every_rule_a_bad_dag_breaks(bad_bag: Any, bad_folder: Path) -> None:
    problems = dag_problems(bad_bag.get_dag("bad"), bad_folder / "dags")
    assert set(problems) == {
        "tags",
        "owner",
        "retries",
        "doc_md",
        "description",
        "catchup",
        "max_active_runs",
        "teardowns_have_setups",
        "no_self_trigger",
    }, problems
    assert problems["no_self_trigger"] == [
        "bad: emits Assets it is scheduled on (starts itself): ['publish -> bad.model']"
    ]
    retries = "\n".join(problems["retries"])
    assert "bad.other: retries=0" in retries and "bad.orphan_teardown: retries=0" in retries
    assert "bad.train: retries=0 is not explained" in retries


def test_train_with_retries_is_flagged(bad_bag: Any, bad_folder: Path) -> None:
    problems = dag_problems(bad_bag.get_dag("bad_train"), bad_folder / "dags")
    assert list(problems) == ["retries"] and "retries=3, must be 0" in problems["retries"][0], problems


def test_cycle_and_duplicate_checkers_on_in_memory_dags(bad_folder: Path) -> None:
    from datetime import datetime

    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    with DAG(dag_id="cycle_in_memory", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> b >> a
    assert check_no_cycles(dag, bad_folder) and "Cycle detected" in check_no_cycles(dag, bad_folder)[0]
    stub = SimpleNamespace(
        dag_id="stub", tasks=[SimpleNamespace(task_id="x"), SimpleNamespace(task_id="x")], task_dict={"x": None}
    )
    assert check_unique_task_ids(stub, bad_folder) == ["stub: duplicate task ids ['x']"]


def test_static_heavy_import_checker(bad_folder: Path) -> None:
    assert top_level_heavy_imports(bad_folder / "dags" / "bad.py") == ["5: numpy", "10: aws_emulator"]
    assert top_level_heavy_imports(bad_folder / "dags" / "good.py") == []  # TYPE_CHECKING and function level


def test_boto3_checker(bad_folder: Path) -> None:
    assert boto3_factory_calls(bad_folder / "plugins" / "boto3_plugin.py") == [
        "4: from boto3 import Session",
        "8: BotoSession(",
        "8: b3.resource(",
        "8: boto3.client(",
        "8: boto3.session.Session(",
    ]
    assert boto3_factory_calls(bad_folder / "dags" / "good.py") == []


@pytest.mark.e2e  # the checker's own test, one more interpreter; the DAG files' check stays in the fast loop
def test_runtime_heavy_import_checker(bad_folder: Path, import_baseline: dict[str, Any]) -> None:
    dags = bad_folder / "dags"
    # bad.py first: what it loads must not leak into the next file's result (each child starts from the baseline)
    results = probe_imports(dags, [dags / "bad.py", dags / "good.py", dags / "missing.py"])
    bad, good, failing = (results[str(dags / name)] for name in ("bad.py", "good.py", "missing.py"))
    assert bad["error"] is None and "numpy" in bad["loaded"] and "aws_emulator" in bad["attempted"], bad
    problems = heavy_import_problems(bad, import_baseline)
    assert any("['numpy']" in p for p in problems) and any("['aws_emulator']" in p for p in problems), problems
    assert heavy_import_problems(good, import_baseline) == [], good
    assert any(p.startswith("import failed") for p in heavy_import_problems(failing, import_baseline))
