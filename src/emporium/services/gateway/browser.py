"""Browser-facing headers on every gateway response: security headers and CORS.

The outermost middleware, so even the chassis' own errors carry them. Security
headers are added unless the upstream set its own; HSTS only over HTTPS
(announcing it over plain HTTP is meaningless and would pin a laptop's
localhost to HTTPS): HTTPS to the gateway itself, or ``X-Forwarded-Proto:
https`` from a trusted proxy that terminated TLS (never from anyone else).
CORS is answered only for ``cors_origins``: a preflight from an allowed origin
gets a 204 here, from any other origin a 403 problem.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emporium.chassis.forwarded import TrustedProxies
from emporium.chassis.problems import problem_response

__all__ = ["CONTENT_SECURITY_POLICY", "BrowserSecurityMiddleware"]

# A server-rendered shop: everything from our own origin, nothing inline,
# no plugins, no framing, forms only back to us.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
)
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_ALLOW_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_ALLOW_HEADERS = b"authorization, content-type, idempotency-key, x-request-id"
_EXPOSE_HEADERS = b"retry-after, x-request-id, location"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class BrowserSecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        cors_origins: Sequence[str] = (),
        trusted_proxies: TrustedProxies | None = None,
    ) -> None:
        self.app = app
        self.origins = frozenset(origin.rstrip("/").encode() for origin in cors_origins)
        # Outside the chassis middleware, so it resolves the scheme itself.
        self.trusted = trusted_proxies or TrustedProxies()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        allowed = origin is not None and origin in self.origins
        extra = list(_SECURITY)
        if self.trusted.resolve(scope).scheme == "https":
            extra.append(_HSTS)
        if origin is not None:
            extra.append((b"vary", b"Origin"))
        if allowed and origin is not None:
            extra += [
                (b"access-control-allow-origin", origin),
                (b"access-control-expose-headers", _EXPOSE_HEADERS),
            ]
        preflight = _header(scope, b"access-control-request-method") is not None
        if scope["method"] == "OPTIONS" and origin is not None and preflight:
            await self._preflight(scope, receive, send, allowed, extra)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(n, v) for n, v in extra if n not in present or n == b"vary"]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _preflight(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        allowed: bool,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        if not allowed:
            response = problem_response(
                403, "This origin may not call the API from a browser", instance=scope["path"]
            )
            response.raw_headers.extend(extra)
            await response(scope, receive, send)
            return
        headers = [
            *extra,
            (b"access-control-allow-methods", _ALLOW_METHODS),
            (b"access-control-allow-headers", _ALLOW_HEADERS),
            (b"access-control-max-age", b"600"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
