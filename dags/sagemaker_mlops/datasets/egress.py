"""Where a worker may fetch a dataset from: public addresses only, unless a Variable allows a host.

Why: ``dataset_url`` comes from the trigger form, and the worker fetches it from inside the VPC. Unchecked, anyone
allowed to trigger a run could make a worker request the instance-metadata service (169.254.169.254,
fd00:ec2::254: credentials of the worker's role) or hosts inside the network. So every URL the download touches —
the first and each redirect's target — is checked *before* it is requested, on the addresses its host resolves to
(a name can point anywhere; numeric spellings such as ``2852039166`` resolve too), IPv4-mapped and 6to4/Teredo
IPv6 unwrapped. Link-local, loopback, private, shared (CGNAT), reserved, multicast and unspecified addresses are
refused unless the URL's ``host[:port]`` is listed in the Variable :data:`ALLOWED_HOSTS_VARIABLE` (the local
emulator set-up lists its loopback dataset server that way). :func:`checked_session` checks again the address each
connection really reached, before sending anything (a name re-resolved in between cannot slip through).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from sagemaker_mlops.core.validation import ParamError

__all__ = ["ALLOWED_HOSTS_VARIABLE", "address_class", "check_url", "checked_session", "parse_allowed_hosts"]

ALLOWED_HOSTS_VARIABLE = "sagemaker_mlops_allowed_dataset_hosts"
_DEFAULT_PORTS = {"http": 80, "https": 443}
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Iterable[str]]


def _unwrap(ip: Address) -> Address:
    """The IPv4 address an IPv6 address carries (IPv4-mapped ::ffff:a.b.c.d, 6to4, Teredo), else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
    return ip


def address_class(address: str | Address) -> str | None:
    """Why ``address`` is not a public one ("link-local", "loopback", "private", ...), or None when it is."""
    ip = _unwrap(ipaddress.ip_address(address) if isinstance(address, str) else address)
    for name, test in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if test:
            return name
    if not ip.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT), which is_private leaves out
        return "shared (not globally routable)"
    return None


def parse_allowed_hosts(text: str | None) -> frozenset[str]:
    """The Variable's ``host[:port]`` entries (comma-separated; ``[v6]:port`` for IPv6), lowercased."""
    entries = (part.strip().lower() for part in (text or "").split(","))
    return frozenset(entry for entry in entries if entry)


def _is_allowed(host: str, port: int, allowed: Iterable[str]) -> bool:
    entry = _host_entry(host.lower())
    return entry in allowed or f"{entry}:{port}" in allowed


def _fix(host: str, port: int) -> str:
    return (
        f"use a public URL; to fetch from this host on purpose, add '{_host_entry(host)}:{port}' to the Variable "
        f"{ALLOWED_HOSTS_VARIABLE} (comma-separated host[:port])"
    )


def checked_session(allowed_hosts: Iterable[str] = (), *, field: str = "dataset_url") -> Any:
    """A requests Session whose every connection checks the address it actually reached, before a byte is sent.

    Why, on top of :func:`check_url`: a name can resolve to a public address for the check and to the metadata
    service a moment later, when the connection resolves it again (DNS rebinding). Through a proxy the proxy
    resolves the target, unchecked — so the session ignores the proxy variables (``HTTP(S)_PROXY``, ``ALL_PROXY``)
    and ``.netrc`` (``trust_env=False``): the dataset fetch always connects directly, and every connection's peer is
    checked. A worker that can reach the internet only through a proxy cannot fetch datasets (docs/datasets.md).
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    allowed = frozenset(entry.lower() for entry in allowed_hosts)

    def check_peer(conn: Any, sock: socket.socket) -> None:
        if _is_allowed(conn.host, conn.port, allowed):
            return
        peer = sock.getpeername()[0].split("%", 1)[0]
        kind = address_class(peer)
        if kind is not None:
            sock.close()
            raise ParamError(
                field,
                f"{conn.host} resolved to {peer}, a {kind} address, when the worker connected "
                "(after passing the check: DNS rebinding?)",
                _fix(conn.host, conn.port),
            )

    class CheckedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            check_peer(self, sock)
            return sock

    class CheckedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            check_peer(self, sock)
            return sock

    class CheckedHTTPPool(HTTPConnectionPool):
        ConnectionCls = CheckedHTTPConnection

    class CheckedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = CheckedHTTPSConnection

    class CheckedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": CheckedHTTPPool, "https": CheckedHTTPSPool}

    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the proxy, not this check, would pick the address
    for prefix in ("http://", "https://"):
        session.mount(prefix, CheckedAdapter())
    return session


def _system_resolver(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _host_entry(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def check_url(
    url: str, allowed_hosts: Iterable[str] = (), *, field: str = "dataset_url", resolve: Resolver = _system_resolver
) -> None:
    """Raises ParamError (naming ``field``, the address class and the Variable) when ``url``'s host resolves to an
    address that is not public and ``host[:port]`` is not allowed. Makes no request (it only resolves the name)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    if _is_allowed(host, port, {entry.lower() for entry in allowed_hosts}):
        return
    fix = _fix(host, port)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host, port)]
        except (OSError, UnicodeError) as error:
            raise ParamError(
                field, f"{url}: host {host!r} does not resolve ({error})", "check the host name and the workers' DNS"
            ) from None
    for ip in addresses:
        kind = address_class(ip)
        if kind is not None:
            raise ParamError(
                field,
                f"{url} points at {ip}, a {kind} address: the workers do not fetch from inside "
                "the network (instance metadata, VPC hosts)",
                fix,
            )
