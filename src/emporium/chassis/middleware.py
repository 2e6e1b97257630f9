"""The request pipeline every service shares, as one pure ASGI middleware.

It assigns or forwards the request id (kept only if it is at most 128
characters of ``[A-Za-z0-9._-]``: it is echoed in headers and logs, so a
hostile one must not get that far) and W3C trace context, resolves the
client's address and scheme (forwarding headers only from trusted proxies,
see :mod:`emporium.chassis.forwarded`), enforces the
request body limit (413), answers an unhandled error with a 500 problem that
still carries the request id, records metrics per route template, and writes
one access-log line per request. Pure ASGI rather than ``BaseHTTPMiddleware``:
it streams bodies untouched and costs far less per request.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emporium.chassis import context
from emporium.chassis.forwarded import TrustedProxies
from emporium.chassis.metrics import REQUEST_LATENCY, REQUESTS
from emporium.chassis.overload._budget import BUDGET_PATH
from emporium.chassis.problems import problem_response
from emporium.chassis.tracing import SpanKind, Tracing, mark_error, span, use_tracing

__all__ = ["RequestContextMiddleware", "acceptable_request_id", "new_traceparent"]

logger = logging.getLogger("emporium.access")

_UNTRACKED = frozenset(
    {"/metrics", "/health/live", "/health/ready", "/internal/spans", "/internal/fault", BUDGET_PATH}
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_READS = frozenset({"GET", "HEAD"})


def acceptable_request_id(value: str | None) -> str | None:
    """``value`` if it is a request id we may echo and log, else None (make a new one)."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value
    return None


def new_traceparent(parent: str | None = None) -> str:
    """A traceparent for this hop: same trace id as the parent, a new span id."""
    if parent is not None:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
            return f"{parts[0]}-{parts[1]}-{secrets.token_hex(8)}-{parts[3]}"
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


async def send_with_headers_after_error(
    response: Response, scope: Scope, receive: Receive, send: Send, rid: str
) -> None:
    response.headers["x-request-id"] = rid
    await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class RequestContextMiddleware:
    """Request id, trace context, body limit, metrics and access log."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        instance: str,
        max_body: int,
        trusted_proxies: TrustedProxies | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.app = app
        self.tracing = tracing
        self.service = service
        self.instance = instance
        self.max_body = max_body
        self.trusted = trusted_proxies or TrustedProxies()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.trusted:
            # Behind a trusted proxy: the client and scheme it vouches for,
            # for everything inside (rate limits, logs, the proxy's headers).
            peer = self.trusted.resolve(scope)
            scope = {**scope, "client": (peer.address, 0), "scheme": peer.scheme}
        # Each request runs in a task of its own; make this service's tracing
        # current in it (tests run several services in one process).
        use_tracing(self.tracing)
        rid = acceptable_request_id(_header(scope, b"x-request-id")) or secrets.token_hex(16)
        incoming = _header(scope, b"traceparent")
        if path in _UNTRACKED:
            # Probes and scrapes: no span (they would crowd real traces out of the ring).
            tp_token = context.traceparent.set(new_traceparent(incoming))
            try:
                await self._handle(scope, receive, send, rid)
            finally:
                context.traceparent.reset(tp_token)
            return
        method: str = scope["method"]
        with span(
            method,
            SpanKind.SERVER,
            parent=incoming,
            remote_parent=True,
            read=method in _READS,
            attributes={"http.request.method": method, "url.path": path, "request_id": rid},
        ) as server:
            state = await self._handle(scope, receive, send, rid)
            if server is not None:
                route = scope.get("route")
                template = getattr(route, "path", None)
                status = int(state["status"])
                # A catch-all (the gateway's proxy) says less than the path itself.
                named = path if not template or template.endswith(":path}") else template
                server.update_name(f"{method} {named}")
                server.set_attribute("http.response.status_code", status)
                if template:
                    server.set_attribute("http.route", template)
                if status >= 500:
                    mark_error(server, f"HTTP {status}")

    async def _handle(self, scope: Scope, receive: Receive, send: Send, rid: str) -> dict[str, Any]:
        path: str = scope["path"]
        rid_token = context.request_id.set(rid)
        state: dict[str, Any] = {"status": 500, "started": False}
        start = time.perf_counter()

        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            # Refused before reading a byte; a chunked body is counted as it is read.
            state["status"] = 413
            response = problem_response(
                413, f"Request body exceeds {self.max_body} bytes", instance=path
            )
            await send_with_headers_after_error(response, scope, receive, send, rid)
            self._record(scope, state, start)
            context.request_id.reset(rid_token)
            return state

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    # An HTTPException passes through FastAPI's body parsing
                    # untouched and reaches the problem handler as a 413.
                    raise HTTPException(413, f"Request body exceeds {self.max_body} bytes")
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except Exception:
            # Answered here rather than by Starlette's outermost error handler,
            # so the 500 still carries the request id (body and header).
            state["status"] = 500
            if state["started"]:
                raise
            logger.exception("unhandled error on %s %s", scope["method"], path)
            response = problem_response(
                500, "An unexpected error occurred; it has been logged", instance=path
            )
            await send_with_headers_after_error(response, scope, receive, send, rid)
        finally:
            self._record(scope, state, start)
            context.request_id.reset(rid_token)
        return state

    def _record(self, scope: Scope, state: dict[str, Any], start: float) -> None:
        path: str = scope["path"]
        if path in _UNTRACKED:
            return
        elapsed = time.perf_counter() - start
        route = scope.get("route")
        template: str = getattr(route, "path", None) or "<unmatched>"
        method: str = scope["method"]
        status = int(state["status"])
        REQUESTS.labels(self.service, self.instance, method, template, str(status)).inc()
        client = scope.get("client")
        REQUEST_LATENCY.labels(self.service, method, template).observe(elapsed)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s %s %d",
                method,
                path,
                status,
                extra={
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "route": template,
                    "client": client[0] if client else None,
                },
            )
