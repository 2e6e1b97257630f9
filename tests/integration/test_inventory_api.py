"""Inventory over HTTP and through the real broker, running in-process."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from emporium.chassis import Database, UnitOfWork, transactionally
from emporium.chassis.messaging import Envelope, Messaging, Outbox, encode
from emporium.chassis.testing import TokenFactory
from emporium.contracts.catalog import ProductCreated
from emporium.contracts.inventory import ReserveStock, StockLine, StockReserved
from emporium.contracts.money import Money
from emporium.launcher.nats import EmbeddedNats
from emporium.services.inventory.adapters.orm import stock_items
from emporium.services.inventory.main import create_app
from emporium.services.inventory.service_layer import InventoryService, SqlInventoryUnitOfWork
from emporium.services.inventory.settings import InventorySettings
from tests.integration._services import chassis_settings, running, unique_namespace


@dataclass
class Inventory:
    client: httpx.AsyncClient
    tokens: TokenFactory
    database: Database[SqlInventoryUnitOfWork]
    service: InventoryService
    broker_url: str
    namespace: str

    def admin(self) -> dict[str, str]:
        return self.tokens.headers(uuid.uuid4(), role="admin")

    async def stock(self, units: int = 50) -> str:
        sku = f"SKU-{uuid.uuid4().hex[:10]}"
        created = ProductCreated(product_id=uuid.uuid4(), sku=sku, name=sku, price=Money(amount=1))
        service = self.service
        await transactionally(
            self.database.unit_of_work, lambda uow: service.product_created(created, uow)
        )
        return sku


async def _inventory(var_dir: Path, broker_url: str) -> AsyncIterator[Inventory]:
    namespace, tokens = unique_namespace(), TokenFactory()
    app = functools.partial(create_app, auth=tokens.verifier())
    async with running(app, chassis_settings(var_dir, broker_url, namespace)) as client:
        # A second handle on the same store, to set up stock without the catalog.
        database = Database(
            InventorySettings().resolved_database_url("inventory", var_dir),
            unit_of_work=SqlInventoryUnitOfWork,
            publisher=Outbox(namespace=namespace),
        )
        service = InventoryService(
            reservation_ttl=InventorySettings().reservation_ttl,
            initial_stock=50,
        )
        try:
            yield Inventory(client, tokens, database, service, broker_url, namespace)
        finally:
            await database.dispose()


@pytest.fixture
async def inventory(var_dir: Path, embedded_nats: EmbeddedNats) -> AsyncIterator[Inventory]:
    async for running_inventory in _inventory(var_dir, embedded_nats.url):
        yield running_inventory


async def test_public_read_is_sku_and_available_only(inventory: Inventory) -> None:
    sku = await inventory.stock()
    response = await inventory.client.get(f"/api/inventory/items/{sku}")
    assert response.json() == {"sku": sku, "available": 50}


async def test_a_stock_read_shows_this_services_own_write_at_once(inventory: Inventory) -> None:
    sku = await inventory.stock()
    path = f"/api/inventory/items/{sku}"
    assert (await inventory.client.get(path)).json()["available"] == 50  # now kept in memory
    put = await inventory.client.put(path, json={"on_hand": 7}, headers=inventory.admin())
    assert put.status_code == 200
    # The write's commit cleared the read model: the very next read is the new count.
    assert (await inventory.client.get(path)).json() == {"sku": sku, "available": 7}


@pytest.fixture
async def long_lived_reads(
    var_dir: Path, embedded_nats: EmbeddedNats, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Inventory]:
    """Inventory whose stock reads would stay a minute if nothing cleared them."""
    monkeypatch.setenv("EMPORIUM_INVENTORY_READ_MODEL_TTL", "60")
    async for running_inventory in _inventory(var_dir, embedded_nats.url):
        yield running_inventory


async def test_another_replicas_write_reaches_the_stock_read_by_its_event(
    long_lived_reads: Inventory,
) -> None:
    inventory = long_lived_reads
    sku = await inventory.stock()
    path = f"/api/inventory/items/{sku}"
    assert (await inventory.client.get(path)).json()["available"] == 50
    # Another replica (a second handle on the same store) reserves: its commit
    # cannot clear this process's memory; its StockChanged event does.
    command = ReserveStock(order_id=uuid.uuid4(), lines=[StockLine(sku=sku, quantity=5)])
    service = inventory.service
    await transactionally(
        inventory.database.unit_of_work, lambda uow: service.reserve(command, uow)
    )
    give_up = asyncio.get_running_loop().time() + 20
    while (available := (await inventory.client.get(path)).json()["available"]) == 50:
        assert asyncio.get_running_loop().time() < give_up, "the stock read stayed stale"
        await asyncio.sleep(0.1)
    assert available == 45


async def test_an_own_write_forgets_only_the_stock_reads_it_changed(
    long_lived_reads: Inventory,
) -> None:
    """A checkout's reservation, say, must not empty every stock read a page needs."""
    inventory = long_lived_reads
    changed, untouched = await inventory.stock(), await inventory.stock()
    for sku in (changed, untouched):
        assert (await inventory.client.get(f"/api/inventory/items/{sku}")).json()["available"] == 50
    # Behind the service's back (no event, no outbox), the store changes the other SKU:
    # from now on only a read that goes to the store can see it.
    async with inventory.database.unit_of_work() as uow:
        await uow.session.execute(
            sa.update(stock_items)
            .where(stock_items.c.sku == untouched)
            .values(initial=stock_items.c.initial - 41, on_hand=stock_items.c.on_hand - 41)
        )
        await uow.commit()
    path = f"/api/inventory/items/{changed}"
    put = await inventory.client.put(path, json={"on_hand": 7}, headers=inventory.admin())
    assert put.status_code == 200
    assert (await inventory.client.get(path)).json()["available"] == 7
    # The write's commit forgot its own SKU's read only: the other is still the kept one.
    kept = await inventory.client.get(f"/api/inventory/items/{untouched}")
    assert kept.json()["available"] == 50


async def test_setting_stock_needs_an_admin(inventory: Inventory) -> None:
    sku = await inventory.stock()
    path, body = f"/api/inventory/items/{sku}", {"on_hand": 7}
    anonymous = await inventory.client.put(path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    customer = await inventory.client.put(path, json=body, headers=inventory.tokens.headers())
    assert customer.status_code == 403
    admin = await inventory.client.put(path, json=body, headers=inventory.admin())
    assert admin.status_code == 200
    assert admin.json() | {"restocked": -43, "on_hand": 7, "available": 7} == admin.json()
    listing = await inventory.client.get("/api/inventory/items", headers=inventory.tokens.headers())
    assert listing.status_code == 403


async def test_stock_is_never_set_below_what_is_reserved(inventory: Inventory) -> None:
    sku = await inventory.stock()
    order = uuid.uuid4()
    command = ReserveStock(order_id=order, lines=[StockLine(sku=sku, quantity=5)])
    service = inventory.service
    await transactionally(
        inventory.database.unit_of_work, lambda uow: service.reserve(command, uow)
    )
    path = f"/api/inventory/items/{sku}"
    refused = await inventory.client.put(path, json={"on_hand": 4}, headers=inventory.admin())
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert (
        await inventory.client.put(path, json={"on_hand": 5}, headers=inventory.admin())
    ).json()["available"] == 0
    reservation = await inventory.client.get(
        f"/api/inventory/reservations/{order}", headers=inventory.admin()
    )
    assert reservation.json()["status"] == "RESERVED"
    assert reservation.json()["lines"] == [{"sku": sku, "quantity": 5}]


# Fixed, not uuid4(): every pytest-xdist worker must collect the same test ids.
NO_SUCH_ORDER = "3e9b6f20-8c1d-4a75-b0e4-5d2c7f1a6b93"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PUT", "/api/inventory/items/NO-SUCH", {"on_hand": 1}, 404),
        ("PUT", "/api/inventory/items/X", {"on_hand": -1}, 422),
        ("PUT", "/api/inventory/items/X", {"units": 1}, 422),
        ("GET", "/api/inventory/items?limit=0", None, 422),
        ("GET", "/api/inventory/reservations/not-a-uuid", None, 422),
        ("GET", f"/api/inventory/reservations/{NO_SUCH_ORDER}", None, 404),
    ],
)
async def test_bad_admin_requests_are_problems(
    inventory: Inventory, method: str, path: str, body: object, status: int
) -> None:
    response = await inventory.client.request(method, path, json=body, headers=inventory.admin())
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def test_admin_list_shows_every_counter(inventory: Inventory) -> None:
    await inventory.stock()
    page = (await inventory.client.get("/api/inventory/items", headers=inventory.admin())).json()
    assert page["total"] >= 1
    for item in page["items"]:
        assert item["initial"] + item["restocked"] == (
            item["available"] + item["reserved"] + item["sold"]
        )


async def _saga(
    inventory: Inventory, saga_db: Database, answers: list[StockReserved], seen: asyncio.Event
) -> Messaging:
    async def on_reserved(event: StockReserved, _uow: UnitOfWork) -> None:
        answers.append(event)
        seen.set()

    await saga_db.create_all()
    return Messaging(
        inventory.broker_url,
        service="saga",
        database=saga_db,
        handlers={StockReserved: on_reserved},
        namespace=inventory.namespace,
    )


async def test_reserve_command_through_the_broker_answers_once_per_order(
    var_dir: Path, tmp_path: Path, broker_url: str
) -> None:
    async for inventory in _inventory(var_dir, broker_url):
        sku = await inventory.stock()
        answers: list[StockReserved] = []
        seen = asyncio.Event()
        saga_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'saga.db'}")
        saga = await _saga(inventory, saga_db, answers, seen)
        await saga.start()
        try:
            command = ReserveStock(order_id=uuid.uuid4(), lines=[StockLine(sku=sku, quantity=2)])
            envelope = encode(command, namespace=inventory.namespace)
            # Two broker copies of one message (distinct dedup ids): a real redelivery.
            for copy in range(2):
                await saga.transport.publish(
                    Envelope(
                        envelope.subject,
                        envelope.payload,
                        envelope.message_id,
                        envelope.headers,
                        dedup_id=f"{envelope.message_id}-{copy}",
                    )
                )
            await asyncio.wait_for(seen.wait(), timeout=15)
            await asyncio.sleep(0.5)  # room for a wrong second answer to show up
            assert [a.order_id for a in answers] == [command.order_id]
            item = await inventory.client.get(f"/api/inventory/items/{sku}")
            assert item.json()["available"] == 48
        finally:
            await saga.stop()
            await saga_db.dispose()
