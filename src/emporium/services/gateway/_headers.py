"""Header rewriting for the proxy: hop-by-hop stripping and forwarding headers.

Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection, so they
never cross the proxy in either direction, nor do headers the ``Connection``
header names. Everything else passes through untouched, in order, repeated
headers included.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HOP_BY_HOP", "request_headers", "response_headers", "strip_hop_by_hop"]

HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)

# Set by the proxy itself, so any client-sent value must not pass as well. A
# client's X-Forwarded-For is dropped too: the chassis already resolved the
# client (believing the header only from a trusted proxy), and services get
# that one address, never a chain a client could have written.
_REPLACED_UPSTREAM = frozenset(
    {
        b"host",
        b"x-request-id",
        b"traceparent",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        # The proxy sends the remaining time it computed (the client's, if
        # shorter than the gateway's own timeout): see the chassis' deadline.
        b"x-emporium-deadline-ms",
    }
)
# Added again by the gateway's own server (uvicorn) and middleware.
_REPLACED_DOWNSTREAM = frozenset({b"date", b"x-request-id"})

Headers = Iterable[tuple[bytes, bytes]]


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            tokens.update(token.strip() for token in value.lower().split(b","))
    return frozenset(tokens)


def strip_hop_by_hop(headers: Headers) -> list[tuple[bytes, bytes]]:
    """The headers minus hop-by-hop ones, with names lower-cased."""
    lowered = [(name.lower(), value) for name, value in headers]
    dropped = HOP_BY_HOP | _connection_tokens(lowered)
    return [
        (name, value)
        for name, value in lowered
        if name not in dropped and not name.startswith(b"proxy-")
    ]


def request_headers(
    headers: Headers,
    *,
    client: str | None,
    scheme: str,
    request_id: str | None,
    traceparent: str | None,
) -> list[tuple[str, str]]:
    """What the upstream receives: the client's end-to-end headers plus forwarding ones.

    ``client`` and ``scheme`` are the ones the chassis resolved for this request.
    """
    out: list[tuple[str, str]] = []
    host = ""
    for name, value in strip_hop_by_hop(headers):
        if name == b"host":
            host = value.decode("latin-1")
        elif name not in _REPLACED_UPSTREAM:
            out.append((name.decode("latin-1"), value.decode("latin-1")))
    if client:
        out.append(("x-forwarded-for", client))
    out.append(("x-forwarded-proto", scheme))
    if host:
        out.append(("x-forwarded-host", host))
    if request_id:
        out.append(("x-request-id", request_id))
    if traceparent:
        out.append(("traceparent", traceparent))
    return out


def response_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    """What the client receives from the upstream's raw response headers."""
    return [
        (name, value)
        for name, value in strip_hop_by_hop(headers)
        if name not in _REPLACED_DOWNSTREAM
    ]
