"""Notifications on real stores (SQLite and PostgreSQL, its production engine)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from emporium.chassis import Database
from emporium.contracts.orders import OrderCancelled
from emporium.services.notifications.messages import cancelled
from emporium.services.notifications.store import NotificationRepository
from tests.conftest import POSTGRES_URL, require_server


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    url = sa.make_url(require_server(POSTGRES_URL, "PostgreSQL"))
    name = f"notifications_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(sa.text(statement))
        finally:
            await engine.dispose()

    def run(statement: str) -> None:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, admin(statement)).result()

    run(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres")
    database = Database(url)
    await database.create_all()
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
