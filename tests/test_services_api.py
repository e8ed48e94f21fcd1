"""The services harness's REST calls (include/dev/services.py ``api_request``), against a scripted local server.

On SQLite Airflow answers 500 "Database error" when a write outlasts the lock timeout (it rolls the transaction
back); the harness sends such a request again, and nothing else: other 500s and 4xx are the test's to see.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services import ApiError, api_request

DATABASE_ERROR = {"detail": {"reason": "Database error", "message": "Serious error when handling your request."}}


class Scripted:
    """A server that answers each request with the next (status, body) of its script, recording what it got."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any]] = []
        self.requests: list[tuple[str, str, Any, str]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                scripted.requests.append((self.command, self.path, body, self.headers["Authorization"]))
                status, payload = scripted.script.pop(0)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Scripted]:
    import services

    monkeypatch.setattr(services.time, "sleep", lambda _s: None)
    scripted = Scripted()
    thread = threading.Thread(target=scripted.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


def test_a_database_error_is_sent_again_until_it_succeeds(server: Scripted) -> None:
    server.script = [(500, DATABASE_ERROR), (500, DATABASE_ERROR), (200, {"is_paused": True})]
    answer = api_request(server.url, "tok", "PATCH", "/api/v2/dags/d", {"is_paused": True})
    assert answer == {"is_paused": True}
    assert server.requests == [("PATCH", "/api/v2/dags/d", {"is_paused": True}, "Bearer tok")] * 3


def test_a_database_error_that_persists_is_raised_after_the_last_attempt(server: Scripted) -> None:
    server.script = [(500, DATABASE_ERROR)] * 3
    with pytest.raises(ApiError, match="Database error") as raised:
        api_request(server.url, "tok", "POST", "/api/v2/dags/d/dagRuns", {}, attempts=3)
    assert raised.value.status == 500 and len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "payload"),
    [(500, {"detail": "An error occurred while trying to deserialize Dag"}), (409, {"detail": "conflict"})],
)
def test_other_errors_are_raised_at_once(server: Scripted, status: int, payload: Any) -> None:
    server.script = [(status, payload)]
    with pytest.raises(ApiError) as raised:
        api_request(server.url, "tok", "POST", "/api/v2/dags/d/dagRuns", {"conf": {}}, params={"x": 1})
    assert raised.value.status == status and len(server.requests) == 1
    assert server.requests[0][1] == "/api/v2/dags/d/dagRuns?x=1"
