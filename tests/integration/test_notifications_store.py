"""Notifications on real stores (SQLite and PostgreSQL, its production engine)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from emporium.chassis import Database
from emporium.contracts.orders import OrderCancelled
from emporium.services.notifications.drafts import cancelled
from emporium.services.notifications.store import NotificationRepository
from emporium.services.notifications.store import metadata as notifications_tables
from tests.conftest import POSTGRES_URL, fresh_database, require_server


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    with fresh_database(require_server(POSTGRES_URL, "PostgreSQL"), "notifications") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres")
    database = Database(url)
    await database.create_all(notifications_tables)
    yield database
    await database.dispose()


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
