"""Inventory in the whole system: seeded stock, the admin guard, and a saga command
published through the system's own broker answered by ``StockReserved``."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest

from emporium.chassis import Database, UnitOfWork
from emporium.chassis.messaging import Messaging
from emporium.contracts.inventory import ReserveStock, StockLine, StockReserved
from tests._poll import eventually
from tests._system import System

pytestmark = pytest.mark.e2e


def _skus(client: httpx.Client) -> list[str]:
    items = client.get("/api/catalog/products", params={"limit": 100}).json()["items"]
    return [product["sku"] for product in items]


def test_seeded_products_have_stock(client: httpx.Client) -> None:
    skus = _skus(client)
    eventually(
        lambda: [s for s in skus if client.get(f"/api/inventory/items/{s}").status_code != 200],
        lambda unstocked: not unstocked,
        timeout=20,
        interval=0.2,
        message="seeded products without stock",
    )
    assert client.get(f"/api/inventory/items/{skus[0]}").json()["available"] > 0


def test_admin_routes_refuse_anonymous_callers(client: httpx.Client) -> None:
    sku = _skus(client)[0]
    for response in (
        client.put(f"/api/inventory/items/{sku}", json={"on_hand": 1}),
        client.get("/api/inventory/items"),
        client.get(f"/api/inventory/reservations/{uuid.uuid4()}"),
    ):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


async def _reserve_through_broker(system: System, sku: str, tmp_path: Path) -> StockReserved:
    state = json.loads((system.var_dir / "run" / "state").read_text())
    answers: list[StockReserved] = []
    seen = asyncio.Event()
    order_id = uuid.uuid4()

    async def on_reserved(event: StockReserved, _uow: UnitOfWork) -> None:
        if event.order_id == order_id:
            answers.append(event)
            seen.set()

    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}")
    await database.create_all()
    messaging = Messaging(
        state["summary"]["broker_url"],
        service=f"e2e{uuid.uuid4().hex[:6]}",
        database=database,
        handlers={StockReserved: on_reserved},
        namespace=system.env["EMPORIUM_BROKER_NAMESPACE"],
    )
    await messaging.start()
    try:
        async with database.unit_of_work() as uow:
            command = ReserveStock(order_id=order_id, lines=[StockLine(sku=sku, quantity=1)])
            await messaging.outbox.add(uow.session, command)
            await uow.commit()
        await asyncio.wait_for(seen.wait(), timeout=20)
        return answers[0]
    finally:
        await messaging.stop()
        await database.dispose()


def test_reserve_command_through_the_broker_is_answered_stock_reserved(
    system: System, client: httpx.Client, tmp_path: Path
) -> None:
    sku = _skus(client)[-1]
    eventually(
        lambda: client.get(f"/api/inventory/items/{sku}").status_code,
        lambda status: status == 200,
        timeout=20,
        message=f"{sku} never got stock",
    )
    before = client.get(f"/api/inventory/items/{sku}").json()["available"]
    answer = asyncio.run(_reserve_through_broker(system, sku, tmp_path))
    assert answer.lines == [StockLine(sku=sku, quantity=1)]
    assert client.get(f"/api/inventory/items/{sku}").json()["available"] == before - 1
