"""Benchmark: concurrent, idempotent ``upload_tree`` vs a one-at-a-time PutObject loop, on the local emulator.

Why: the upload task's speed comes from keeping many PutObjects in flight; this shows the gain under a realistic
per-request latency (100 ms by default, S3 from a far region) with the real code path (S3Hook, Airflow
connection, the dataset builder's ~700 files). Not a test: it prints numbers and exits 0 (``--strict`` exits 1
below the target ratio).

Run from the repository root: ``PYTHONPATH=dags:include .venv/bin/python include/dev/bench_upload.py``
(``--sequential-files 100`` times the slow loop on a fixed subset and extrapolates, for a quicker run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 20.0
BUCKET = "bench-upload-bucket"


def _start_emulator_process(stack: contextlib.ExitStack) -> str:
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "aws_emulator", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack.callback(proc.wait, 10)
    stack.callback(proc.terminate)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{url}/_emulator/health", timeout=1).close()
            return url
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the emulator did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=100.0, help="emulated S3 latency per request")
    parser.add_argument("--workers", type=int, default=32, help="upload_tree max_workers")
    parser.add_argument("--batch", default="batch1")
    parser.add_argument(
        "--sequential-files", type=int, default=0,
        help="time the sequential loop on the first N files only and extrapolate (0 = all files)",
    )
    parser.add_argument("--strict", action="store_true", help=f"exit 1 when the ratio is below {TARGET_RATIO:g}x")
    parser.add_argument(
        "--emulator-url", default="",
        help="use an emulator already running in another process (make emulator) instead of one in this process; "
        "its state is not reset, its S3 latency setting is restored afterwards",
    )
    parser.add_argument(
        "--in-process", action="store_true",
        help="run the emulator inside this process (shares one GIL with the client: measures less than AWS would)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # as `python -m aws_emulator` does: no per-request lines

    from aws_emulator.control import EmulatorControl
    from aws_emulator.server import EmulatorServer
    from local_datasets import build_dataset
    from sagemaker_mlops.dataset import safe_extract, validate_layout
    from sagemaker_mlops.upload import ensure_bucket, s3_client, upload_tree

    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-upload-")))
        if args.emulator_url:
            url, where = args.emulator_url.rstrip("/"), f"external emulator {args.emulator_url}"
        elif args.in_process:
            url, where = stack.enter_context(EmulatorServer("127.0.0.1", 0)).url, "in-process emulator"
        else:  # default: the emulator in its own process, as S3 is to an Airflow worker
            url, where = _start_emulator_process(stack), "emulator in its own process"
        info = build_dataset(work / f"{args.batch}.zip", args.batch)
        root = work / "extracted"
        safe_extract(info.path, root)
        summary = validate_layout(root, num_classes=10)
        plan = [(root / channel / rel, f"{channel}/{rel}") for channel, rels in summary.files.items() for rel in rels]

        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"region_name": "us-east-1", "endpoint_url": url},
        })
        control = EmulatorControl(url)
        if not args.emulator_url:
            control.reset()  # a fresh emulator of our own
        uploader = s3_client("aws_default", max_pool_connections=args.workers)
        ensure_bucket(uploader, BUCKET, "us-east-1", create=True)
        previous_latency = control.settings()["s3_latency_ms"]
        control.settings(s3_latency_ms=args.latency_ms)
        stack.callback(control.settings, s3_latency_ms=previous_latency)

        run = time.strftime("%Y%m%d%H%M%S")
        cpu_started = time.process_time()
        concurrent = upload_tree(uploader, root, BUCKET, f"bench/{run}/concurrent", max_workers=args.workers)
        concurrent_cpu = time.process_time() - cpu_started
        rerun = upload_tree(uploader, root, BUCKET, f"bench/{run}/concurrent", max_workers=args.workers)

        subset = plan[: args.sequential_files] if args.sequential_files > 0 else plan
        client = s3_client("aws_default")  # same hook, same connection; one request at a time
        started = time.monotonic()
        for path, key in subset:
            client.put_object(Bucket=BUCKET, Key=f"bench/{run}/sequential/{key}", Body=path.read_bytes())
        sequential_seconds = time.monotonic() - started

    files = len(plan)
    concurrent_rate = concurrent.uploaded / concurrent.seconds
    sequential_rate = len(subset) / sequential_seconds
    ratio = concurrent_rate / sequential_rate
    extrapolated = "" if len(subset) == files else f" (measured on the first {len(subset)} files, extrapolated)"
    print(f"dataset            {args.batch}: {files} files, {concurrent.bytes_sent} bytes; "
          f"S3 latency {args.latency_ms:g} ms/request ({where})")
    print(f"concurrent         {concurrent.uploaded} files in {concurrent.seconds:.2f} s "
          f"({concurrent_rate:.1f} files/s, max_workers={args.workers}); this process used {concurrent_cpu:.2f} s "
          f"CPU{' incl. the emulator' if not args.emulator_url else ''}")
    print(f"re-run             uploaded {rerun.uploaded}, skipped {rerun.skipped}, {rerun.bytes_sent} bytes sent, "
          f"{rerun.seconds:.2f} s")
    print(f"sequential         {len(subset)} files in {sequential_seconds:.2f} s ({sequential_rate:.1f} files/s); "
          f"all {files} files: {files / sequential_rate:.1f} s{extrapolated}")
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(f"throughput ratio   {ratio:.1f}x ({verdict} the {TARGET_RATIO:g}x target)")
    return 1 if args.strict and ratio < TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
