"""A loopback HTTP server for the dataset zips, so the DAG's download step runs the same HTTP code as on AWS.

Why not ``python -m http.server``: the book's URLs are bit.ly links that answer 301, so the download must follow a
redirect (``/r/<name>``); streaming downloads need a slow, chunked response (``/slow/<name>``); and the server must
never serve a file outside its folder. Routes (GET and HEAD)::

    /<name>        the file, with Content-Length (Content-Type application/zip for .zip)
    /r/<name>      301 to /<name>, like a bit.ly short link
    /slow/<name>   the same bytes, sent in small chunks with a short pause between them

Missing files are 404, paths that resolve outside the folder are 403. Stdlib only; quiet (no access log).
"""

from __future__ import annotations

import mimetypes
import shutil
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

__all__ = ["DatasetServer"]

REDIRECT_PREFIX = "/r/"
SLOW_PREFIX = "/slow/"
SLOW_CHUNK_BYTES = 32 * 1024
SLOW_DELAY_SECONDS = 0.01
POLL_SECONDS = 0.05  # how quickly stop() is noticed
_CONTENT_TYPES = {".zip": "application/zip", ".json": "application/json", ".lst": "text/plain"}


def _content_type(path: Path) -> str:
    return _CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class _Handler(BaseHTTPRequestHandler):
    """Serves files of ``server.root`` (set by DatasetServer)."""

    server: _Server
    server_version = "LocalDatasets/1.0"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: test and task logs stay readable."""

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def _respond(self, *, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path.startswith(REDIRECT_PREFIX):
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", "/" + path[len(REDIRECT_PREFIX) :].lstrip("/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        slow = path.startswith(SLOW_PREFIX)
        relative = path[len(SLOW_PREFIX) :] if slow else path
        target = self._resolve(relative)
        if target is None:
            return
        size = target.stat().st_size
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", _content_type(target))
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if not send_body:
            return
        try:
            with target.open("rb") as stream:
                if not slow:
                    shutil.copyfileobj(stream, self.wfile)
                    return
                for chunk in iter(lambda: stream.read(SLOW_CHUNK_BYTES), b""):
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    time.sleep(SLOW_DELAY_SECONDS)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up; nothing to clean up

    def _resolve(self, relative: str) -> Path | None:
        """The file for a request path, or None after sending 403 (outside the folder) or 404 (no such file)."""
        root = self.server.root
        if "\x00" in relative:
            self.send_error(HTTPStatus.BAD_REQUEST, "bad path")
            return None
        target = (root / relative.lstrip("/")).resolve()
        if not target.is_relative_to(root):
            self.send_error(HTTPStatus.FORBIDDEN, "path outside the served folder")
            return None
        if not target.is_file():
            self.send_error(HTTPStatus.NOT_FOUND, "no such file")
            return None
        return target


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path


class _Server6(_Server):
    address_family = socket.AF_INET6


class DatasetServer:
    """Serve ``directory`` on ``host:port`` (port 0 picks a free one) from a background thread.

    Use ``with DatasetServer(d) as server: server.url`` or ``url = server.start(); ...; server.stop()``.
    """

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = Path(directory).resolve()
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:8765``; only while running."""
        if self._server is None:
            raise RuntimeError("the server is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> str:
        """Bind, serve in a daemon thread and return the base URL (idempotent)."""
        if self._server is not None:
            return self.url
        if not self.directory.is_dir():
            raise FileNotFoundError(f"{self.directory} is not a directory")
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class((self.host, self.port), _Handler)
        server.root = self.directory
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, args=(POLL_SECONDS,), name=f"dataset-server-{self.port}", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    @property
    def running(self) -> bool:
        """Whether the serving thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> DatasetServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
