"""The reverse proxy: a raw ASGI endpoint mounted last in the gateway's app.

It runs inside the chassis middleware, so request id, trace context, the body
limit (413), per-route metrics and the access log are already handled. Per
request it resolves the service from the path, asks the :class:`Balancer` for
an instance and streams the request and the response through one pooled
aiohttp session, without buffering either body.

Failure handling, in order of when it can happen:

- unknown service → 404; known service with no available instance → 503 at
  once, with ``Retry-After: 1``; so is a service whose bulkhead is full
  (``max_in_flight`` requests already in progress to it), and a route whose
  service reported no room left in its budget (:mod:`.budgets`), with the
  ``Retry-After`` it reported;
- connection refused or connect timeout (nothing was sent) → the instance is
  ejected and the request goes to another instance, whatever its method;
- connection lost before any response byte → ejected; retried elsewhere only
  for idempotent methods whose request body was not yet read;
- no response headers within the service's timeout, or within what is left of
  the client's own deadline if that is shorter → 504. The upstream is told the
  same budget in ``X-Emporium-Deadline-Ms``, so it stops when the gateway does;
- a failure after the response started can only cut the response short.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

import aiohttp
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from yarl import URL

from emporium.chassis import context, deadline
from emporium.chassis.http import Bulkhead
from emporium.chassis.overload import BUDGET
from emporium.chassis.problems import UPSTREAM_DOWN, problem_response
from emporium.chassis.tracing import SpanKind, span
from emporium.services.gateway._headers import request_headers, response_headers
from emporium.services.gateway.balancer import Balancer
from emporium.services.gateway.budgets import Budgets
from emporium.services.gateway.cache import CACHED_SERVICE, ResponseCache
from emporium.services.gateway.metrics import (
    BUDGET_REJECTED,
    BULKHEAD_IN_FLIGHT,
    BULKHEAD_REJECTED,
    UPSTREAM_LATENCY,
    UPSTREAM_REQUESTS,
)
from emporium.services.gateway.registry import Instance, Upstreams
from emporium.services.gateway.settings import GatewaySettings

__all__ = [
    "IDEMPOTENT",
    "Proxy",
    "ProxyShortcut",
    "ProxyTable",
    "admission_partition",
    "service_for",
]

logger = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
# A response up to this size is read whole and sent to the client in one
# message: one trip through the middleware's send wrappers instead of two.
_WHOLE_BODY_MAX = 64 * 1024
# Headers aiohttp would otherwise invent; a proxy must not add what the client did not send
# (an invented Accept-Encoding would even get the client a body it cannot decode).
_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


def service_for(path: str) -> str:
    """The service that owns ``path``: ``/api/<service>/...``, jwks, else the storefront."""
    if path.startswith("/api/") or path == "/api":
        return path[5:].split("/", 1)[0]
    if path == "/.well-known/jwks.json":
        return "identity"
    return "storefront"


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def admission_partition(
    upstreams: Upstreams, cache: ResponseCache | None = None
) -> Callable[[Scope], str | None]:
    """The chassis' admission partition of a proxied request: ``"<service> read|write"``.

    One adaptive limit per service and kind: a service's reads and writes take
    very different times, and a slow service must not shed another's traffic.
    Paths of no known service (the gateway's own routes) are not limited, nor
    is a long poll (:func:`is_long_poll`): it takes as long as the caller asked
    it to wait, which the limit would read as queueing, shrinking itself until
    it shed the service's every read. Nor is a read the ``cache`` will answer:
    it never reaches the service, and its sub-millisecond latency would set
    the limit's baseline, so that the reads that do reach catalog looked
    queued, and a slow catalog would hide behind a median of kept answers.
    """

    def partition(scope: Scope) -> str | None:
        service = service_for(scope["path"])
        if upstreams.get(service) is None or is_long_poll(scope):
            return None
        if cache is not None and service == CACHED_SERVICE and cache.holds(scope):
            return None
        return f"{service} {'read' if scope['method'] in _READS else 'write'}"

    return partition


# The API's one long poll (docs/api.md): GET /api/orders/{id}?wait=S.
_LONG_POLL = re.compile(r"/api/orders/[^/]+")
_WAIT = re.compile(rb"(?:^|&)wait=(?!0*(?:\.0*)?(?:&|$))")


def is_long_poll(scope: Scope) -> bool:
    """Whether the request asks to be held: ``GET /api/orders/{id}`` with a ``wait`` above 0."""
    return (
        scope["method"] == "GET"
        and _LONG_POLL.fullmatch(scope["path"]) is not None
        and _WAIT.search(scope.get("query_string", b"")) is not None
    )


class _ClientGone(Exception):
    """The client disconnected while its request body was being forwarded."""


class _RequestBody:
    """The client's request body as an async stream, read at most once.

    ``started`` tells the retry logic whether any of it has been consumed;
    ``error`` keeps what reading raised (the chassis' body-limit exception,
    say), because aiohttp reports body failures as its own errors.
    """

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.started = False
        self.error: BaseException | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        self.started = True
        more = True
        while more:
            try:
                message: Message = await self._receive()
            except BaseException as exc:
                self.error = exc
                raise
            if message["type"] == "http.disconnect":
                self.error = _ClientGone()
                raise self.error
            more = bool(message.get("more_body", False))
            chunk: bytes = message.get("body", b"")
            if chunk:
                yield chunk


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bytes(value) != b"0"
        if name == b"transfer-encoding":
            return True
    return False


class Proxy:
    """The ASGI endpoint that forwards to upstreams; a component that owns the pool."""

    def __init__(
        self,
        settings: GatewaySettings,
        upstreams: Upstreams,
        balancer: Balancer,
        *,
        confirm_starting: Callable[[str], Awaitable[bool]] | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.settings = settings
        # Catalog's public answers, kept for seconds (decision 0031).
        self.cache = cache
        self.upstreams = upstreams
        self.balancer = balancer
        # With no instance ready: check the service's starting ones now (discovery).
        self.confirm_starting = confirm_starting
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[str, aiohttp.ClientTimeout] = {}
        self._bulkheads: dict[str, Bulkhead] = {}
        self.budgets = Budgets(
            upstreams,
            balancer,
            lambda: self.session,
            poll_interval=settings.budget_poll_interval,
            ttl=settings.budget_ttl,
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the gateway proxy is not started")
        return self._session

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0,
            limit_per_host=self.settings.pool_per_host,
            # Below uvicorn's 5 s keep-alive, so the gateway closes an idle
            # connection before the upstream does and never writes into one
            # the upstream is closing.
            keepalive_timeout=4.0,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_SKIP_AUTO_HEADERS,
        )

    async def stop(self) -> None:
        await self.budgets.stop()
        if self._session is not None:
            await self._session.close()

    async def ready(self) -> bool:
        return self._session is not None and not self._session.closed

    def bulkhead(self, service: str) -> Bulkhead:
        """The service's bulkhead (made on first use; only for services discovery knows)."""
        found = self._bulkheads.get(service)
        if found is None:
            found = self._bulkheads[service] = Bulkhead(
                self.settings.max_in_flight_for(service),
                on_change=BULKHEAD_IN_FLIGHT.labels(service).set,
            )
        return found

    def _timeout(self, service: str) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(service)
        if timeout is None:
            # sock_read bounds a stalled response body; the wait for headers is
            # bounded separately so it maps cleanly onto 504.
            timeout = aiohttp.ClientTimeout(
                total=None,
                sock_connect=self.settings.connect_timeout,
                sock_read=self.settings.timeout_for(service),
            )
            self._timeouts[service] = timeout
        return timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        service = service_for(path)
        instances = self.upstreams.get(service)
        if instances is None:
            detail = f"unknown service {service!r}" if service else "no service in the path"
            await problem_response(404, detail, instance=path)(scope, receive, send)
            return
        method: str = scope["method"]
        if self.cache is not None and service == CACHED_SERVICE:
            if method not in _READS:
                try:
                    await self._pass_on(scope, receive, send, service, instances, method, path)
                finally:
                    # Whoever writes through this gateway reads the write back at once.
                    self.cache.forget()
                return
            if (key := self.cache.key(scope)) is not None:
                if (kept := self.cache.get(key)) is not None:
                    await self.cache.replay(kept, scope, send)
                    return
                send = self.cache.filling(key, send)
        await self._pass_on(scope, receive, send, service, instances, method, path)

    async def _pass_on(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        service: str,
        instances: list[Instance],
        method: str,
        path: str,
    ) -> None:
        """Forward the request, unless the service's budget or bulkhead refuses it."""
        raw_path: bytes = scope.get("raw_path") or path.encode()
        query: bytes = scope.get("query_string", b"")
        target = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        if self.budgets.tracked and (retry := self.budgets.take((service, method, path))):
            BUDGET_REJECTED.labels(service).inc()
            response = problem_response(
                503,
                f"{service} reported no room for {method} {path} now; the gateway refused "
                "the request on its behalf and forwarded nothing; try again later",
                instance=path,
                headers={"Retry-After": str(retry)},
            )
            await response(scope, receive, send)
            return
        bulkhead = self.bulkhead(service)
        if not bulkhead.try_enter():
            BULKHEAD_REJECTED.labels(service).inc()
            response = problem_response(
                503,
                f"{service!r} has {bulkhead.limit} requests in progress already; try again shortly",
                instance=path,
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        try:
            with span(
                f"{method} {service}",
                SpanKind.CLIENT,
                attributes={"http.request.method": method, "server.address": service},
            ):
                await self._proxy(scope, receive, send, service, instances, method, target, path)
        finally:
            bulkhead.leave()

    async def _proxy(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        service: str,
        instances: list[Instance],
        method: str,
        target: str,
        path: str,
    ) -> None:
        client = scope.get("client")
        headers = request_headers(
            scope["headers"],
            client=client[0] if client else None,
            scheme=scope.get("scheme", "http"),
            request_id=context.request_id.get(),
            traceparent=context.traceparent.get(),
        )
        # The client's deadline, if shorter than ours, bounds the whole exchange.
        budget = self.settings.timeout_for(service)
        if (left := deadline.remaining()) is not None:
            budget = min(budget, left)
        ends_at = asyncio.get_running_loop().time() + budget
        body = _RequestBody(receive) if _has_body(scope) else None
        tried: list[Instance] = []
        confirmed = self.confirm_starting is None
        while True:
            instance = self.balancer.pick(service, instances, exclude=tried)
            if instance is None and not tried and not confirmed:
                confirmed = True
                assert self.confirm_starting is not None
                if await self.confirm_starting(service):
                    # One became ready since the last look (perhaps a new one).
                    instances = self.upstreams.get(service) or instances
                    continue
            if instance is None:
                await self._unavailable(service, path, tried, scope, receive, send)
                return
            tried.append(instance)
            retry = await self._forward(
                instance, service, method, target, headers, body, scope, receive, send, ends_at
            )
            if not retry or len(tried) > 1:
                if retry:
                    await self._unavailable(service, path, tried, scope, receive, send)
                return

    async def _unavailable(
        self,
        service: str,
        path: str,
        tried: list[Instance],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        # Either way nothing reached a service, so the request is safe to repeat:
        # 503 with Retry-After, whether the last instance just died or none is up.
        # Marked as a service down, not short of capacity: the gateway's limit for
        # it must not shrink, or it would go on refusing once the service is back.
        if tried:
            detail = f"no instance of {service!r} could be reached"
        else:
            detail = f"no instance of {service!r} is ready"
        headers = {"Retry-After": "1", UPSTREAM_DOWN: service}
        response = problem_response(503, detail, instance=path, headers=headers)
        await response(scope, receive, send)

    async def _forward(
        self,
        instance: Instance,
        service: str,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: _RequestBody | None,
        scope: Scope,
        receive: Receive,
        send: Send,
        ends_at: float,
    ) -> bool:
        """Send one attempt; True means it failed safely and may be retried elsewhere."""
        instance.in_flight += 1
        instance.requests += 1
        started = time.perf_counter()
        left = ends_at - asyncio.get_running_loop().time()
        budget = [(deadline.HEADER, deadline.format_remaining(left))]
        try:
            try:
                async with asyncio.timeout_at(ends_at):
                    response = await self.session.request(
                        method,
                        URL(instance.url + target, encoded=True),
                        headers=headers + budget,
                        data=body.chunks() if body is not None else None,
                        allow_redirects=False,
                        timeout=self._timeout(service),
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                if body is not None and body.error is not None:
                    raise body.error from exc
                return await self._failed(instance, service, method, body, exc, scope, send)
            UPSTREAM_LATENCY.labels(service).observe(time.perf_counter() - started)
            status = response.status
            UPSTREAM_REQUESTS.labels(
                service, instance.name, _STATUS_CLASS.get(status // 100, "other")
            ).inc()
            self.balancer.responded(instance, status)
            if status == 503 and BUDGET in response.headers:
                self.budgets.refused((service, method, scope["path"]))
            try:
                await self._relay(response, method, send)
            finally:
                response.release()
            return False
        finally:
            instance.in_flight -= 1

    async def _failed(
        self,
        instance: Instance,
        service: str,
        method: str,
        body: _RequestBody | None,
        exc: BaseException,
        scope: Scope,
        send: Send,
    ) -> bool:
        path: str = scope["path"]
        nothing_sent = isinstance(
            exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError
        )
        if nothing_sent or isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
            UPSTREAM_REQUESTS.labels(service, instance.name, "error").inc()
            self.balancer.connection_failed(instance)
            logger.warning("%s %s: connection failed: %r", instance.name, instance.url, exc)
            body_intact = body is None or not body.started
            if body_intact and (nothing_sent or method in IDEMPOTENT):
                return True
            response = problem_response(502, f"the connection to {service!r} failed", instance=path)
        elif isinstance(exc, TimeoutError):
            UPSTREAM_REQUESTS.labels(service, instance.name, "timeout").inc()
            instance.failures += 1
            response = problem_response(504, f"{service!r} did not answer in time", instance=path)
        else:
            UPSTREAM_REQUESTS.labels(service, instance.name, "error").inc()
            instance.failures += 1
            logger.warning("%s %s: bad upstream response: %r", instance.name, instance.url, exc)
            response = problem_response(502, f"{service!r} sent a bad response", instance=path)
        await response(scope, _no_receive, send)
        return False

    async def _relay(self, response: aiohttp.ClientResponse, method: str, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": response_headers(response.raw_headers),
            }
        )
        if method == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        length = response.content_length
        try:
            if length is not None and length <= _WHOLE_BODY_MAX:
                body = await response.read()
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Too late for a problem response: leaving it incomplete makes
            # the server cut the connection, which is how the client learns.
            logger.warning("upstream response cut short: %r", exc)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _claim(path: str) -> str:
    """The part of a path that decides who answers it: ``/api/<name>`` or ``/<first>``."""
    parts = path.split("/", 3)
    if len(parts) > 2 and parts[1] == "api":
        return f"/api/{parts[2]}"
    return f"/{parts[1]}" if len(parts) > 1 else "/"


def _route_paths(routes: Iterable[Any]) -> Iterator[str | None]:
    """Every route's path, into included routers; None for one whose path is unknown."""
    for route in routes:
        if hasattr(route, "effective_candidates"):  # FastAPI's included router
            yield from _route_paths(route.effective_candidates())
        else:
            path = getattr(route, "path", None)
            yield path if isinstance(path, str) else None


class ProxyTable:
    """Which paths only the proxy can answer, known once the gateway's routes are final.

    :meth:`bind` takes the app's routes and its catch-all proxy route: every
    other route claims its ``/api/<name>`` or first segment, and a request
    whose path no route claims goes straight to the proxy. If any route's
    claim holds a parameter, nothing is claimed safely and no shortcut is taken.
    """

    def __init__(self) -> None:
        self.catch_all: Any = None
        self.claimed: frozenset[str] | None = None

    def bind(self, routes: Sequence[Any], catch_all: Any) -> None:
        paths = list(_route_paths(r for r in routes if r is not catch_all))
        claims = {_claim(path) for path in paths if path is not None}
        self.catch_all = catch_all
        safe = None not in paths and not any("{" in claim for claim in claims)
        self.claimed = frozenset(claims) if safe else None

    def owns(self, path: str) -> bool:
        return self.claimed is not None and _claim(path) not in self.claimed


class ProxyShortcut:
    """Sends bodiless requests for proxied paths to the proxy directly.

    Innermost of the gateway's middleware: the chassis context (ids, trace,
    metrics, access log, body limit), the edge (tokens, rate limits) and the
    browser headers have all run. What it skips is only the framework's
    routing (a scan of every route, each a regex) and its exception and
    dependency layers, which the raw proxy endpoint never used. The scope
    gets the catch-all route, as routing would have given it, so metrics and
    span names stay the same. Requests with a body take the usual way, where
    a 413 raised while streaming it becomes a problem response.
    """

    def __init__(self, app: ASGIApp, *, proxy: Proxy, table: ProxyTable) -> None:
        self.app = app
        self.proxy = proxy
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _has_body(scope) and self.table.owns(scope["path"]):
            scope["route"] = self.table.catch_all
            scope["endpoint"] = self.proxy
            scope["path_params"] = {"path": scope["path"][1:]}
            await self.proxy(scope, receive, send)
            return
        await self.app(scope, receive, send)
