"""Load and chaos only ever aim at this machine."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["NotLoopbackError", "require_loopback"]


class NotLoopbackError(ValueError):
    """The target is not a loopback address."""


def require_loopback(url: str) -> str:
    """Return ``url`` unchanged if its host is loopback (127.0.0.0/8, ::1, or a
    name that resolves only there); raise :class:`NotLoopbackError` otherwise.

    The tools generate enough traffic to hurt a shared server, and chaos signals
    processes: both are for a system on this machine, never someone else's.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotLoopbackError(f"{url!r} is not an http(s) URL")
    host = parts.hostname
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
        except OSError as error:
            raise NotLoopbackError(f"cannot resolve {host!r}: {error}") from None
        addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    if not addresses or not all(a.is_loopback for a in addresses):
        raise NotLoopbackError(
            f"refusing to load {host!r}: only loopback targets (127.0.0.1, ::1, localhost) "
            "are allowed; run the load tool on the machine that runs the system"
        )
    return url
