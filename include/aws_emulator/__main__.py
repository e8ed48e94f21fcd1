"""``python -m aws_emulator [--host 127.0.0.1] [--port 4566]``: run the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from aws_emulator.server import EmulatorServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="aws_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = EmulatorServer(args.host, args.port)
    url = server.start()
    print(f"aws-emulator listening on {url} (control API: {url}/_emulator/health)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    print("aws-emulator stopped", flush=True)


if __name__ == "__main__":
    main()
