"""ServiceClient against a real aiohttp server on a free loopback port.

The server counts hits per path, so "no retry" and "fails fast without calling"
are checked by what arrived, not by timing. Breaker cool-downs use a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict
from prometheus_client import CollectorRegistry

from emporium.chassis import context, deadline
from emporium.chassis.http import (
    NO_RETRIES,
    BreakerState,
    CircuitBreaker,
    ClientMetrics,
    RetryPolicy,
    ServiceClient,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from emporium.chassis.registry import RegistryEndpoints, RegistryFile
from tests._poll import eventually_async

FAST_RETRIES = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, deadline=5.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Upstream:
    """A scriptable upstream: every path's behaviour is set by its query string."""

    def __init__(self) -> None:
        self.url = ""
        self.hits: Counter[str] = Counter()
        self.last_headers: CIMultiDict[str] = CIMultiDict()
        self.release_slow = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/flaky/{key}", self.flaky)
        app.router.add_route("*", "/status/{code}", self.status)
        app.router.add_get("/slow", self.slow)
        app.router.add_route("*", "/echo", self.echo)
        return app

    def _hit(self, request: web.Request) -> int:
        self.hits[request.path] += 1
        self.last_headers = CIMultiDict(request.headers)
        return self.hits[request.path]

    async def flaky(self, request: web.Request) -> web.Response:
        """503 for the first ``fail`` hits, then 200."""
        hit = self._hit(request)
        if hit <= int(request.query.get("fail", "0")):
            return web.json_response({"title": "busy"}, status=503)
        return web.json_response({"hit": hit})

    async def status(self, request: web.Request) -> web.Response:
        self._hit(request)
        headers = {}
        if "retry_after" in request.query:
            headers["Retry-After"] = request.query["retry_after"]
        return web.json_response({}, status=int(request.match_info["code"]), headers=headers)

    async def slow(self, request: web.Request) -> web.Response:
        self._hit(request)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(float(request.query["seconds"])):
                await self.release_slow.wait()
        return web.json_response({"slow": True})

    async def echo(self, request: web.Request) -> web.Response:
        self._hit(request)
        body = await request.read()
        return web.json_response(
            {"headers": dict(request.headers), "body": body.decode(), "method": request.method}
        )


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[Upstream]:
    """An :class:`Upstream` listening on a free loopback port."""
    upstream = Upstream()
    runner = web.AppRunner(upstream.app(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    upstream.url = f"http://127.0.0.1:{port}"
    try:
        yield upstream
    finally:
        upstream.release_slow.set()  # let slow handlers finish so shutdown is quick
        await runner.cleanup()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with serving() as upstream:
        yield upstream


def state(breaker: CircuitBreaker) -> BreakerState:
    # A call, not the property, so mypy does not narrow it across transitions.
    return breaker.state


def client(url: str, **kwargs: Any) -> ServiceClient:
    kwargs.setdefault("retries", FAST_RETRIES)
    kwargs.setdefault("metrics", ClientMetrics(CollectorRegistry()))
    return ServiceClient(url, name=f"test-{uuid.uuid4().hex[:8]}", **kwargs)


def sample(metrics: ClientMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"emporium_http_client_{name}", labels)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_get_is_retried_on_503_and_returns_the_eventual_success(upstream: Upstream) -> None:
    async with client(upstream.url) as api:
        response = await api.get("/flaky/a", params={"fail": 2})
    assert response.status == 200
    assert response.json() == {"hit": 3}
    assert upstream.hits["/flaky/a"] == 3


async def test_get_still_failing_after_max_attempts_raises_upstream_error(
    upstream: Upstream,
) -> None:
    async with client(upstream.url) as api:
        with pytest.raises(UpstreamError) as caught:
            await api.get("/flaky/b", params={"fail": 10})
    assert caught.value.status == 503
    assert caught.value.attempts == 3
    assert caught.value.upstream == api.name
    assert upstream.hits["/flaky/b"] == 3


async def test_post_is_not_retried_without_idempotent_true(upstream: Upstream) -> None:
    async with client(upstream.url) as api:
        with pytest.raises(UpstreamError):
            await api.post("/flaky/c", json={"x": 1}, params={"fail": 1})
    assert upstream.hits["/flaky/c"] == 1


async def test_post_marked_idempotent_is_retried(upstream: Upstream) -> None:
    async with client(upstream.url) as api:
        response = await api.post(
            "/flaky/d",
            json={"x": 1},
            params={"fail": 1},
            headers={"Idempotency-Key": str(uuid.uuid4())},
            idempotent=True,
        )
    assert response.status == 200
    assert upstream.hits["/flaky/d"] == 2


async def test_500_is_not_retried_and_raises_upstream_error(upstream: Upstream) -> None:
    async with client(upstream.url) as api:
        with pytest.raises(UpstreamError) as caught:
            await api.get("/status/500")
    assert caught.value.status == 500
    assert upstream.hits["/status/500"] == 1


async def test_4xx_is_returned_not_retried_and_not_a_breaker_failure(upstream: Upstream) -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    async with client(upstream.url, breaker=breaker) as api:
        for _ in range(3):
            response = await api.get("/status/404")
            assert response.status == 404
            assert not response.ok
    assert upstream.hits["/status/404"] == 3
    assert state(breaker) is BreakerState.CLOSED


async def test_429_with_small_retry_after_is_retried(upstream: Upstream) -> None:
    async with client(upstream.url) as api:
        response = await api.get("/status/429", params={"retry_after": 0})
    assert response.status == 429, "after the last attempt the 429 itself is returned"
    assert upstream.hits["/status/429"] == 3


async def test_429_with_long_retry_after_is_returned_without_retry(upstream: Upstream) -> None:
    async with client(upstream.url) as api:
        response = await api.get("/status/429", params={"retry_after": 120})
    assert response.status == 429
    assert upstream.hits["/status/429"] == 1


async def test_timeout_raises_upstream_timeout(upstream: Upstream) -> None:
    async with client(upstream.url, timeout=0.05, retries=NO_RETRIES) as api:
        with pytest.raises(UpstreamTimeout) as caught:
            await api.get("/slow", params={"seconds": 2})
    assert caught.value.upstream == api.name
    assert upstream.hits["/slow"] == 1


async def test_per_call_timeout_overrides_the_client_timeout(upstream: Upstream) -> None:
    async with client(upstream.url, timeout=0.05, retries=NO_RETRIES) as api:
        response = await api.get("/slow", params={"seconds": 0.1}, timeout=2.0)
    assert response.json() == {"slow": True}


async def test_timed_out_get_is_retried_within_max_attempts(upstream: Upstream) -> None:
    async with client(upstream.url, timeout=0.05) as api:
        with pytest.raises(UpstreamTimeout) as caught:
            await api.get("/slow", params={"seconds": 2})
    assert caught.value.attempts == 3
    assert upstream.hits["/slow"] == 3


async def test_overall_deadline_stops_retries_before_max_attempts(upstream: Upstream) -> None:
    retries = RetryPolicy(max_attempts=50, base_delay=0.0, max_delay=0.0, deadline=0.12)
    async with client(upstream.url, timeout=0.05, retries=retries) as api:
        with pytest.raises(UpstreamTimeout):
            await api.get("/slow", params={"seconds": 2})
    # 0.12 s of deadline holds at most three 0.05 s attempts, however fast the machine.
    assert 1 <= upstream.hits["/slow"] <= 3


async def test_unreachable_upstream_raises_unavailable_after_retries() -> None:
    metrics = ClientMetrics(CollectorRegistry())
    async with client(f"http://127.0.0.1:{closed_port()}", metrics=metrics) as api:
        with pytest.raises(UpstreamUnavailable) as caught:
            await api.get("/anything")
    assert caught.value.reason == "connection"
    assert caught.value.attempts == 3
    assert sample(metrics, "retries_total", upstream=api.name, reason="connection") == 2


async def test_breaker_opens_after_failures_and_fails_fast_without_calling_upstream(
    upstream: Upstream,
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown=5.0, clock=clock)
    async with client(upstream.url, breaker=breaker) as api:
        for _ in range(3):
            with pytest.raises(UpstreamError):
                await api.get("/status/500")
        assert state(breaker) is BreakerState.OPEN

        with pytest.raises(UpstreamUnavailable) as caught:
            await api.get("/flaky/e")
        assert caught.value.reason == "circuit_open"
        assert caught.value.upstream == api.name
        assert caught.value.retry_after == pytest.approx(5.0)
        assert upstream.hits["/status/500"] == 3
        assert upstream.hits["/flaky/e"] == 0, "an open breaker sends nothing"


async def half_open(api: ServiceClient, clock: FakeClock) -> None:
    """Open ``api``'s breaker (two 500s; its threshold must be 2) and wait out its 5 s."""
    for _ in range(2):
        with pytest.raises(UpstreamError):
            await api.get("/status/500")
    clock.now += 5.0


async def test_breaker_half_opens_after_cooldown_and_a_successful_probe_closes_it(
    upstream: Upstream,
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown=5.0, clock=clock)
    async with client(upstream.url, breaker=breaker) as api:
        await half_open(api, clock)
        assert state(breaker) is BreakerState.HALF_OPEN

        response = await api.get("/flaky/f")
        assert response.status == 200
        assert upstream.hits["/flaky/f"] == 1, "the probe reached the upstream"
        assert state(breaker) is BreakerState.CLOSED
        assert (await api.get("/flaky/f")).status == 200


async def test_the_half_open_probe_waits_only_the_probe_timeout(upstream: Upstream) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown=5.0, probe_timeout=0.1, clock=clock)
    async with client(upstream.url, timeout=2.0, breaker=breaker) as api:
        await half_open(api, clock)
        probed = (await api.get("/echo")).json()["headers"]
        assert state(breaker) is BreakerState.CLOSED
        closed = (await api.get("/echo")).json()["headers"]
    assert 0 < int(probed[deadline.HEADER]) <= 100, "the probe's budget is the probe timeout"
    assert int(closed[deadline.HEADER]) > 1000, "once closed, calls have their full timeout"


async def test_without_a_probe_timeout_the_probe_has_the_calls_own(upstream: Upstream) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown=5.0, clock=clock)
    async with client(upstream.url, timeout=2.0, breaker=breaker) as api:
        await half_open(api, clock)
        probed = (await api.get("/echo")).json()["headers"]
    assert int(probed[deadline.HEADER]) > 1000, "a slow but working upstream still gets in"


async def test_a_failed_probe_answers_at_once_instead_of_retrying(upstream: Upstream) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown=5.0, clock=clock)
    async with client(upstream.url, breaker=breaker) as api:
        await half_open(api, clock)
        # A 503 asking for a retry in 1 s: the reopened breaker would refuse that
        # retry anyway, so the caller gets the upstream's answer now.
        with pytest.raises(UpstreamError) as caught:
            await api.get("/status/503", params={"retry_after": 1})
    assert caught.value.status == 503
    assert caught.value.attempts == 1
    assert upstream.hits["/status/503"] == 1
    assert state(breaker) is BreakerState.OPEN


async def test_the_failure_that_opens_the_breaker_ends_the_call(upstream: Upstream) -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=FakeClock())
    async with client(upstream.url, breaker=breaker) as api:
        with pytest.raises(UpstreamError) as caught:
            await api.get("/flaky/h", params={"fail": 1})
    assert caught.value.status == 503, "the upstream's own answer, not a refused retry"
    assert upstream.hits["/flaky/h"] == 1


async def test_request_id_and_trace_context_arrive_at_the_upstream(upstream: Upstream) -> None:
    request_id = str(uuid.uuid4())
    traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    tokens = (
        context.request_id.set(request_id),
        context.traceparent.set(traceparent),
        context.tracestate.set("emporium=1"),
    )
    try:
        async with client(upstream.url) as api:
            await api.get("/echo")
    finally:
        context.request_id.reset(tokens[0])
        context.traceparent.reset(tokens[1])
        context.tracestate.reset(tokens[2])
    assert upstream.last_headers["X-Request-Id"] == request_id
    assert upstream.last_headers["Traceparent"] == traceparent
    assert upstream.last_headers["Tracestate"] == "emporium=1"


async def test_no_context_means_no_propagation_headers(upstream: Upstream) -> None:
    async with client(upstream.url) as api:
        await api.get("/echo")
    for name in ("x-request-id", "traceparent", "tracestate"):
        assert name not in upstream.last_headers


async def test_caller_headers_win_over_context(upstream: Upstream) -> None:
    token = context.request_id.set("from-context")
    try:
        async with client(upstream.url) as api:
            await api.get("/echo", headers={"X-Request-ID": "from-caller"})
    finally:
        context.request_id.reset(token)
    assert upstream.last_headers["X-Request-ID"] == "from-caller"


async def test_json_body_is_sent_once_serialized_and_answer_parsed(upstream: Upstream) -> None:
    async with client(upstream.url) as api:
        response = await api.put("/echo", json={"quantity": 2})
    echoed = response.json()
    assert echoed["method"] == "PUT"
    assert echoed["body"] == '{"quantity":2}'
    assert echoed["headers"]["Content-Type"] == "application/json"
    assert response.headers["content-type"].startswith("application/json")


async def test_metrics_count_attempts_by_status_class_and_retries(upstream: Upstream) -> None:
    metrics = ClientMetrics(CollectorRegistry())
    async with client(upstream.url, metrics=metrics) as api:
        await api.get("/flaky/g", params={"fail": 1})
    by_status = {"upstream": api.name, "method": "GET"}
    assert sample(metrics, "requests_total", **by_status, status_class="5xx") == 1
    assert sample(metrics, "requests_total", **by_status, status_class="2xx") == 1
    assert sample(metrics, "retries_total", upstream=api.name, reason="503") == 1
    assert sample(metrics, "request_duration_seconds_count", upstream=api.name) == 2
    assert sample(metrics, "breaker_state", upstream=api.name) == BreakerState.CLOSED


async def test_metrics_count_calls_refused_by_an_open_breaker(upstream: Upstream) -> None:
    metrics = ClientMetrics(CollectorRegistry())
    breaker = CircuitBreaker(failure_threshold=1, clock=FakeClock())
    async with client(upstream.url, metrics=metrics, breaker=breaker) as api:
        with pytest.raises(UpstreamError):
            await api.get("/status/500")
        with pytest.raises(UpstreamUnavailable):
            await api.get("/status/500")
    labels = {"upstream": api.name, "method": "GET", "status_class": "circuit_open"}
    assert sample(metrics, "requests_total", **labels) == 1
    assert sample(metrics, "breaker_state", upstream=api.name) == BreakerState.OPEN


async def test_clients_without_a_session_share_one_pool_closed_by_the_last(
    upstream: Upstream,
) -> None:
    first, second = client(upstream.url), client(upstream.url)
    await first.get("/echo")
    await second.get("/echo")
    session = first._borrowed
    assert session is not None
    assert session is second._borrowed
    await first.close()
    assert not session.closed
    await second.close()
    assert session.closed


async def test_each_attempt_tells_the_upstream_its_budget_cut_to_the_callers_deadline(
    upstream: Upstream,
) -> None:
    token = deadline.current.set(time.monotonic() + 0.5)
    try:
        async with client(upstream.url, timeout=2.0) as api:
            echoed = (await api.get("/echo")).json()["headers"]
    finally:
        deadline.current.reset(token)
    sent = int(echoed[deadline.HEADER])
    assert 0 < sent <= 500


async def test_without_a_callers_deadline_the_budget_is_the_attempts_timeout(
    upstream: Upstream,
) -> None:
    async with client(upstream.url, timeout=1.5) as api:
        echoed = (await api.get("/echo")).json()["headers"]
    assert 1000 < int(echoed[deadline.HEADER]) <= 1500


async def test_a_spent_deadline_sends_nothing_and_raises_a_timeout(upstream: Upstream) -> None:
    token = deadline.current.set(time.monotonic() - 0.01)
    try:
        async with client(upstream.url) as api:
            with pytest.raises(UpstreamTimeout, match="deadline"):
                await api.get("/echo")
    finally:
        deadline.current.reset(token)
    assert upstream.hits["/echo"] == 0


async def test_the_callers_deadline_bounds_a_slow_call(upstream: Upstream) -> None:
    token = deadline.current.set(time.monotonic() + 0.2)
    try:
        async with client(upstream.url, timeout=5.0, retries=NO_RETRIES) as api:
            with pytest.raises(UpstreamTimeout):
                await api.get("/slow", params={"seconds": 5})
    finally:
        deadline.current.reset(token)


async def test_a_full_bulkhead_fails_fast_without_sending(upstream: Upstream) -> None:
    metrics = ClientMetrics(CollectorRegistry())
    async with client(upstream.url, max_concurrent=1, metrics=metrics) as api:
        first = asyncio.create_task(api.get("/slow", params={"seconds": 5}))

        async def reached() -> int:
            return upstream.hits["/slow"]

        await eventually_async(
            reached, lambda hits: hits == 1, timeout=5, interval=0.005, message="never sent"
        )
        with pytest.raises(UpstreamUnavailable) as refused:
            await api.get("/slow", params={"seconds": 5})
        assert refused.value.reason == "bulkhead_full"
        assert upstream.hits["/slow"] == 1
        upstream.release_slow.set()
        assert (await first).status == 200
        assert api.bulkhead.in_flight == 0
    labels = {"upstream": api.name, "method": "GET", "status_class": "bulkhead_full"}
    assert sample(metrics, "requests_total", **labels) == 1


# -- direct calls to the instances the launcher's registry lists ---------------


@pytest.fixture
async def second() -> AsyncIterator[Upstream]:
    """Another instance of the same upstream."""
    async with serving() as upstream:
        yield upstream


def write_registry(path: Path, *urls: str, service: str = "catalog") -> None:
    """The launcher's document, written as it writes it (whole, then renamed)."""
    entries = [
        {"service": service, "instance": f"{service}-{n}", "url": url, "pid": 1, "restarts": 0}
        for n, url in enumerate(urls)
    ]
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"version": 1, "services": [service], "instances": entries}))
    os.replace(temporary, path)


def listed(path: Path) -> RegistryEndpoints:
    # A reader of its own: the process-wide one would remember other tests' files.
    return RegistryEndpoints(RegistryFile(path, interval=0.05), "catalog")


async def test_calls_go_to_the_listed_instances_in_turn_not_to_the_url(
    upstream: Upstream, second: Upstream, tmp_path: Path
) -> None:
    registry = tmp_path / "registry.json"
    write_registry(registry, upstream.url, second.url)
    unused = f"http://127.0.0.1:{closed_port()}"  # the gateway's place, never reached
    async with client(unused, endpoints=listed(registry)) as api:
        for _ in range(4):
            assert (await api.get("/echo")).status == 200
    assert upstream.hits["/echo"] == 2
    assert second.hits["/echo"] == 2


async def test_a_refused_connection_sends_even_a_post_to_the_next_instance_at_once(
    upstream: Upstream, tmp_path: Path
) -> None:
    registry = tmp_path / "registry.json"
    gone = f"http://127.0.0.1:{closed_port()}"
    write_registry(registry, gone, upstream.url)
    metrics = ClientMetrics(CollectorRegistry())
    breaker = CircuitBreaker(failure_threshold=1)
    async with client(
        upstream.url, retries=NO_RETRIES, breaker=breaker, endpoints=listed(registry),
        metrics=metrics,
    ) as api:  # fmt: skip
        answer = await api.post("/echo", json={"order": 1})
        assert answer.status == 200
        assert answer.json()["body"] == '{"order":1}'
        # Nothing reached the refusing instance: no failure counted, no retry spent.
        assert state(breaker) is BreakerState.CLOSED
        assert sample(metrics, "retries_total", upstream=api.name, reason="connection") is None
        assert sample(metrics, "requests_total", upstream=api.name, method="POST",
                      status_class="refused") == 1  # fmt: skip
        # It is set aside: the next calls do not knock on it again.
        await api.post("/echo", json={"order": 2})
        await api.post("/echo", json={"order": 3})
        assert sample(metrics, "requests_total", upstream=api.name, method="POST",
                      status_class="refused") == 1  # fmt: skip
    assert upstream.hits["/echo"] == 3


async def test_with_every_listed_instance_refusing_the_call_goes_to_the_url(
    upstream: Upstream, tmp_path: Path
) -> None:
    registry = tmp_path / "registry.json"
    write_registry(registry, f"http://127.0.0.1:{closed_port()}")
    async with client(upstream.url, retries=NO_RETRIES, endpoints=listed(registry)) as api:
        assert (await api.post("/echo")).status == 200
    assert upstream.hits["/echo"] == 1


async def test_a_service_the_registry_does_not_list_is_called_at_the_url(
    upstream: Upstream, second: Upstream, tmp_path: Path
) -> None:
    registry = tmp_path / "registry.json"
    write_registry(registry, second.url, service="inventory")
    async with client(upstream.url, endpoints=listed(registry)) as api:
        assert (await api.get("/echo")).status == 200
    assert (upstream.hits["/echo"], second.hits["/echo"]) == (1, 0)


async def test_a_rewritten_registry_moves_the_calls_and_a_removed_one_ends_them(
    upstream: Upstream, second: Upstream, tmp_path: Path
) -> None:
    registry = tmp_path / "registry.json"
    write_registry(registry, upstream.url)
    async with client(second.url, endpoints=listed(registry)) as api:
        await api.get("/echo")
        assert (upstream.hits["/echo"], second.hits["/echo"]) == (1, 0)
        write_registry(registry, second.url, service="inventory")  # catalog is gone

        async def moved() -> bool:
            await api.get("/echo")
            return second.hits["/echo"] > 0

        await eventually_async(moved, timeout=5, message="calls to follow the registry")
        registry.unlink()  # the launcher stopped: the URL it is
        before = second.hits["/echo"]
        await asyncio.sleep(0.1)
        await api.get("/echo")
        assert second.hits["/echo"] == before + 1


async def test_an_instance_that_times_out_is_set_aside_and_the_retry_goes_elsewhere(
    upstream: Upstream, tmp_path: Path
) -> None:
    """A frozen replica (SIGSTOP: the kernel still accepts, nothing answers)."""
    connections: list[asyncio.StreamWriter] = []

    async def frozen(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(frozen, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    registry = tmp_path / "registry.json"
    write_registry(registry, f"http://127.0.0.1:{port}", upstream.url)
    try:
        async with client(upstream.url, timeout=0.2, endpoints=listed(registry)) as api:
            assert (await api.get("/echo")).status == 200  # after one timeout
            for _ in range(4):
                assert (await api.get("/echo")).status == 200
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
    assert len(connections) == 1
    assert upstream.hits["/echo"] == 5
