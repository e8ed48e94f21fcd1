"""Where a worker may fetch a dataset from: public addresses only, unless a Variable allows a host.

Why: ``dataset_url`` comes from the trigger form, and the worker fetches it from inside the VPC. Unchecked, anyone
allowed to trigger a run could make a worker request the instance-metadata service (169.254.169.254,
fd00:ec2::254: credentials of the worker's role) or hosts inside the network. So every URL the download touches —
the first and each redirect's target — is checked *before* it is requested, on the addresses its host resolves to
(a name can point anywhere; numeric spellings such as ``2852039166`` resolve too), IPv4-mapped and 6to4/Teredo
IPv6 unwrapped. Link-local, loopback, private, shared (CGNAT), reserved, multicast and unspecified addresses are
refused unless the URL's ``host[:port]`` is listed in the Variable :data:`ALLOWED_HOSTS_VARIABLE` (the local
emulator set-up lists its loopback dataset server that way).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from sagemaker_mlops.validation import ParamError

__all__ = ["ALLOWED_HOSTS_VARIABLE", "address_class", "check_url", "parse_allowed_hosts"]

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
    for name, test in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                       ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                       ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if test:
            return name
    if not ip.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT), which is_private leaves out
        return "shared (not globally routable)"
    return None


def parse_allowed_hosts(text: str | None) -> frozenset[str]:
    """The Variable's ``host[:port]`` entries (comma-separated; ``[v6]:port`` for IPv6), lowercased."""
    entries = (part.strip().lower() for part in (text or "").split(","))
    return frozenset(entry for entry in entries if entry)


def _system_resolver(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _host_entry(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def check_url(url: str, allowed_hosts: Iterable[str] = (), *, field: str = "dataset_url",
              resolve: Resolver = _system_resolver) -> None:
    """Raises ParamError (naming ``field``, the address class and the Variable) when ``url``'s host resolves to an
    address that is not public and ``host[:port]`` is not allowed. Makes no request (it only resolves the name)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    allowed = {entry.lower() for entry in allowed_hosts}
    if _host_entry(host) in allowed or f"{_host_entry(host)}:{port}" in allowed:
        return
    fix = (f"use a public URL; to fetch from this host on purpose, add '{_host_entry(host)}:{port}' to the Variable "
           f"{ALLOWED_HOSTS_VARIABLE} (comma-separated host[:port])")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host, port)]
        except (OSError, UnicodeError) as error:
            raise ParamError(field, f"{url}: host {host!r} does not resolve ({error})",
                             "check the host name and the workers' DNS") from None
    for ip in addresses:
        kind = address_class(ip)
        if kind is not None:
            raise ParamError(field, f"{url} points at {ip}, a {kind} address: the workers do not fetch from inside "
                                    "the network (instance metadata, VPC hosts)", fix)
