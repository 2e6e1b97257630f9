"""Notifications in-process on a real broker: one message per event and customer.

Orders and shipping are played by a publisher-only ``Messaging`` in the test's
namespace; every event is delivered twice (two broker copies of one message id).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import REGISTRY

from emporium.chassis import ChassisSettings, Database
from emporium.chassis.messaging import Messaging, encode
from emporium.chassis.testing import TokenFactory
from emporium.contracts import Message
from emporium.contracts.money import Money
from emporium.contracts.orders import OrderCancelled, OrderConfirmed, OrderLine
from emporium.contracts.shipping import ShipmentDispatched
from emporium.services.notifications.main import create_app
from emporium.services.notifications.settings import NotificationsSettings
from emporium.services.notifications.store import metadata as notifications_tables
from tests._poll import eventually_async
from tests.integration._services import chassis_settings, running, unique_namespace


def duplicates(consumer: str) -> float:
    """How many deliveries ``consumer`` acknowledged as already handled (this process)."""
    value = REGISTRY.get_sample_value("emporium_messages_duplicate_total", {"consumer": consumer})
    return value or 0.0


@asynccontextmanager
async def publisher(tmp_path: Path, broker_url: str, namespace: str) -> AsyncIterator[Messaging]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'publisher.db'}")
    await database.create_all(notifications_tables)
    messaging = Messaging(
        broker_url, service="test-publisher", database=database, namespace=namespace, relay=False
    )
    await messaging.start()
    try:
        yield messaging
    finally:
        await messaging.stop()
        await database.dispose()


async def deliver_twice(messaging: Messaging, message: Message) -> None:
    envelope = encode(message, namespace=messaging.namespace)
    await messaging.transport.publish(envelope)
    await messaging.transport.publish(dataclasses.replace(envelope, dedup_id=f"{message.id}-2"))


def order_confirmed(user_id: uuid.UUID) -> OrderConfirmed:
    line = OrderLine(
        product_id=uuid.uuid4(), sku="SKU-1", name="Mug", quantity=1, unit_price=Money(amount=950)
    )
    return OrderConfirmed(
        order_id=uuid.uuid4(), user_id=user_id, lines=[line], total=Money(amount=950)
    )


async def test_each_event_stores_one_message_for_its_customer_only_newest_first(
    tmp_path: Path, broker_url: str
) -> None:
    namespace, tokens = unique_namespace(), TokenFactory()
    alice, bob = uuid.uuid4(), uuid.uuid4()

    def create(chassis: ChassisSettings) -> FastAPI:
        return create_app(chassis, NotificationsSettings(), auth=tokens.verifier())

    chassis = chassis_settings(tmp_path / "var", broker_url, namespace)
    async with (
        running(create, chassis) as client,
        publisher(tmp_path, broker_url, namespace) as orders,
    ):

        async def inbox_of(user: uuid.UUID) -> list[dict[str, str]]:
            response = await client.get("/api/notifications", headers=tokens.headers(user))
            assert response.status_code == 200
            items: list[dict[str, str]] = response.json()["items"]
            return items

        async def deliver(message: Message, consumer: str, user: uuid.UUID, count: int) -> None:
            before = duplicates(consumer)
            await deliver_twice(orders, message)

            async def stored_once_and_duplicate_absorbed() -> bool:
                return duplicates(consumer) > before and len(await inbox_of(user)) == count

            await eventually_async(
                stored_once_and_duplicate_absorbed,
                timeout=15,
                message=f"waiting for {message.type} once",
            )

        shipped_order = order_confirmed(alice)
        await deliver(shipped_order, "notifications.OrderConfirmed", alice, 1)
        dispatched = ShipmentDispatched(
            order_id=shipped_order.order_id,
            user_id=alice,
            tracking_number="EMP123456789ABC",
            carrier="Emporium Post",
        )
        await deliver(dispatched, "notifications.ShipmentDispatched", alice, 2)
        declined = OrderCancelled(order_id=uuid.uuid4(), user_id=alice, reason="PAYMENT_DECLINED")
        await deliver(declined, "notifications.OrderCancelled", alice, 3)
        await deliver(order_confirmed(bob), "notifications.OrderConfirmed", bob, 1)

        items = await inbox_of(alice)
        assert [item["kind"] for item in items] == [
            "order_cancelled",
            "order_shipped",
            "order_confirmed",
        ]
        ref = shipped_order.order_id.hex[:8]
        assert items[2]["subject"] == f"Your order {ref} is confirmed"
        assert items[2]["order_id"] == str(shipped_order.order_id)
        assert items[1]["subject"] == f"Your order {ref} has shipped: tracking EMP123456789ABC"
        assert items[0]["subject"].endswith("was cancelled: payment declined")
        assert set(items[0]) == {"id", "subject", "body", "created_at", "order_id", "kind"}
        assert [item["kind"] for item in await inbox_of(bob)] == ["order_confirmed"]
        # Admins read their own messages here too, never someone else's.
        admin = await client.get("/api/notifications", headers=tokens.headers(role="admin"))
        assert admin.json() == {"items": []}
        anonymous = await client.get("/api/notifications")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
