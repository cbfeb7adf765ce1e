"""The one answer to "is this address this machine?", used wherever loopback matters:
API_AUTH=disabled is allowed only on a loopback bind address, anonymous requests act as the
service only when they arrived on one, and the CLI's public JWT secret is refused off it."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from litestar.types import Scope

__all__ = ["arrived_on_loopback", "is_loopback"]


@lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """A loopback IP (127.0.0.0/8, ::1, also IPv4-mapped) or `localhost` (RFC 6761, which
    reserves `*.localhost` for loopback too); any other name is not: it may resolve anywhere."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def arrived_on_loopback(scope: Scope) -> bool:
    """Whether the connection came in on a loopback address (the socket's local address).

    API_AUTH=disabled is refused at startup unless API_HOST is loopback; this also covers a
    bind address given another way (`serve --host 0.0.0.0`). A Unix socket (no port) is local.
    """
    server = scope.get("server")
    return server is None or server[1] is None or is_loopback(str(server[0]))
