"""Command line: build the dataset zips, or serve them on loopback for a local DAG run.

    python -m local_datasets build --out DIR [--size small|book] [--bad]
    python -m local_datasets serve --dir DIR [--size small|book] [--port 8765] [--host 127.0.0.1]

(with ``include/`` on PYTHONPATH). ``serve`` builds the zips first when they are missing, prints the base URL on
the first line of stdout, then the file URLs, and exits 0 on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from local_datasets.bad import build_bad_datasets
from local_datasets.builder import BATCHES, SIZES, build_all
from local_datasets.server import DatasetServer


def _build(args: argparse.Namespace) -> int:
    infos = {batch: info.to_dict() for batch, info in build_all(args.out, size=args.size).items()}
    document: dict[str, object] = dict(infos)
    if args.bad:
        document["bad"] = {kind: str(path) for kind, path in build_bad_datasets(args.out / "bad").items()}
    print(json.dumps(document, indent=2))
    return 0


def _serve(args: argparse.Namespace) -> int:
    if any(not (args.dir / f"{batch}.zip").is_file() for batch in BATCHES):
        build_all(args.dir, size=args.size)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with DatasetServer(args.dir, host=args.host, port=args.port) as server:
            print(server.url, flush=True)
            for batch in BATCHES:
                print(f"  {server.url}/{batch}.zip  (redirect: {server.url}/r/{batch}.zip)", flush=True)
            while not stop.wait(0.1):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


SIZE_HELP = "small: 480/120/100 real digits per batch (default); book: the chapter's 4,000 / 7,200 training images"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m local_datasets", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write batch1.zip and batch2.zip (+ test-label sidecars), print JSON")
    build.add_argument("--out", type=Path, required=True, help="output folder")
    build.add_argument("--size", choices=SIZES, default="small", help=SIZE_HELP)
    build.add_argument("--bad", action="store_true", help="also write the one-defect variants to OUT/bad/")
    build.set_defaults(run=_build)
    serve = commands.add_parser("serve", help="serve a folder of zips over HTTP until SIGINT/SIGTERM")
    serve.add_argument("--dir", type=Path, required=True, help="folder to serve (built first if zips are missing)")
    serve.add_argument("--size", choices=SIZES, default="small", help=f"{SIZE_HELP} (when building)")
    serve.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default 8765)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.set_defaults(run=_serve)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
