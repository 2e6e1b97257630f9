"""Who is really calling: ``X-Forwarded-For``/``-Proto`` honoured only from trusted proxies.

A client can put anything in ``X-Forwarded-For``. :class:`TrustedProxies` reads
it only when the direct peer is in ``EMPORIUM_TRUSTED_PROXIES`` (CIDR list,
empty by default: trust nobody), and then takes the rightmost address that is
not itself a trusted proxy, the first one no proxy of ours vouches for. Every
process runs uvicorn with ``proxy_headers=False`` so this is the only place the
decision is made: the gateway's rate limits, access logs and HSTS use it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import Scope

__all__ = ["Peer", "TrustedProxies", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Keeps a hostile chain from costing more than a header's worth of parsing.
_MAX_HOPS = 32
_MAX_ADDRESS = 64  # longer than any IPv6 text form


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "192.0.2.7"]`` as networks; a bare address is a /32 (/128)."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


@dataclass(frozen=True)
class Peer:
    """The caller as this process believes it: address and scheme."""

    address: str
    scheme: str


def _list_header(scope: Scope, name: bytes) -> list[str]:
    """Every comma-separated item of every ``name`` header, in order."""
    items: list[str] = []
    for key, value in scope.get("headers", ()):
        if key == name:
            items += [item.strip() for item in bytes(value).decode("latin-1").split(",")]
    return items


class TrustedProxies:
    """The configured proxies, and the rule for reading their forwarding headers."""

    def __init__(self, cidrs: Iterable[str] = ()) -> None:
        self.networks = parse_networks(cidrs)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def resolve(self, scope: Scope) -> Peer:
        """The client address and scheme for this request."""
        client = scope.get("client")
        peer: str = client[0] if client else "unknown"
        scheme: str = scope.get("scheme", "http")
        if not self.trusts(peer):
            return Peer(peer, scheme)
        hops = _list_header(scope, b"x-forwarded-for")
        address = peer
        for hop in reversed(hops[-_MAX_HOPS:]):
            if not hop:
                continue
            address = hop[:_MAX_ADDRESS]
            if not self.trusts(hop):
                break
        protos = _list_header(scope, b"x-forwarded-proto")
        if protos and protos[-1].lower() in ("http", "https"):
            scheme = protos[-1].lower()
        return Peer(address, scheme)
