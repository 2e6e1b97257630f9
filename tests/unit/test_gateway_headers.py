"""Hop-by-hop headers never cross the proxy; forwarding headers are set by it."""

from __future__ import annotations

from emporium.services.gateway._headers import (
    request_headers,
    response_headers,
    strip_hop_by_hop,
)


def test_hop_by_hop_and_connection_named_headers_are_stripped() -> None:
    headers = [
        (b"Connection", b"keep-alive, X-Private"),
        (b"Keep-Alive", b"timeout=5"),
        (b"TE", b"trailers"),
        (b"Trailer", b"Expires"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Upgrade", b"h2c"),
        (b"Proxy-Authorization", b"Basic x"),
        (b"Proxy-Connection", b"keep-alive"),
        (b"X-Private", b"1"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"Content-Length", b"10"),
    ]
    assert strip_hop_by_hop(headers) == [
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"content-length", b"10"),
    ]


def test_the_upstream_gets_the_resolved_client_not_the_clients_forwarded_chain() -> None:
    incoming = [
        (b"host", b"shop.example"),
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"x-request-id", b"from-client"),
        (b"traceparent", b"00-client"),
        (b"accept", b"application/json"),
        (b"connection", b"close"),
    ]
    out = request_headers(
        incoming, client="192.0.2.7", scheme="https", request_id="rid", traceparent="00-tp"
    )
    assert out == [
        ("accept", "application/json"),
        ("x-forwarded-for", "192.0.2.7"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "shop.example"),
        ("x-request-id", "rid"),
        ("traceparent", "00-tp"),
    ]


def test_the_client_does_not_get_headers_the_gateway_sets_itself() -> None:
    upstream = [
        (b"Date", b"Mon"),
        (b"X-Request-Id", b"rid"),
        (b"Content-Type", b"application/json"),
        (b"Transfer-Encoding", b"chunked"),
    ]
    assert response_headers(upstream) == [(b"content-type", b"application/json")]
