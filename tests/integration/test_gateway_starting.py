"""A service instance that becomes ready between two health rounds serves at once.

The launcher reports the system up when every instance answers ready; the
gateway checks its upstreams only every ``health_interval``. Without asking
again, the first requests after ``emporium up`` could meet a 503 "no instance
is ready" for up to a round. The upstream here is an ASGI app in the test's
loop whose readiness the test switches; the round is made far too long to help.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.types import Receive, Scope, Send

from tests.integration.test_gateway import running_gateway, write_registry
from tests.integration.test_gateway_budget import serving

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "reviews", "version": "1"},
    "paths": {"/api/reviews/latest": {"get": {"responses": {"200": {"description": "ok"}}}}},
}


@dataclass
class Reviews:
    ready: bool = False
    checks: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, document = 200, {"path": scope["path"]}
        if scope["path"] == "/health/ready":
            self.checks += 1
            status = 200 if self.ready else 503
        elif scope["path"] == "/api/reviews/openapi.json":
            document = OPENAPI
        body = json.dumps(document).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def test_an_instance_ready_since_the_last_health_round_serves_the_next_request(
    tmp_path: Path,
) -> None:
    reviews = Reviews()
    async with serving(reviews) as url:
        entry = {"service": "reviews", "instance": "reviews-1", "url": url, "pid": 0}
        write_registry(tmp_path / "registry.json", 1, [entry])
        async with running_gateway(tmp_path, health_interval=3600) as gateway:
            status, _ = await gateway.get_json("/api/reviews/latest")
            assert status == 503  # starting: asked again, still not ready
            reviews.ready = True
            status, body = await gateway.get_json("/api/reviews/latest")
            assert (status, body["path"]) == (200, "/api/reviews/latest")


async def test_an_instance_the_registry_lists_since_the_last_look_serves_the_next_request(
    tmp_path: Path,
) -> None:
    old, new = Reviews(), Reviews(ready=True)
    async with serving(old) as old_url, serving(new) as new_url:
        registry = tmp_path / "registry.json"
        write_registry(
            registry, 1, [{"service": "reviews", "instance": "reviews-1", "url": old_url}]
        )
        slow = {"health_interval": 3600, "registry_poll_interval": 3600}
        async with running_gateway(tmp_path, **slow) as gateway:
            # The launcher replaced the instance; the gateway has not looked since.
            write_registry(
                registry, 2, [{"service": "reviews", "instance": "reviews-2", "url": new_url}]
            )
            status, body = await gateway.get_json("/api/reviews/latest")
            assert (status, body["path"]) == (200, "/api/reviews/latest")


async def test_the_merged_api_document_asks_a_starting_instance_too(tmp_path: Path) -> None:
    reviews = Reviews()
    async with serving(reviews) as url:
        entry = {"service": "reviews", "instance": "reviews-1", "url": url, "pid": 0}
        write_registry(tmp_path / "registry.json", 1, [entry])
        async with running_gateway(tmp_path, health_interval=3600) as gateway:
            reviews.ready = True  # since the gateway's first (and, here, only) round
            status, merged = await gateway.get_json("/api/openapi.json")
            assert status == 200
            assert "/api/reviews/latest" in merged["paths"]
            assert "reviews" not in merged.get("x-emporium-unavailable", [])


async def test_an_instance_that_served_and_then_failed_waits_for_the_health_rounds(
    tmp_path: Path,
) -> None:
    reviews = Reviews(ready=True)
    async with serving(reviews) as url:
        entry = {"service": "reviews", "instance": "reviews-1", "url": url, "pid": 0}
        write_registry(tmp_path / "registry.json", 1, [entry])
        async with running_gateway(tmp_path, health_interval=0.2) as gateway:
            await gateway.wait_healthy("reviews-1")
            reviews.ready = False
            await gateway.wait_unhealthy("reviews-1")
            checks, started = reviews.checks, time.monotonic()
            for _ in range(20):
                assert (await gateway.get_json("/api/reviews/latest"))[0] == 503
            rounds = (time.monotonic() - started) / 0.2 + 2
            assert reviews.checks - checks <= rounds  # the rounds' checks, none per request
