"""The download cannot be pointed inside the network (issue 11, item 10).

No test here sends a packet beyond loopback: link-local and private literals are refused by the check itself (which
only parses or resolves, never connects), and the end-to-end refusals use loopback servers that count requests.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sagemaker_mlops.core.validation import ParamError
from sagemaker_mlops.datasets import dataset, egress

from dag_runs import ACTIONS_THAT_CREATE, run_dag

VARIABLE = "sagemaker_mlops_allowed_dataset_hosts"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the guard regress, a connect beyond loopback fails the test instead of leaving the machine."""
    import ipaddress
    import socket

    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            assert ipaddress.ip_address(address[0].split("%")[0]).is_loopback, f"connect to {address} attempted"
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def _never_resolve(host: str, port: int) -> list[str]:
    raise AssertionError(f"a literal address must not be resolved ({host})")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "link-local"),  # EC2/MWAA metadata
        ("http://[fd00:ec2::254]/latest/meta-data/", "private"),  # the metadata service over IPv6
        ("http://[::ffff:169.254.169.254]/", "link-local"),  # IPv4-mapped IPv6
        ("http://[2002:a9fe:a9fe::1]/", "link-local"),  # 6to4 wrapping 169.254.169.254
        ("http://[fe80::1]/", "link-local"),
        ("http://10.0.12.7/batch1.zip", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://192.168.1.10:8080/x.zip", "private"),
        ("http://100.64.0.1/", "shared"),
        ("http://127.0.0.1:8765/batch1.zip", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.251/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
    ],
)
def test_non_public_literals_are_refused_by_the_check_itself(url: str, kind: str) -> None:
    with pytest.raises(ParamError) as caught:
        egress.check_url(url, resolve=_never_resolve)
    message = str(caught.value)
    assert caught.value.field == "dataset_url" and kind in message and VARIABLE in message and "Fix:" in message


@pytest.mark.parametrize("url", ["http://2852039166/", "http://0xa9fea9fe/", "http://169.254.43518/"])
def test_numeric_spellings_are_refused_on_the_address_they_resolve_to(url: str) -> None:
    """getaddrinfo parses these itself (no DNS query, no packet): 169.254.169.254 in disguise."""
    with pytest.raises(ParamError, match=re.escape("169.254.169.254, a link-local address")):
        egress.check_url(url)


def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    def resolve(host: str, port: int) -> list[str]:
        return {
            "public.example": ["93.184.216.34"],
            "sneaky.example": ["93.184.216.34", "10.1.2.3"],
            "v6.example": ["2606:2800:220:1::1"],
        }[host]

    egress.check_url("https://public.example/batch1.zip", resolve=resolve)
    egress.check_url("https://v6.example/batch1.zip", resolve=resolve)
    with pytest.raises(ParamError, match=r"10\.1\.2\.3, a private address"):
        egress.check_url("https://sneaky.example/batch1.zip", resolve=resolve)


def test_public_literals_pass_and_the_variable_allows_listed_hosts_only() -> None:
    egress.check_url("https://93.184.216.34/batch1.zip", resolve=_never_resolve)
    allowed = egress.parse_allowed_hosts(" Datasets:8765, 10.0.0.5 ,[fd00::1]:80,")
    assert allowed == {"datasets:8765", "10.0.0.5", "[fd00::1]:80"}
    egress.check_url("http://datasets:8765/r/batch1.zip", allowed, resolve=_never_resolve)
    egress.check_url("http://10.0.0.5:9999/x.zip", allowed, resolve=_never_resolve)  # no port listed: any port
    egress.check_url("http://[fd00::1]/x.zip", allowed, resolve=_never_resolve)  # http's default port 80
    with pytest.raises(ParamError, match="private"):
        egress.check_url("http://datasets:8766/x.zip", allowed, resolve=lambda h, p: ["172.18.0.4"])
    with pytest.raises(ParamError, match="link-local"):
        egress.check_url("http://169.254.169.254/", allowed, resolve=_never_resolve)


def test_an_unresolvable_host_names_dataset_url() -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(ParamError, match="does not resolve") as caught:
        egress.check_url("https://nowhere.invalid/x.zip", resolve=resolve)
    assert caught.value.field == "dataset_url"


# -- the download: before the request and after every redirect -------------------------------------------------------
class _Counting(ThreadingHTTPServer):
    hits: int = 0
    location: str = ""


class _Handler(BaseHTTPRequestHandler):
    server: _Counting

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self.server.hits += 1
        if self.server.location:
            self.send_response(302)
            self.send_header("Location", self.server.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")


@pytest.fixture()
def servers() -> Iterator[tuple[_Counting, _Counting]]:
    """Two loopback servers: ``a`` redirects to ``b`` (when told to), each counts the requests it gets."""
    pair = (_Counting(("127.0.0.1", 0), _Handler), _Counting(("127.0.0.1", 0), _Handler))
    threads = [threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True) for s in pair]
    for thread in threads:
        thread.start()
    yield pair
    for server in pair:
        server.shutdown()
        server.server_close()


def _url(server: _Counting, path: str = "/x.zip") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_an_unlisted_loopback_server_is_never_requested(servers: Any, tmp_path: Path) -> None:
    _, target = servers
    with pytest.raises(ParamError, match="loopback"):
        dataset.download(_url(target), tmp_path / "x.zip", sha256=None)
    assert target.hits == 0 and list(tmp_path.iterdir()) == []


def test_a_redirect_into_an_unlisted_host_is_refused_before_it_is_followed(servers: Any, tmp_path: Path) -> None:
    allowed_one, unlisted = servers
    allowed_one.location = _url(unlisted)
    allowed = [f"127.0.0.1:{allowed_one.server_address[1]}"]
    with pytest.raises(ParamError) as caught:
        dataset.download(_url(allowed_one), tmp_path / "x.zip", sha256=None, allowed_hosts=allowed)
    assert "loopback" in str(caught.value) and _url(unlisted) in str(caught.value)
    assert allowed_one.hits == 1 and unlisted.hits == 0
    # Listed too, the redirect is followed (the check is per host, so relative redirects stay allowed).
    allowed.append(f"127.0.0.1:{unlisted.server_address[1]}")
    result = dataset.download(_url(allowed_one), tmp_path / "x.zip", sha256=None, allowed_hosts=allowed)
    assert result.size_bytes == 2 and unlisted.hits == 1


def test_a_redirect_to_the_metadata_service_is_refused_without_a_packet(servers: Any, tmp_path: Path) -> None:
    allowed_one, _ = servers
    allowed_one.location = "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(ParamError, match=re.escape("169.254.169.254, a link-local address")):
        dataset.download(
            _url(allowed_one),
            tmp_path / "x.zip",
            sha256=None,
            allowed_hosts=[f"127.0.0.1:{allowed_one.server_address[1]}"],
        )


def test_a_name_that_changes_address_after_the_check_is_refused_at_connect(
    servers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: public for the check, loopback (standing in for the metadata service) for the connect."""
    import socket

    _, target = servers
    port = target.server_address[1]
    real = socket.getaddrinfo
    calls = []

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.example":
            return real(host, *args, **kwargs)
        calls.append(host)
        if len(calls) == 1:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        return real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(
        ParamError, match=re.escape("resolved to 127.0.0.1, a loopback address, when the worker connected")
    ):
        dataset.download(f"http://rebind.example:{port}/x.zip", tmp_path / "x.zip", sha256=None)
    assert len(calls) == 2 and target.hits == 0  # connected, but not one byte of the request was sent


def test_too_many_redirects_name_dataset_url(servers: Any, tmp_path: Path) -> None:
    loop, _ = servers
    loop.location = _url(loop)
    with pytest.raises(ParamError, match="redirects too many times") as caught:
        dataset.download(_url(loop), tmp_path / "x.zip", sha256=None, allowed_hosts=["127.0.0.1"])
    assert caught.value.field == "dataset_url" and loop.hits == dataset.MAX_REDIRECTS + 1


@pytest.mark.e2e
def test_a_run_pointed_at_an_unlisted_loopback_server_fails_before_anything_is_created(
    airflow_db: Any, airflow_aws: Any, servers: Any, capfd: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed, target = servers
    monkeypatch.setenv("AIRFLOW_VAR_SAGEMAKER_MLOPS_ALLOWED_DATASET_HOSTS", f"127.0.0.1:{listed.server_address[1]}")
    run, states = run_dag("mnist_train_deploy", {"dataset_url": _url(target, "/batch1.zip")})
    out = capfd.readouterr().out
    assert str(run.state) == "failed" and states["download_dataset"] == "failed", states
    assert "dataset_url" in out and "a loopback address" in out and VARIABLE in out
    assert target.hits == 0 and listed.hits == 0
    assert not ACTIONS_THAT_CREATE & set(airflow_aws.actions())
