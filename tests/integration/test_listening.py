"""The broker of a service with no store: listeners only (chassis ``Listening``).

On both brokers it hears what any process publishes once it says it hears;
it starts without its broker, keeps trying, and hears once the broker is up;
and ``create_service`` gives a storeless service with listeners one, which
neither gates readiness nor keeps the service from starting.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import cast

import httpx
import pytest
from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Runtime, create_service
from emporium.chassis.messaging import Backoff, Listening, encode, make_transport
from emporium.contracts import Message
from emporium.contracts.catalog import ProductCreated
from emporium.launcher.nats import EmbeddedNats, free_port
from tests._poll import eventually_async
from tests.integration._messaging_support import (
    product,
    unique,
    unreachable_broker,
    until_hearing,
)


def _listening(url: str, namespace: str, heard: list[str]) -> Listening:
    async def hear(message: Message) -> None:
        heard.append(cast(ProductCreated, message).sku)

    return Listening(
        url,
        service="shop",
        listeners={ProductCreated: hear},
        namespace=namespace,
        backoff=Backoff(0.05, 0.2),
    )


async def _publish_and_hear(url: str, namespace: str, sku: str, heard: list[str]) -> None:
    """Publish a product's ``ProductCreated`` as another process would; wait until heard."""
    publisher = make_transport(url, namespace=namespace)
    await publisher.connect()
    try:
        await publisher.publish(encode(product(sku), namespace=namespace))

        async def so_far() -> list[str]:
            return heard

        await eventually_async(so_far, timeout=10, message=f"the listener to hear {sku}")
    finally:
        await publisher.close()


async def test_a_listening_process_hears_what_another_publishes(broker_url: str) -> None:
    ns = unique()
    heard: list[str] = []
    listening = _listening(broker_url, ns, heard)
    await listening.start()
    try:
        await until_hearing(listening)
        assert await listening.ready()
        await _publish_and_hear(broker_url, ns, "heard", heard)
        assert heard == ["heard"]
    finally:
        await listening.stop()
    assert not listening.hearing
    assert not await listening.ready()


async def test_listening_starts_without_its_broker_and_hears_once_it_is_up(
    tmp_path: Path,
) -> None:
    ns = unique()
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    heard: list[str] = []
    listening = _listening(url, ns, heard)
    began = time.monotonic()
    await listening.start()
    assert time.monotonic() - began < 1.0, "start waited for the broker"
    server = EmbeddedNats(tmp_path / "nats", port=port)
    try:
        await asyncio.sleep(0.5)
        assert not listening.hearing
        assert not await listening.ready()
        await asyncio.to_thread(server.start)
        await until_hearing(listening)
        await _publish_and_hear(url, ns, "late", heard)
        assert heard == ["late"]
    finally:
        await listening.stop()
        await asyncio.to_thread(server.stop)


async def test_stop_while_the_broker_is_away_returns_at_once() -> None:
    listening = _listening(unreachable_broker(), unique(), [])
    await listening.start()
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await listening.stop()
    assert time.monotonic() - began < 2.0
    assert listening.transport is None


def _storeless_app(chassis: ChassisSettings, heard: list[str]) -> FastAPI:
    async def hear(message: Message) -> None:
        heard.append(cast(ProductCreated, message).sku)

    return create_service(
        "shop", chassis=chassis, listeners=lambda _runtime: {ProductCreated: hear}
    )


async def test_a_storeless_service_with_listeners_starts_and_is_ready_without_its_broker(
    tmp_path: Path,
) -> None:
    chassis = ChassisSettings(var_dir=tmp_path, broker_url=unreachable_broker())
    app = _storeless_app(chassis, [])
    runtime: Runtime = app.state.runtime
    assert runtime.get(Listening) is runtime.listening
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["broker"] is False


async def test_a_storeless_service_hears_through_its_broker(
    embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    ns = unique()
    chassis = ChassisSettings(var_dir=tmp_path, broker_url=embedded_nats.url, broker_namespace=ns)
    heard: list[str] = []
    app = _storeless_app(chassis, heard)
    listening = app.state.runtime.listening
    async with app.router.lifespan_context(app):
        await until_hearing(listening)
        await _publish_and_hear(embedded_nats.url, ns, "served", heard)
    assert heard == ["served"]


def test_a_service_that_publishes_or_consumes_still_needs_a_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a store"):
        create_service("shop", chassis=ChassisSettings(var_dir=tmp_path), publishes=True)
