"""Benchmark: each DAG file's parse time against an empty DAG that imports the provider's SageMaker/S3 operators.

Why: MWAA's dag-processor parses every DAG file every ~30 s on small workers, so a DAG file may cost at most
1.25x what an empty DAG using the same provider costs (issue 18). Each sample is a fresh interpreter that loads one
file as the dag-processor does: import what it imports, build its DAGs and serialize them, as the processor does
before it stores them (``--no-serialize`` stops after the build). It is timed inside the child, so interpreter
start-up is not counted, in CPU seconds by default (steady when other processes share the cores; ``--clock wall``
for elapsed). The files run round-robin (baseline, every DAG file, again...) so a busy machine slows them alike;
the median of ``--runs`` samples is compared with the baseline's median.

Run: ``make bench-parse`` or ``PYTHONPATH=dags:plugins:include .venv/bin/python include/dev/bench_parse.py
[--runs 5] [--no-serialize] [--clock cpu|wall] [--check]``; ``--check`` exits 1 when a DAG file is over the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench_table import format_table

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
LIMIT = 1.25
BASELINE = "baseline (empty provider DAG)"
MARKER = "@@BENCH_PARSE@@"

# The reference: what any DAG that uses the provider's SageMaker and S3 operators and hooks pays.
EMPTY_PROVIDER_DAG = '''"""An empty DAG importing the provider's SageMaker/S3 operators and hooks."""
from datetime import datetime

from airflow.providers.amazon.aws.hooks.s3 import S3Hook  # noqa: F401
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook  # noqa: F401
from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator  # noqa: F401
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator  # noqa: F401
from airflow.sdk import DAG

with DAG(dag_id="empty_provider_dag", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    pass
'''

# Runs in the fresh interpreter: load the file under a throw-away module name (as the DagBag does), collect its
# DAGs, optionally serialize them, and print the CPU and wall seconds since the interpreter handed over control.
CHILD = r"""
import time
start, cpu_start = time.perf_counter(), time.process_time()
import importlib.util, json, sys
path, serialize, marker = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
spec = importlib.util.spec_from_file_location("unusual_prefix_bench_parse", path)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
from airflow.sdk import DAG
dags = [value for value in vars(module).values() if isinstance(value, DAG)]
if serialize:
    from airflow.serialization.serialized_objects import DagSerialization
    for dag in dags:
        DagSerialization.to_dict(dag)
wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
print(marker + json.dumps({"wall": wall, "cpu": cpu, "dags": len(dags), "tasks": sum(len(d.tasks) for d in dags)}))
"""


# -- pure helpers (unit-tested) -----------------------------------------------------------------------------------


def ratios(samples: Mapping[str, Sequence[float]], baseline: str = BASELINE) -> dict[str, float]:
    """Each entry's median over the baseline's median (the baseline itself is 1.0)."""
    reference = statistics.median(samples[baseline])
    if reference <= 0:
        raise ValueError("the baseline's median must be positive")
    return {name: statistics.median(values) / reference for name, values in samples.items()}


def over_limit(by_name: Mapping[str, float], limit: float = LIMIT) -> list[str]:
    """The names whose ratio is above ``limit``, in order."""
    return [name for name, value in by_name.items() if value > limit]


def report(samples: Mapping[str, Sequence[float]], baseline: str = BASELINE, limit: float = LIMIT) -> str:
    """A table: median and spread in ms, ratio to the baseline, and a verdict per DAG file."""
    by_name = ratios(samples, baseline)
    headers = ["file", "median ms", "min-max ms", "ratio", f"<= {limit:g}x"]
    rows = []
    for name, values in samples.items():
        verdict = "" if name == baseline else ("ok" if by_name[name] <= limit else "OVER")
        spread = f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f}"
        rows.append([name, f"{statistics.median(values) * 1000:.0f}", spread, f"{by_name[name]:.2f}x", verdict])
    return format_table(headers, rows)


# -- measuring ----------------------------------------------------------------------------------------------------


def dag_files(dags_dir: Path = DAGS_DIR) -> list[Path]:
    """The files the dag-processor parses: the *.py at the top of dags/ (shared code is an ignored package)."""
    return sorted(p for p in dags_dir.glob("*.py") if p.is_file() and not p.name.startswith("__"))


def parse_seconds(path: Path, *, serialize: bool, clock: str, env: Mapping[str, str]) -> float:
    """One fresh interpreter's time (``clock``: "cpu" or "wall") to load ``path`` and build (and optionally
    serialize) its DAGs."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), "1" if serialize else "0", MARKER],
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=str(REPO),
        timeout=300,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER) :])
            if result["dags"] < 1:
                raise RuntimeError(f"{path.name} defines no DAG")
            return float(result[clock])
    raise RuntimeError(f"parsing {path} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def measure(
    files: Sequence[Path], *, runs: int, serialize: bool, clock: str, home: Path, dags_dir: Path = DAGS_DIR
) -> dict[str, list[float]]:
    """``runs`` samples of the baseline and of each file, round-robin, so machine load affects them alike."""
    baseline = home / "empty_provider_dag.py"
    baseline.write_text(EMPTY_PROVIDER_DAG, encoding="utf-8")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join([str(dags_dir), str(REPO / "plugins"), str(REPO / "include")]),
    }
    targets = {BASELINE: baseline, **{path.name: path for path in files}}
    parse_seconds(baseline, serialize=serialize, clock=clock, env=env)  # warm the file cache, Airflow's first run
    samples: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(runs):
        for name, path in targets.items():
            samples[name].append(parse_seconds(path, serialize=serialize, clock=clock, env=env))
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per file (the median counts)")
    parser.add_argument(
        "--no-serialize",
        dest="serialize",
        action="store_false",
        help="stop after building the DAGs (default: also serialize them, as the dag-processor does)",
    )
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu (default): the child's CPU seconds, steady on a shared machine; wall: elapsed seconds",
    )
    parser.add_argument("--check", action="store_true", help=f"exit 1 when a DAG file is over {LIMIT}x")
    parser.add_argument("--dags", type=Path, default=DAGS_DIR, help="the dags folder (e.g. another checkout's)")
    parser.add_argument("files", nargs="*", type=Path, help="DAG files (default: every file at the top of --dags)")
    args = parser.parse_args(argv)
    dags_dir = args.dags.resolve()
    files = [path.resolve() for path in args.files] or dag_files(dags_dir)
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as home:
        samples = measure(
            files, runs=args.runs, serialize=args.serialize, clock=args.clock, home=Path(home), dags_dir=dags_dir
        )
    what = "import + build + serialize" if args.serialize else "import + build"
    print(
        f"DAG parse time ({what}, {args.clock} time), median of {args.runs} fresh interpreters each, "
        "vs an empty provider DAG:"
    )
    print(report(samples))
    over = over_limit({k: v for k, v in ratios(samples).items() if k != BASELINE})
    if over:
        print(f"over {LIMIT}x: {', '.join(over)}")
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
