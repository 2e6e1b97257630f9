"""The one client services use to call each other over HTTP."""

from __future__ import annotations

import asyncio
import json as _json
import logging
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import aiohttp
from multidict import CIMultiDict
from prometheus_client import Counter, Histogram

from emporium.chassis import context
from emporium.chassis import deadline as _deadline
from emporium.chassis.http._breaker import BreakerState, CircuitBreaker
from emporium.chassis.http._bulkhead import Bulkhead
from emporium.chassis.http._errors import (
    UpstreamError,
    UpstreamFailure,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from emporium.chassis.http._metrics import ClientMetrics, default_metrics
from emporium.chassis.http._response import Response
from emporium.chassis.http._retry import RetryPolicy, parse_retry_after
from emporium.chassis.http._session import acquire_session, release_session
from emporium.chassis.registry import RegistryEndpoints
from emporium.chassis.tracing import SpanKind, mark_error, span, traceparent_of

__all__ = ["DEFAULT_MAX_CONCURRENT", "DEFAULT_TIMEOUT", "ServiceClient"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0
# Calls in progress to one upstream before the next fails fast (the bulkhead):
# a quarter of the shared pool, so one slow upstream cannot take all of it.
DEFAULT_MAX_CONCURRENT = 64
# aiohttp reads a total timeout of 0 as "no timeout"; never hand it one.
_MIN_ATTEMPT_TIMEOUT = 0.001

# A sequence value repeats the parameter (``{"ids": [a, b]}`` → ``ids=a&ids=b``).
Params = Mapping[str, str | int | float | Sequence[str | int | float]]


class ServiceClient:
    """Calls one upstream service (``name``) at ``base_url``; create one per upstream.

    Every call:

    - carries ``x-request-id``, ``traceparent`` and ``tracestate`` from
      :mod:`emporium.chassis.context` (headers the caller passes win);
    - has a total ``timeout`` per attempt (connect, send, and reading the whole
      body), overridable per call, and an overall ``deadline`` over all attempts;
      both are cut to what is left of the current request's own deadline
      (:mod:`emporium.chassis.deadline`), and each attempt tells the upstream
      its budget in ``X-Emporium-Deadline-Ms``; with no time left nothing is
      sent and :class:`UpstreamTimeout` is raised;
    - passes this upstream's :class:`Bulkhead`: with ``max_concurrent`` calls
      already in progress it raises :class:`UpstreamUnavailable`
      (``reason="bulkhead_full"``) at once rather than wait for a connection;
    - goes through this upstream's :class:`CircuitBreaker`: when it is open the
      call raises :class:`UpstreamUnavailable` at once without touching the network.
      5xx answers, timeouts and connection errors count as failures; other
      answers, 4xx included, show the upstream is alive. The one call that
      probes a half-open breaker waits at most the breaker's ``probe_timeout``
      if it has one;
    - is retried by ``retries`` (a :class:`RetryPolicy`) only if idempotent, and
      only after a timeout, a connection error, or a 429/502/503/504 answer,
      and never once the breaker has left the closed state (the retry could
      only be refused).

    With ``endpoints`` (locally, the launcher's registry) each attempt goes
    straight to one of the upstream's instances, in turn, and ``base_url`` is
    used only while none is listed. An instance that refuses the connection
    received nothing, so the same attempt goes to the next one at once,
    whatever the method, and neither the breaker nor the retry policy counts
    it; the instance is set aside for a moment. An instance that times out is
    set aside too (the timeout counts as usual), so a frozen replica does not
    take every other call of the service down with it.

    A call returns a :class:`Response` for every answer below 500 (4xx included:
    a missing product is the caller's business), and raises an
    :class:`UpstreamFailure` otherwise. Redirects are not followed.

    Without ``session`` the client borrows the process's shared keep-alive pool
    on first use and gives it back on :meth:`close` (or leaving ``async with``).
    A client belongs to the event loop it is first used on.
    """

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        timeout: float = DEFAULT_TIMEOUT,
        retries: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        metrics: ClientMetrics | None = None,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        endpoints: RegistryEndpoints | None = None,
    ) -> None:
        if not name:
            raise ValueError("a ServiceClient needs the upstream's name")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.endpoints = endpoints
        self.timeout = timeout
        self.retries = retries if retries is not None else RetryPolicy()
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self._headers = CIMultiDict(headers or {})
        self._own_session = session
        self._borrowed: aiohttp.ClientSession | None = None
        self._closed = False
        self._metrics = metrics if metrics is not None else default_metrics()
        self._latency: Histogram = self._metrics.latency.labels(name)
        self._counters: dict[tuple[str, str], Counter] = {}
        self._metrics.breaker_state.labels(name).set(self.breaker.state)
        self.bulkhead = Bulkhead(max_concurrent, on_change=self._metrics.in_flight.labels(name).set)
        self.breaker.add_listener(self._on_breaker_change)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Give back the shared pool (a session passed in is left to its owner)."""
        self._closed = True
        if self._borrowed is not None:
            borrowed, self._borrowed = self._borrowed, None
            await release_session(borrowed)

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def head(self, path: str, **kwargs: Any) -> Response:
        return await self.request("HEAD", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Response:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Response:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Response:
        return await self.request("DELETE", path, **kwargs)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        # Per-call timeouts are this client's contract (as in httpx and aiohttp),
        # applied per attempt inside the retry loop, which asyncio.timeout cannot do.
        timeout: float | None = None,  # noqa: ASYNC109
        deadline: float | None = None,
    ) -> Response:
        """Send ``method path`` and return the answer; see the class for the rules.

        ``json`` is serialized once (``data`` sends raw bytes instead).
        ``idempotent=True`` lets a POST or PATCH be retried; ``False`` stops a
        GET from being retried. ``timeout`` replaces the per-attempt timeout and
        ``deadline`` the policy's overall deadline, for this call only.
        """
        if self._closed:
            raise RuntimeError(f"ServiceClient {self.name!r} is closed")
        method = method.upper()
        send_headers = self._outgoing_headers(headers)
        if json is not None:
            if data is not None:
                raise ValueError("pass json or data, not both")
            data = _json.dumps(json, separators=(",", ":")).encode()
            send_headers.setdefault("Content-Type", "application/json")
        policy = self.retries
        may_retry = policy.may_retry(method, idempotent)
        attempt_timeout = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + (policy.deadline if deadline is None else deadline)
        if (left := _deadline.remaining()) is not None:
            ends_at = min(ends_at, loop.time() + left)
            if left <= 0:
                self._count(method, "deadline")
                raise UpstreamTimeout(
                    self.name, f"the caller's deadline passed, {method} {path} not sent"
                )
        if not self.bulkhead.try_enter():
            self._count(method, "bulkhead_full")
            raise UpstreamUnavailable(
                self.name,
                f"{self.bulkhead.limit} calls already in progress, {method} {path} not sent",
                reason="bulkhead_full",
            )
        try:
            return await self._attempts(
                method, path, data, params, send_headers, may_retry, attempt_timeout, ends_at
            )
        finally:
            self.bulkhead.leave()

    async def _attempts(
        self,
        method: str,
        path: str,
        data: bytes | None,
        params: Params | None,
        send_headers: CIMultiDict[str],
        may_retry: bool,
        attempt_timeout: float,
        ends_at: float,
    ) -> Response:
        policy = self.retries
        loop = asyncio.get_running_loop()
        session = self._session()
        has_deadline_header = _deadline.HEADER in send_headers
        target = path.lstrip("/")
        refused: list[str] = []  # instances that refused this call's connection
        attempts = 0
        while True:
            permit = self.breaker.acquire()
            if permit is None:
                self._count(method, "circuit_open")
                raise UpstreamUnavailable(
                    self.name,
                    f"circuit open, {method} {path} not sent",
                    reason="circuit_open",
                    attempts=attempts,
                    retry_after=self.breaker.cooldown_remaining(),
                )
            attempts += 1
            instance = self.endpoints.pick(refused) if self.endpoints is not None else None
            url = f"{instance or self.base_url}/{target}"
            budget = min(attempt_timeout, ends_at - loop.time())
            if permit.probe and self.breaker.probe_timeout is not None:
                # The breaker is testing an upstream that was failing: this caller
                # alone waits for the answer, and not a whole timeout of it.
                budget = min(budget, self.breaker.probe_timeout)
            budget = max(_MIN_ATTEMPT_TIMEOUT, budget)
            # The upstream stops when we stop waiting (a caller's own header wins).
            if not has_deadline_header:
                send_headers[_deadline.HEADER] = _deadline.format_remaining(budget)
            retry_after: float | None = None
            outcome: Response | UpstreamFailure
            started = time.perf_counter()
            try:
                response = await self._send_once(
                    session, method, url, data, send_headers, params, budget
                )
            except aiohttp.InvalidURL:
                self.breaker.release(permit)  # our mistake, not the upstream's
                raise
            except TimeoutError as exc:
                self._observe(method, "timeout", started)
                self.breaker.record_failure(permit)
                if instance is not None:
                    # Frozen or swamped: a retry, and the next calls, go elsewhere.
                    assert self.endpoints is not None
                    self.endpoints.set_aside(instance)
                outcome = UpstreamTimeout(
                    self.name, f"{method} {path} timed out after {budget:.3f}s", attempts=attempts
                )
                outcome.__cause__ = exc
                reason = "timeout"
            except aiohttp.ClientError as exc:
                if instance is not None and isinstance(exc, aiohttp.ClientConnectorError):
                    # Nothing was sent: the next instance takes the same attempt.
                    assert self.endpoints is not None
                    self._count(method, "refused")
                    self.endpoints.set_aside(instance)
                    self.breaker.release(permit)
                    refused.append(instance)
                    attempts -= 1
                    continue
                self._observe(method, "connection_error", started)
                self.breaker.record_failure(permit)
                outcome = UpstreamUnavailable(
                    self.name,
                    f"{method} {path} failed: {exc!r}",
                    reason="connection",
                    attempts=attempts,
                )
                outcome.__cause__ = exc
                reason = "connection"
            except BaseException:  # cancelled: no verdict on the upstream
                self.breaker.release(permit)
                raise
            else:
                status = response.status
                self._observe(method, f"{status // 100}xx", started)
                if status >= 500:
                    self.breaker.record_failure(permit)
                else:
                    self.breaker.record_success(permit)
                if status not in policy.retry_statuses:
                    if status >= 500:
                        raise UpstreamError(self.name, response, attempts=attempts)
                    return response
                outcome = (
                    UpstreamError(self.name, response, attempts=attempts)
                    if status >= 500
                    else response
                )
                reason = str(status)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))

            delay = policy.delay_before(attempts, retry_after) if may_retry else None
            # A breaker that is not closed (this failure opened it, or a failed
            # probe reopened it) would refuse the retry: answer now, not after the wait.
            closed = self.breaker.state is BreakerState.CLOSED
            if delay is None or not closed or loop.time() + delay >= ends_at:
                if isinstance(outcome, Response):
                    return outcome  # a 429 we may not retry: the caller decides
                raise outcome
            self._metrics.retries.labels(self.name, reason).inc()
            logger.info(
                "retrying %s %s on %s after %s (attempt %d) in %.3fs",
                method,
                path,
                self.name,
                reason,
                attempts,
                delay,
                extra={"upstream": self.name, "reason": reason, "attempt": attempts},
            )
            await asyncio.sleep(delay)

    async def _send_once(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        data: bytes | None,
        headers: CIMultiDict[str],
        params: Params | None,
        budget: float,
    ) -> Response:
        with span(
            f"{method} {self.name}",
            SpanKind.CLIENT,
            attributes={"http.request.method": method, "server.address": self.name},
        ) as client:
            if client is not None:
                headers["traceparent"] = traceparent_of(client)
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                params=params,
                timeout=aiohttp.ClientTimeout(total=budget),
                allow_redirects=False,
            ) as raw:
                content = await raw.read()
                if client is not None:
                    client.set_attribute("http.response.status_code", raw.status)
                    if raw.status >= 500:
                        mark_error(client, f"HTTP {raw.status}")
                return Response(raw.status, raw.headers, content)

    def _session(self) -> aiohttp.ClientSession:
        if self._own_session is not None:
            return self._own_session
        if self._borrowed is None:
            self._borrowed = acquire_session()
        return self._borrowed

    def _outgoing_headers(self, extra: Mapping[str, str] | None) -> CIMultiDict[str]:
        headers = self._headers.copy()
        if (request_id := context.request_id.get()) is not None:
            headers["x-request-id"] = request_id
        if (traceparent := context.traceparent.get()) is not None:
            headers["traceparent"] = traceparent
            # tracestate means nothing without the traceparent it belongs to.
            if (tracestate := context.tracestate.get()) is not None:
                headers["tracestate"] = tracestate
        if extra:
            headers.update(extra)
        return headers

    def _observe(self, method: str, status_class: str, started: float) -> None:
        self._latency.observe(time.perf_counter() - started)
        self._count(method, status_class)

    def _count(self, method: str, status_class: str) -> None:
        key = (method, status_class)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._metrics.requests.labels(
                self.name, method, status_class
            )
        counter.inc()

    def _on_breaker_change(self, old: BreakerState, new: BreakerState) -> None:
        self._metrics.breaker_state.labels(self.name).set(new)
        log = logger.warning if new is BreakerState.OPEN else logger.info
        log(
            "circuit breaker for %s: %s -> %s",
            self.name,
            old.name,
            new.name,
            extra={"upstream": self.name, "breaker_state": new.name},
        )
