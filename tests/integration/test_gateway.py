"""The gateway over real sockets: real upstream processes, a real registry file.

The gateway runs under uvicorn inside the test's event loop on a free loopback
port; upstreams are tiny ASGI apps in their own processes (so one can be
killed with SIGKILL), announced through a registry file in ``tmp_path``.
Every wait polls with a deadline (``tests._poll``); nothing asserts on speed except hang guards.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvicorn

from emporium.chassis import ChassisSettings
from emporium.chassis.problems import UPSTREAM_DOWN
from emporium.chassis.testing import TokenFactory
from emporium.services.gateway.main import create_app
from emporium.services.gateway.settings import GatewaySettings
from tests._poll import eventually_async
from tests.integration._messaging_support import unreachable_broker

UPSTREAM = r"""
import asyncio, json, os, sys
import uvicorn

NAME, SERVICE = os.environ["UP_NAME"], os.environ["UP_SERVICE"]
OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": SERVICE, "version": "1"},
    "paths": {f"/api/{SERVICE}/whoami": {"get": {"responses": {"200": {"description": "ok"}}}}},
    "components": {"schemas": {f"{SERVICE.title()}Thing": {"type": "object"}}},
}

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].split(".")[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    path = scope["path"]
    if path.endswith("/echo"):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
            await send({"type": "http.response.body", "body": message.get("body", b""),
                        "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    status = 200
    if path == "/health/ready":
        body = {"status": "ready"}
    elif path.endswith("/openapi.json"):
        body = OPENAPI
    elif path.endswith("/slow"):
        await asyncio.sleep(float(scope["query_string"] or b"5"))
        body = {"slow": True}
    elif path.endswith("/fail"):
        status, body = 500, {"failed": NAME}
    else:
        body = {
            "instance": NAME,
            "path": path,
            "query": scope["query_string"].decode(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
        }
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"connection", b"keep-alive, x-hop"), (b"x-hop", b"secret"),
                            (b"x-upstream", NAME.encode())]})
    await send({"type": "http.response.body", "body": data})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""

DEADLINE = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_registry(path: Path, version: int, instances: list[dict[str, Any]]) -> None:
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps({"version": version, "instances": instances}))
    os.replace(temp, path)


class Upstream:
    """One upstream process; ``kill`` is SIGKILL, so nothing closes gracefully."""

    def __init__(self, service: str, name: str) -> None:
        self.service, self.name = service, name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "UP_NAME": name, "UP_SERVICE": service}
        self.process = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(self.port)], env=env)

    @property
    def entry(self) -> dict[str, Any]:
        return {"service": self.service, "instance": self.name, "url": self.url, "pid": 0}

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=DEADLINE)


@pytest.fixture
def upstreams() -> Iterator[Callable[[str, str], Upstream]]:
    started: list[Upstream] = []

    def start(service: str, name: str) -> Upstream:
        upstream = Upstream(service, name)
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        upstream.kill()


async def wait_ready(session: aiohttp.ClientSession, *upstreams: Upstream) -> None:
    async def not_ready() -> set[str]:
        waiting = set()
        for upstream in upstreams:
            try:
                async with session.get(f"{upstream.url}/health/ready") as response:
                    if response.status == 200:
                        continue
            except aiohttp.ClientError:
                pass
            waiting.add(upstream.name)
        return waiting

    await eventually_async(
        not_ready, lambda waiting: not waiting, timeout=DEADLINE, message="upstreams never ready"
    )


class Gateway:
    def __init__(self, url: str, session: aiohttp.ClientSession, tokens: TokenFactory) -> None:
        self.url = url
        self.session = session
        self.tokens = tokens

    async def upstreams(self) -> list[dict[str, Any]]:
        # The gateway's view of its upstreams is for administrators only.
        admin = self.tokens.headers(role="admin")
        async with self.session.get(f"{self.url}/api/gateway/upstreams", headers=admin) as response:
            assert response.status == 200
            instances: list[dict[str, Any]] = (await response.json())["instances"]
            return instances

    async def wait_healthy(self, *names: str) -> None:
        async def healthy() -> set[str]:
            return {i["instance"] for i in await self.upstreams() if i["healthy"]}

        await eventually_async(
            healthy,
            lambda found: set(names) <= found,
            timeout=DEADLINE,
            message=f"never all healthy: {sorted(names)}",
        )

    async def wait_unhealthy(self, *names: str) -> None:
        async def unhealthy() -> set[str]:
            return {i["instance"] for i in await self.upstreams() if not i["healthy"]}

        await eventually_async(
            unhealthy,
            lambda found: set(names) <= found,
            timeout=DEADLINE,
            message=f"never all unhealthy: {sorted(names)}",
        )

    async def get_json(self, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        async with self.session.get(self.url + path, **kwargs) as response:
            return response.status, await response.json(content_type=None)


@asynccontextmanager
async def running_gateway(tmp_path: Path, **overrides: Any) -> AsyncIterator[Gateway]:
    fields: dict[str, Any] = {
        "registry": tmp_path / "registry.json",
        "health_interval": 0.2,
        "registry_poll_interval": 0.05,
        "body_limit": 1024 * 1024,
        **overrides,
    }
    settings = GatewaySettings(**fields)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # A broker nobody answers on: the gateway keeps no catalog answer (that is
    # test_gateway_cache.py's) and never reaches the machine's own NATS on 4222.
    chassis = ChassisSettings(
        port=port,
        var_dir=tmp_path,
        log_level="WARNING",
        broker_url=unreachable_broker(),
    )
    tokens = TokenFactory()
    app = create_app(settings, chassis, verifier=tokens.verifier())
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def started() -> bool:
        assert not task.done(), "the gateway failed to start"
        return bool(server.started)

    await eventually_async(
        started, timeout=DEADLINE, interval=0.01, message="the gateway never started"
    )
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            yield Gateway(f"http://127.0.0.1:{port}", session, tokens)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, DEADLINE)
        sock.close()


async def test_requests_are_spread_across_three_instances(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    instances = [upstreams("catalog", f"catalog-{n}") for n in (1, 2, 3)]
    write_registry(tmp_path / "registry.json", 1, [u.entry for u in instances])
    async with running_gateway(tmp_path) as gateway:
        await wait_ready(gateway.session, *instances)
        await gateway.wait_healthy("catalog-1", "catalog-2", "catalog-3")
        served: Counter[str] = Counter()
        for _ in range(30):
            status, body = await gateway.get_json("/api/catalog/whoami")
            assert status == 200
            served[body["instance"]] += 1
        concurrent = await asyncio.gather(
            *(gateway.get_json("/api/catalog/whoami") for _ in range(30))
        )
        for status, body in concurrent:
            assert status == 200
            served[body["instance"]] += 1
        assert set(served) == {"catalog-1", "catalog-2", "catalog-3"}
        assert min(served.values()) >= 10, served
        counts = {i["instance"]: i["requests"] for i in await gateway.upstreams()}
        assert counts == dict(served)


async def test_killing_an_instance_fails_no_sequential_get(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    instances = [upstreams("catalog", f"catalog-{n}") for n in (1, 2, 3)]
    write_registry(tmp_path / "registry.json", 1, [u.entry for u in instances])
    async with running_gateway(tmp_path, health_interval=1.0) as gateway:
        await wait_ready(gateway.session, *instances)
        await gateway.wait_healthy("catalog-1", "catalog-2", "catalog-3")
        failures: list[int] = []
        served: Counter[str] = Counter()

        async def stream() -> None:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                status, body = await gateway.get_json("/api/catalog/whoami")
                if status == 200:
                    served[body["instance"]] += 1
                else:
                    failures.append(status)

        streaming = asyncio.create_task(stream())
        await asyncio.sleep(0.5)
        before = served["catalog-2"]
        await asyncio.to_thread(instances[1].kill)
        await streaming
        assert failures == []
        assert before > 0
        assert served["catalog-2"] <= before + 1  # at most one answered while it died
        assert served["catalog-1"] > 0
        assert served["catalog-3"] > 0
        dead = next(i for i in await gateway.upstreams() if i["instance"] == "catalog-2")
        assert dead["failures"] >= 1
        assert dead["ejected_until"] is not None or not dead["healthy"]


async def test_a_service_with_no_ready_instance_answers_503_at_once(tmp_path: Path) -> None:
    down = {"service": "reviews", "instance": "reviews-1", "url": f"http://127.0.0.1:{free_port()}"}
    write_registry(tmp_path / "registry.json", 1, [down])
    async with running_gateway(tmp_path) as gateway:
        started = time.perf_counter()
        async with gateway.session.get(f"{gateway.url}/api/reviews") as response:
            elapsed = time.perf_counter() - started
            body = await response.json(content_type=None)
            assert response.status == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == "1"
            # A service down, not one short of capacity: the gateway's limit keeps its size.
            assert response.headers[UPSTREAM_DOWN] == "reviews"
        assert body["status"] == 503
        assert "reviews" in body["detail"]
        assert elapsed < 1.0  # a hang guard, not a performance assertion


async def test_an_unknown_service_is_404_problem(tmp_path: Path) -> None:
    write_registry(tmp_path / "registry.json", 1, [])
    async with running_gateway(tmp_path) as gateway:
        async with gateway.session.get(f"{gateway.url}/api/nosuch/things") as response:
            assert response.status == 404
            assert response.headers["content-type"] == "application/problem+json"
            body = await response.json(content_type=None)
        assert body["detail"] == "unknown service 'nosuch'"
        # Without a storefront registered, the shop's pages are unknown too.
        status, _ = await gateway.get_json("/")
        assert status == 404


async def test_an_oversized_body_is_413(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    echo = upstreams("catalog", "catalog-1")
    write_registry(tmp_path / "registry.json", 1, [echo.entry])
    async with running_gateway(tmp_path, body_limit=64 * 1024) as gateway:
        await wait_ready(gateway.session, echo)
        await gateway.wait_healthy("catalog-1")
        url = f"{gateway.url}/api/catalog/echo"
        async with gateway.session.post(url, data=b"x" * (65 * 1024)) as response:
            assert response.status == 413
            assert response.headers["content-type"] == "application/problem+json"

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b"y" * 8192

        async with gateway.session.post(url, data=chunked()) as response:
            # Streamed without a length: the limit trips mid-stream; the
            # upstream may have started answering, but never with a 2xx body.
            assert response.status in (413, 502) or len(await response.read()) < 20 * 8192


async def test_a_512k_body_streams_through_both_ways(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    echo = upstreams("catalog", "catalog-1")
    write_registry(tmp_path / "registry.json", 1, [echo.entry])
    async with running_gateway(tmp_path) as gateway:
        await wait_ready(gateway.session, echo)
        await gateway.wait_healthy("catalog-1")
        payload = os.urandom(512 * 1024)
        url = f"{gateway.url}/api/catalog/echo"
        async with gateway.session.post(url, data=payload) as response:
            assert response.status == 200
            assert await response.read() == payload

        async def chunked() -> AsyncIterator[bytes]:
            for start in range(0, len(payload), 65536):
                yield payload[start : start + 65536]

        async with gateway.session.put(url, data=chunked()) as response:
            assert response.status == 200
            assert await response.read() == payload


async def test_request_id_and_trace_context_reach_the_upstream(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    catalog = upstreams("catalog", "catalog-1")
    write_registry(tmp_path / "registry.json", 1, [catalog.entry])
    async with running_gateway(tmp_path) as gateway:
        await wait_ready(gateway.session, catalog)
        await gateway.wait_healthy("catalog-1")
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        parent = f"00-{trace_id}-00f067aa0ba902b7-01"
        sent = {
            "x-request-id": "req-1234",
            "traceparent": parent,
            "connection": "keep-alive, x-secret-hop",
            "x-secret-hop": "dropped",
            "proxy-authorization": "Basic dropped",
            "x-custom": "kept",
        }
        url = f"{gateway.url}/api/catalog/whoami/caf%C3%A9?q=a%20b&q=c"
        skip = ("Accept-Encoding",)
        async with gateway.session.get(url, headers=sent, skip_auto_headers=skip) as response:
            assert response.status == 200
            assert response.headers["x-request-id"] == "req-1234"
            assert response.headers["x-upstream"] == "catalog-1"
            assert "x-hop" not in response.headers
            body = await response.json()
        seen = body["headers"]
        assert seen["x-request-id"] == "req-1234"
        assert seen["traceparent"].split("-")[1] == trace_id
        assert seen["traceparent"] != parent  # the gateway's own span
        assert seen["x-forwarded-for"] == "127.0.0.1"
        assert seen["x-forwarded-proto"] == "http"
        assert seen["x-forwarded-host"] == gateway.url.removeprefix("http://")
        assert seen["x-custom"] == "kept"
        assert "x-secret-hop" not in seen
        assert "proxy-authorization" not in seen
        assert "accept-encoding" not in seen  # not invented by the proxy
        assert body["path"] == "/api/catalog/whoami/café"
        assert body["query"] == "q=a%20b&q=c"

        async with gateway.session.get(f"{gateway.url}/api/catalog/whoami") as response:
            returned = response.headers["x-request-id"]
            upstream_saw = (await response.json())["headers"]["x-request-id"]
        assert returned == upstream_saw


async def test_a_new_instance_in_the_registry_receives_traffic(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    first, second = upstreams("catalog", "catalog-1"), upstreams("catalog", "catalog-2")
    registry = tmp_path / "registry.json"
    write_registry(registry, 1, [first.entry])
    async with running_gateway(tmp_path) as gateway:
        await wait_ready(gateway.session, first, second)
        await gateway.wait_healthy("catalog-1")
        write_registry(registry, 2, [first.entry, second.entry])

        async def whoami() -> object:
            status, body = await gateway.get_json("/api/catalog/whoami")
            assert status == 200
            return body["instance"]

        await eventually_async(
            whoami,
            lambda instance: instance == "catalog-2",
            timeout=DEADLINE,
            interval=0.02,
            message="the new instance never received traffic",
        )
        write_registry(registry, 3, [second.entry])

        async def listed() -> set[str]:
            return {i["instance"] for i in await gateway.upstreams()}

        await eventually_async(
            listed,
            lambda names: names == {"catalog-2"},
            timeout=DEADLINE,
            interval=0.02,
            message="the removed instance stayed",
        )


async def test_a_slow_upstream_is_504_problem(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    slow = upstreams("catalog", "catalog-1")
    write_registry(tmp_path / "registry.json", 1, [slow.entry])
    async with running_gateway(tmp_path, service_timeouts={"catalog": 0.3}) as gateway:
        await wait_ready(gateway.session, slow)
        await gateway.wait_healthy("catalog-1")
        status, body = await gateway.get_json("/api/catalog/slow?3")
        assert status == 504
        assert body["status"] == 504


async def test_repeated_5xx_ejects_an_instance(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    instances = [upstreams("catalog", f"catalog-{n}") for n in (1, 2)]
    write_registry(tmp_path / "registry.json", 1, [u.entry for u in instances])
    async with running_gateway(tmp_path, consecutive_5xx=2) as gateway:
        await wait_ready(gateway.session, *instances)
        await gateway.wait_healthy("catalog-1", "catalog-2")
        for _ in range(4):
            status, _ = await gateway.get_json("/api/catalog/fail")
            assert status == 500  # passed through as the upstream said
        ejected = [i for i in await gateway.upstreams() if i["ejected_until"] is not None]
        assert len(ejected) == 2


async def test_the_merged_openapi_tolerates_a_service_that_is_down(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    catalog, inventory = upstreams("catalog", "catalog-1"), upstreams("inventory", "inventory-1")
    down = {"service": "orders", "instance": "orders-1", "url": f"http://127.0.0.1:{free_port()}"}
    write_registry(tmp_path / "registry.json", 1, [catalog.entry, inventory.entry, down])
    async with running_gateway(tmp_path) as gateway:
        await wait_ready(gateway.session, catalog, inventory)
        await gateway.wait_healthy("catalog-1", "inventory-1")
        status, document = await gateway.get_json("/api/openapi.json")
        assert status == 200
        assert set(document["paths"]) == {"/api/catalog/whoami", "/api/inventory/whoami"}
        assert set(document["components"]["schemas"]) == {"CatalogThing", "InventoryThing"}
        assert document["x-emporium-unavailable"] == ["orders"]


async def test_jwks_goes_to_identity_and_pages_to_the_storefront(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    identity, storefront = upstreams("identity", "identity-1"), upstreams("storefront", "sf-1")
    write_registry(tmp_path / "registry.json", 1, [identity.entry, storefront.entry])
    async with running_gateway(tmp_path) as gateway:
        await wait_ready(gateway.session, identity, storefront)
        await gateway.wait_healthy("identity-1", "sf-1")
        _, jwks = await gateway.get_json("/.well-known/jwks.json")
        _, page = await gateway.get_json("/products/42")
        _, home = await gateway.get_json("/")
        _, health = await gateway.get_json("/health/ready")
        assert jwks["instance"] == "identity-1"
        assert page["instance"] == home["instance"] == "sf-1"
        assert health["status"] == "ready"  # the gateway's own, not proxied


async def test_the_upstream_is_told_the_time_left_the_clients_if_shorter(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    catalog = upstreams("catalog", "catalog-1")
    write_registry(tmp_path / "registry.json", 1, [catalog.entry])
    async with running_gateway(tmp_path, service_timeouts={"catalog": 4.0}) as gateway:
        await wait_ready(gateway.session, catalog)
        await gateway.wait_healthy("catalog-1")
        _, own = await gateway.get_json("/api/catalog/whoami")
        assert 3000 < int(own["headers"]["x-emporium-deadline-ms"]) <= 4000
        short = {"X-Emporium-Deadline-Ms": "800"}
        _, body = await gateway.get_json("/api/catalog/whoami", headers=short)
        assert 0 < int(body["headers"]["x-emporium-deadline-ms"]) <= 800
        longer = {"X-Emporium-Deadline-Ms": "60000"}  # never more than the gateway's own
        _, body = await gateway.get_json("/api/catalog/whoami", headers=longer)
        assert int(body["headers"]["x-emporium-deadline-ms"]) <= 4000
        status, problem = await gateway.get_json("/api/catalog/slow?3", headers=short)
        assert status == 504
        assert problem["status"] == 504


async def test_a_full_bulkhead_is_a_503_at_once_for_that_service_only(
    tmp_path: Path, upstreams: Callable[[str, str], Upstream]
) -> None:
    catalog, inventory = upstreams("catalog", "catalog-1"), upstreams("inventory", "inventory-1")
    write_registry(tmp_path / "registry.json", 1, [catalog.entry, inventory.entry])
    async with running_gateway(tmp_path, service_max_in_flight={"catalog": 1}) as gateway:
        await wait_ready(gateway.session, catalog, inventory)
        await gateway.wait_healthy("catalog-1", "inventory-1")
        slow = asyncio.create_task(gateway.get_json("/api/catalog/slow?2"))

        async def catalog_in_flight() -> int:
            return sum(
                i["in_flight"] for i in await gateway.upstreams() if i["service"] == "catalog"
            )

        await eventually_async(
            catalog_in_flight,
            lambda n: n == 1,
            timeout=DEADLINE,
            interval=0.01,
            message="the slow request never reached catalog",
        )
        async with gateway.session.get(f"{gateway.url}/api/catalog/whoami") as refused:
            assert refused.status == 503
            assert refused.headers["Retry-After"] == "1"
            assert (await refused.json(content_type=None))["status"] == 503
        status, _ = await gateway.get_json("/api/inventory/whoami")
        assert status == 200  # another service is not held up by catalog's
        assert (await slow)[0] == 200
