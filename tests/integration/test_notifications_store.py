"""Notifications on real stores (SQLite and PostgreSQL, its production engine)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import MetaData

from emporium.chassis import Database
from emporium.contracts.orders import OrderCancelled
from emporium.services.notifications.drafts import cancelled
from emporium.services.notifications.store import NotificationRepository
from emporium.services.notifications.store import metadata as notifications_tables

pytestmark = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def store_metadata() -> MetaData:
    return notifications_tables


async def test_one_message_per_customer_order_and_kind_listed_newest_first(
    database: Database,
) -> None:
    user = uuid.uuid4()
    orders = [uuid.uuid4() for _ in range(3)]
    for order_id in [*orders, orders[0]]:
        event = OrderCancelled(order_id=order_id, user_id=user, reason="TIMEOUT")
        async with database.unit_of_work() as uow:
            await NotificationRepository(uow.session).add(cancelled(event))
            await uow.commit()
    async with database.session() as session:
        listed = await NotificationRepository(session).for_user(user, 10)
        assert await NotificationRepository(session).for_user(uuid.uuid4(), 10) == []
    assert [n.order_id for n in listed] == orders[::-1]
