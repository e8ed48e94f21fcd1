"""Benchmark: the package's ``upload_tree`` vs ``aws s3 cp --recursive`` vs a sequential loop, on the book's batch1.

Why: the chapter uploads its dataset with ``aws s3 cp tmp/. s3://<bucket>/ch06/ --recursive``; the upload task
should be clearly faster than that (target: 2x at 100 ms and 200 ms S3 latency) and far faster than a naive loop,
while a re-run sends nothing. Everything runs in one go against the emulator in its own process, each client in
its own process (so CPU and peak memory are its own): the package's upload, the AWS CLI v1 from .venv-tools
with default transfer settings (10 concurrent requests), and a one-at-a-time PutObject loop (timed on a spread
subset and extrapolated, since all files would take 10-20 minutes). Then the same clients against a minimal
loopback sink (include/dev/s3_sink.py), which costs ~nothing per request, to show each client's own ceiling when
the emulator's CPU is the limit. Not a test: it prints a table and exits 0 (``--strict``: 1 below target).

Run: ``make bench`` (builds .venv-tools with the CLI first), or
``PYTHONPATH=dags:include .venv/bin/python include/dev/bench_upload.py [--latencies 100,200] [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_table import format_table

REPO = Path(__file__).resolve().parents[2]
TARGET_VS_CLI = 2.0
BUCKET = "bench-upload-bucket"
AWS_CLI = REPO / ".venv-tools" / "bin" / "aws"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- pure helpers (unit-tested) -----------------------------------------------------------------------------------


def spread_subset(items: Sequence[object], count: int) -> list[object]:
    """``count`` items evenly spread over ``items`` (all of them when count is 0 or too big)."""
    if count <= 0 or count >= len(items):
        return list(items)
    return [items[(i * len(items)) // count] for i in range(count)]


def ratio(a: float, b: float) -> str:
    """``a / b`` as ``2.3x`` (``-`` when b is 0)."""
    return f"{a / b:.1f}x" if b else "-"


@dataclass(frozen=True)
class Measure:
    """One client's run: files sent, wall seconds, its own CPU seconds, peak RSS, the emulator's CPU seconds."""

    files: int
    seconds: float
    cpu: float
    peak_rss_mib: float
    server_cpu: float
    extrapolated_from: int = 0  # files actually timed, when fewer than ``files``
    extra: dict | None = None

    @property
    def rate(self) -> float:
        return self.files / self.seconds if self.seconds else 0.0


# -- processes ------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _child_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(str(REPO / part) for part in ("dags", "plugins", "include")),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AIRFLOW_CONN_AWS_DEFAULT=json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", "endpoint_url": url},
            }
        ),
    )
    return env


def _start(stack: contextlib.ExitStack, command: list[str], url_of: str) -> tuple[str, int]:
    """Start a server process; ``url_of`` is 'health:<port>' (emulator) or 'stdout' (the sink prints its URL)."""
    proc = subprocess.Popen(command, env=_child_env(""), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stack.callback(proc.wait, 10)
    stack.callback(proc.terminate)
    if url_of == "stdout":
        return proc.stdout.readline().strip(), proc.pid
    url = f"http://127.0.0.1:{url_of.split(':')[1]}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/_emulator/health", timeout=1).close()
            return url, proc.pid
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the emulator did not start")


def run_client(command: list[str], url: str, server_pid: int) -> tuple[float, float, float, float, str]:
    """Run a client to completion: (wall s, its own CPU s, its peak RSS MiB, the server's CPU s, its stdout).

    The child is reaped with os.wait4, so CPU and peak RSS are that child's alone.
    """
    server_before = _cpu_seconds(server_pid)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(command, env=_child_env(url), stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        server_cpu = _cpu_seconds(server_pid) - server_before
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, server_cpu, stdout


# -- the three clients -------------------------------------------------------------------------------------------


def _self(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


def measure_package(root: Path, prefix: str, url: str, pid: int, workers: int) -> Measure:
    _, _, _, server_cpu, out = run_client(
        _self("--child", "package", "--root", str(root), "--prefix", prefix, "--workers", str(workers)), url, pid
    )
    report = json.loads(out.strip().splitlines()[-1])
    first = report["first"]  # the upload alone: not the interpreter's start nor the Airflow import
    return Measure(
        files=first["uploaded"],
        seconds=first["seconds"],
        cpu=report["cpu"],
        peak_rss_mib=report["peak_rss_mib"],
        server_cpu=server_cpu,
        extra=report,
    )


def measure_cli(root: Path, prefix: str, url: str, pid: int, files: int) -> Measure:
    command = [
        str(AWS_CLI),
        "s3",
        "cp",
        f"{root}/",
        f"s3://{BUCKET}/{prefix}/",
        "--recursive",
        "--endpoint-url",
        url,
        "--only-show-errors",
    ]
    seconds, cpu, rss, server_cpu, _ = run_client(command, url, pid)
    return Measure(files=files, seconds=seconds, cpu=cpu, peak_rss_mib=rss, server_cpu=server_cpu)


def measure_sequential(list_file: Path, prefix: str, url: str, pid: int, files: int, timed: int) -> Measure:
    _, _, _, server_cpu, out = run_client(
        _self("--child", "sequential", "--files-from", str(list_file), "--prefix", prefix), url, pid
    )
    report = json.loads(out.strip().splitlines()[-1])
    scale = files / timed
    return Measure(
        files=files,
        seconds=report["seconds"] * scale,
        cpu=report["cpu"] * scale,
        peak_rss_mib=report["peak_rss_mib"],
        server_cpu=server_cpu * scale,
        extrapolated_from=timed if timed < files else 0,
    )


# -- children (run in their own process) -------------------------------------------------------------------------


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_package(args: argparse.Namespace) -> int:
    from sagemaker_mlops.datasets.upload import s3_client, upload_tree

    client = s3_client("aws_default", max_pool_connections=args.workers)  # provider and botocore imported first:
    before = _rss_mib()  # the baseline RSS is the interpreter's with them
    cpu = time.process_time()
    first = upload_tree(client, Path(args.root), BUCKET, args.prefix, max_workers=args.workers)
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    again = upload_tree(client, Path(args.root), BUCKET, args.prefix, max_workers=args.workers)
    print(
        json.dumps(
            {
                "first": first.to_dict(),
                "rerun": again.to_dict(),
                "rss_before_mib": round(before, 1),
                "peak_rss_mib": round(peak, 1),
                "cpu": cpu,
            }
        )
    )
    return 0


def child_sequential(args: argparse.Namespace) -> int:
    from sagemaker_mlops.datasets.upload import s3_client

    plan = json.loads(Path(args.files_from).read_text())
    client = s3_client("aws_default")  # same hook, same connection; one request at a time
    started, cpu = time.monotonic(), time.process_time()
    for path, key in plan:
        client.put_object(Bucket=BUCKET, Key=f"{args.prefix}/{key}", Body=Path(path).read_bytes())
    print(
        json.dumps(
            {
                "seconds": time.monotonic() - started,
                "cpu": time.process_time() - cpu,
                "files": len(plan),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )
    return 0


# -- main -------------------------------------------------------------------------------------------------------


def _rows(label: str, measures: dict[str, Measure]) -> list[list[object]]:
    cli, seq = measures.get("aws s3 cp"), measures.get("sequential")
    rows = []
    for name, m in measures.items():
        note = f" (timed {m.extrapolated_from})" if m.extrapolated_from else ""
        rows.append(
            [
                f"{label}  {name}{note}",
                m.files,
                f"{m.seconds:.1f}",
                f"{m.rate:.1f}",
                ratio(m.rate, cli.rate) if cli else "-",
                ratio(m.rate, seq.rate) if seq else "-",
                f"{m.cpu:.1f}",
                f"{m.server_cpu:.1f}",
                f"{m.peak_rss_mib:.0f}",
            ]
        )
    return rows


HEADERS = [
    "server / latency / client",
    "files",
    "wall s",
    "files/s",
    "vs CLI",
    "vs loop",
    "client CPU s",
    "server CPU s",
    "peak RSS MiB",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latencies", default="100,200", help="simulated S3 latencies in ms (comma-separated)")
    parser.add_argument("--workers", type=int, default=0, help="upload_tree max_workers (default: the task's)")
    parser.add_argument("--size", default="book", choices=("book", "small"), help="dataset size (default book)")
    parser.add_argument("--batch", default="batch1")
    parser.add_argument(
        "--sequential-files",
        type=int,
        default=300,
        help="time the sequential loop on N files spread over the dataset, extrapolate (0 = all)",
    )
    parser.add_argument("--no-sink", action="store_true", help="skip the runs against the loopback sink")
    parser.add_argument(
        "--sink-workers",
        default="32,128",
        help="also run upload_tree with these max_workers against the sink (comma-separated)",
    )
    parser.add_argument("--quick", action="store_true", help="small dataset, 100 ms only, 60 sequential files")
    parser.add_argument(
        "--strict",
        action="store_true",
        help=f"exit 1 when the upload is below {TARGET_VS_CLI:g}x the CLI against the emulator",
    )
    parser.add_argument("--child", choices=("package", "sequential"), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--files-from", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "package":
        return child_package(args)
    if args.child == "sequential":
        return child_sequential(args)
    if args.quick:
        args.size, args.latencies, args.sequential_files = "small", "100", 60
    if not AWS_CLI.is_file():
        parser.error(f"{AWS_CLI} is missing: run bash include/dev/tools_venv.sh (make bench does)")
    latencies = [float(value) for value in args.latencies.split(",")]
    sink_workers = [int(value) for value in args.sink_workers.split(",") if value.strip()]

    from local_datasets import build_dataset
    from sagemaker_mlops.datasets.dataset import safe_extract, validate_layout
    from sagemaker_mlops.datasets.upload import MAX_WORKERS

    args.workers = args.workers or MAX_WORKERS

    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-upload-")))
        built = time.monotonic()
        info = build_dataset(work / f"{args.batch}.zip", args.batch, size=args.size)
        root = work / "extracted"
        safe_extract(info.path, root)
        summary = validate_layout(root, num_classes=10)
        plan = [(str(root / ch / rel), f"{ch}/{rel}") for ch, rels in summary.files.items() for rel in rels]
        subset = spread_subset(plan, args.sequential_files)
        list_file = work / "sequential.json"
        list_file.write_text(json.dumps(subset))
        files = len(plan)
        print(
            f"dataset: {args.batch} ({args.size}): {files} files, {sum(Path(p).stat().st_size for p, _ in plan)} "
            f"bytes (train {summary.num_training_samples}, validation {summary.num_validation_samples}, test "
            f"{summary.test_count}; built and validated in {time.monotonic() - built:.0f} s)",
            flush=True,
        )
        print(
            f"machine: {os.cpu_count()} cores; clients: upload_tree(max_workers={args.workers}), "
            f"{AWS_CLI.relative_to(REPO)} s3 cp --recursive (default settings: 10 concurrent requests), "
            "a one-at-a-time put_object loop; each in its own process",
            flush=True,
        )

        emulator_port = _free_port()
        url, pid = _start(
            stack, [sys.executable, "-m", "aws_emulator", "--port", str(emulator_port)], f"health:{emulator_port}"
        )
        from aws_emulator.control import EmulatorControl

        control = EmulatorControl(url)
        control.reset()
        with urllib.request.urlopen(f"{url}/_emulator/health", timeout=5) as answer:
            keep_alive = answer.headers.get("Connection", "").lower() != "close"
        print(
            f"emulator: {url}, {'keeps connections alive' if keep_alive else 'answers Connection: close'} "
            f"({'' if keep_alive else 'werkzeug: every request pays a new TCP connection and server thread; '}"
            "S3 keeps them alive)",
            flush=True,
        )
        subprocess.run(_self_create_bucket(), env=_child_env(url), check=True, stderr=subprocess.DEVNULL)

        rows: list[list[object]] = []
        results: dict[tuple[str, float], dict[str, Measure]] = {}
        run = time.strftime("%Y%m%d%H%M%S")
        for latency in latencies:
            control.settings(s3_latency_ms=latency)
            label = f"emulator {latency:g} ms"
            measures: dict[str, Measure] = {}
            print(f"{label}: package upload ...", flush=True)
            measures["upload_tree"] = measure_package(root, f"{run}/{latency:g}/package", url, pid, args.workers)
            print(f"{label}: aws s3 cp ...", flush=True)
            measures["aws s3 cp"] = measure_cli(root, f"{run}/{latency:g}/cli", url, pid, files)
            print(f"{label}: sequential loop ({len(subset)} files) ...", flush=True)
            measures["sequential"] = measure_sequential(
                list_file, f"{run}/{latency:g}/seq", url, pid, files, len(subset)
            )
            results[("emulator", latency)] = measures
            rows.extend(_rows(label, measures))

        if not args.no_sink:
            for latency in latencies:
                sink_url, sink_pid = _start(
                    stack,
                    [sys.executable, str(REPO / "include/dev/s3_sink.py"), "--latency-ms", str(latency)],
                    "stdout",
                )
                label = f"sink {latency:g} ms"
                measures = {}
                print(f"{label}: package upload, aws s3 cp ...", flush=True)
                measures["upload_tree"] = measure_package(root, f"{run}/package", sink_url, sink_pid, args.workers)
                measures["aws s3 cp"] = measure_cli(root, f"{run}/cli", sink_url, sink_pid, files)
                for workers in sink_workers:  # is the uploader's concurrency its limit?
                    measures[f"upload_tree, {workers} workers"] = measure_package(
                        root, f"{run}/package-{workers}", sink_url, sink_pid, workers
                    )
                results[("sink", latency)] = measures
                rows.extend(_rows(label, measures))

    print()
    print(format_table(HEADERS, rows))
    print()
    met = True
    for (server, latency), measures in results.items():
        package = measures["upload_tree"]
        report = package.extra or {}
        rerun = report.get("rerun", {})
        vs_cli = package.rate / measures["aws s3 cp"].rate
        if server == "emulator":
            met = met and vs_cli >= TARGET_VS_CLI
        print(
            f"{server} {latency:g} ms: upload_tree {vs_cli:.2f}x the CLI "
            f"({'meets' if vs_cli >= TARGET_VS_CLI else 'BELOW'} the {TARGET_VS_CLI:g}x target); peak RSS "
            f"{report.get('peak_rss_mib')} MiB ({report.get('rss_before_mib')} MiB before the upload); "
            f"re-run: uploaded {rerun.get('uploaded')}, skipped {rerun.get('skipped')}, "
            f"{rerun.get('bytes_sent')} bytes sent, {rerun.get('seconds')} s"
        )
    return 1 if args.strict and not met else 0


def _self_create_bucket() -> list[str]:
    code = (
        "from sagemaker_mlops.datasets.upload import ensure_bucket, s3_client; "
        f"ensure_bucket(s3_client('aws_default'), {BUCKET!r}, 'us-east-1', create=True)"
    )
    return [sys.executable, "-c", code]


if __name__ == "__main__":
    sys.exit(main())
