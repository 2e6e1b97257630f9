"""The gateway keeps catalog's public answers while it hears catalog's events.

The gateway runs in-process (its lifespan started, so its listening broker
connects) in front of a fake catalog served by aiohttp on a loopback port,
which counts the requests that reach it; the broker is the embedded NATS, a
namespace per test. A product read reaches catalog once; catalog's event, or
a write passing through the gateway, makes the next read reach it again and
show the change. Without its broker, nothing is kept.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from emporium.chassis import ChassisSettings
from emporium.chassis.testing import TokenFactory
from emporium.contracts.catalog import ProductUpdated
from emporium.launcher.nats import EmbeddedNats, free_port
from emporium.services.gateway.main import create_app
from emporium.services.gateway.settings import GatewaySettings
from tests._poll import eventually_async
from tests.integration._messaging_support import publish, unique, unreachable_broker

PRODUCT = "5f5fb062-8ed2-4f87-8fba-cd0afcb25b5f"


class FakeCatalog:
    """A catalog that answers as the real one does (``public, max-age``) and
    counts what reaches it; ``cache_control`` changes what it says."""

    def __init__(self) -> None:
        self.name = "Skillet"
        self.cache_control = "public, max-age=60"
        self.hits: Counter[str] = Counter()
        self.url = ""

    async def _answer(self, request: web.Request) -> web.Response:
        self.hits[f"{request.method} {request.path_qs}"] += 1
        if request.path == "/health/ready":
            return web.json_response({"status": "ready"})
        if request.method == "PATCH":
            self.name = (await request.json())["name"]
        body = json.dumps({"id": PRODUCT, "name": self.name, "path": request.path_qs}).encode()
        headers = {"Cache-Control": self.cache_control, "ETag": f'"{len(self.name)}"'}
        return web.Response(body=body, content_type="application/json", headers=headers)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeCatalog]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            await runner.cleanup()


@pytest.fixture
async def catalog() -> AsyncIterator[FakeCatalog]:
    async with FakeCatalog().serving() as fake:
        yield fake


@asynccontextmanager
async def gateway(
    catalog: FakeCatalog,
    tmp_path: Path,
    *,
    broker_url: str | None = None,
    namespace: str = "emporium",
    cache_seconds: float = 5.0,
    cache_events: bool = True,
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in front of ``catalog``, with its lifespan running.

    Without ``broker_url`` its broker is a port nobody listens on: it never
    hears catalog (and never reaches the machine's own NATS on 4222).
    """
    settings = GatewaySettings(
        upstreams={"catalog": [catalog.url], "recommendations": [catalog.url]},
        cache_seconds=cache_seconds,
        cache_events=cache_events,
        address_rate=1000,
        address_burst=1000,
    )
    chassis = ChassisSettings(
        var_dir=tmp_path,
        log_level="WARNING",
        broker_url=broker_url or unreachable_broker(),
        broker_namespace=namespace,
    )
    app = create_app(settings, chassis, verifier=TokenFactory().verifier())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def _hearing(client: httpx.AsyncClient) -> None:
    async def broker() -> Any:
        return (await client.get("/health/ready")).json()["checks"].get("broker")

    await eventually_async(broker, timeout=15, message="the gateway hears catalog")


PATH = f"/api/catalog/products/{PRODUCT}"


async def test_a_product_read_reaches_catalog_once_while_the_gateway_hears_it(
    catalog: FakeCatalog, embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    async with gateway(catalog, tmp_path, broker_url=embedded_nats.url, namespace=unique()) as gw:
        await _hearing(gw)
        first = await gw.get(PATH)
        again = [await gw.get(PATH) for _ in range(3)]
    assert catalog.hits[f"GET {PATH}"] == 1
    assert first.status_code == 200
    assert "age" not in first.headers
    for response in again:
        assert response.status_code == 200
        assert response.content == first.content
        assert response.headers["etag"] == first.headers["etag"]
        assert response.headers["cache-control"] == "public, max-age=60"
        assert response.headers["age"] == "0"
        # The gateway's own headers are its own, per request, not kept ones.
        assert response.headers["x-request-id"] != first.headers["x-request-id"]


async def test_catalogs_event_makes_the_next_read_reach_catalog_and_show_the_change(
    catalog: FakeCatalog, embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    ns = unique()
    # Kept far longer than the wait below: only the event can make the change show.
    async with gateway(
        catalog, tmp_path, broker_url=embedded_nats.url, namespace=ns, cache_seconds=60
    ) as gw:
        await _hearing(gw)
        listing = "/api/catalog/products?limit=20"
        assert (await gw.get(PATH)).json()["name"] == "Skillet"
        await gw.get(listing)
        catalog.name = "Cast-iron pan"  # changed behind the gateway's back
        assert (await gw.get(PATH)).json()["name"] == "Skillet"  # kept, not asked
        event = ProductUpdated(product_id=uuid.UUID(PRODUCT), sku="SK-1", name="Cast-iron pan")
        await publish(embedded_nats.url, ns, event)

        async def name() -> str:
            found: str = (await gw.get(PATH)).json()["name"]
            return found

        await eventually_async(
            name, lambda found: found == "Cast-iron pan", timeout=5, message="the change"
        )
        # Every kept answer went, the listing too: which ones a change reaches is not guessed.
        await gw.get(listing)
    assert catalog.hits[f"GET {listing}"] == 2


async def test_a_write_through_the_gateway_is_read_back_through_it_at_once(
    catalog: FakeCatalog, embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    async with gateway(catalog, tmp_path, broker_url=embedded_nats.url, namespace=unique()) as gw:
        await _hearing(gw)
        assert (await gw.get(PATH)).json()["name"] == "Skillet"
        patched = await gw.patch(PATH, json={"name": "Griddle"})
        assert patched.status_code == 200
        # No event was published: the write itself made the gateway forget.
        assert (await gw.get(PATH)).json()["name"] == "Griddle"
    assert catalog.hits[f"GET {PATH}"] == 2


async def test_nothing_is_kept_without_the_broker_or_with_a_cache_time_of_0(
    catalog: FakeCatalog, embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    async with gateway(catalog, tmp_path) as gw:  # a broker nobody answers on
        for _ in range(3):
            assert (await gw.get(PATH)).status_code == 200
    assert catalog.hits[f"GET {PATH}"] == 3
    async with gateway(catalog, tmp_path, broker_url=embedded_nats.url, cache_seconds=0) as gw:
        # With nothing to keep the gateway uses no broker at all.
        assert "broker" not in (await gw.get("/health/ready")).json()["checks"]
        for _ in range(3):
            assert "age" not in (await gw.get(PATH)).headers
    assert catalog.hits[f"GET {PATH}"] == 6


async def test_if_none_match_is_answered_by_the_gateway_from_what_it_keeps(
    catalog: FakeCatalog, embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    async with gateway(catalog, tmp_path, broker_url=embedded_nats.url, namespace=unique()) as gw:
        await _hearing(gw)
        first = await gw.get(PATH)
        etag = first.headers["etag"]
        same = await gw.get(PATH, headers={"If-None-Match": etag})
        other = await gw.get(PATH, headers={"If-None-Match": '"something-else"'})
    assert catalog.hits[f"GET {PATH}"] == 1  # neither revalidation reached catalog
    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["etag"] == etag
    assert same.headers["age"] == "0"
    assert other.status_code == 200
    assert other.content == first.content


async def test_where_the_gateway_may_not_hear_catalog_answers_are_kept_for_seconds(
    catalog: FakeCatalog, tmp_path: Path
) -> None:
    # Compose and Kubernetes: the gateway reaches no broker (decision 0015).
    async with gateway(catalog, tmp_path, cache_events=False) as gw:
        assert "broker" not in (await gw.get("/health/ready")).json()["checks"]
        await gw.get(PATH)
        assert (await gw.get(PATH)).headers["age"] == "0"
        await gw.patch(PATH, json={"name": "Griddle"})
        assert (await gw.get(PATH)).json()["name"] == "Griddle"
    assert catalog.hits[f"GET {PATH}"] == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"If-Modified-Since": "Sun, 29 Nov 2026 00:00:00 GMT"},
        {"Range": "bytes=0-10"},
        {"Cache-Control": "max-age=0"},
        {"Pragma": "no-cache"},
    ],
)
async def test_a_request_a_kept_answer_cannot_serve_reaches_catalog(
    catalog: FakeCatalog,
    embedded_nats: EmbeddedNats,
    tmp_path: Path,
    headers: dict[str, str],
) -> None:
    async with gateway(catalog, tmp_path, broker_url=embedded_nats.url, namespace=unique()) as gw:
        await _hearing(gw)
        await gw.get(PATH)
        for _ in range(2):
            assert "age" not in (await gw.get(PATH, headers=headers)).headers
        assert (await gw.get(PATH)).headers["age"] == "0"  # the plain read still kept
    assert catalog.hits[f"GET {PATH}"] == 3


@pytest.mark.parametrize(
    ("path", "cache_control"),
    [
        (PATH, "private, max-age=60"),
        (PATH, "public, no-store"),
        (PATH, "public, max-age=0"),
        (PATH, "max-age=60"),
        ("/api/recommendations/x", "public, max-age=60"),  # only catalog's answers
    ],
)
async def test_answers_a_shared_cache_may_not_keep_are_asked_every_time(
    catalog: FakeCatalog,
    embedded_nats: EmbeddedNats,
    tmp_path: Path,
    path: str,
    cache_control: str,
) -> None:
    catalog.cache_control = cache_control
    async with gateway(catalog, tmp_path, broker_url=embedded_nats.url, namespace=unique()) as gw:
        await _hearing(gw)
        for _ in range(3):
            assert (await gw.get(path)).status_code == 200
    assert catalog.hits[f"GET {path}"] == 3
