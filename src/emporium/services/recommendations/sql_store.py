"""The recommendations store in SQL (SQLite locally), on this service's own MetaData.

The graph is kept in both directions (one row per ordered pair), so "bought
with this product" is one index range read. A product's categories are rows of
their own; a deleted product keeps its row, flagged, and loses its categories.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis import Database, UnitOfWork, service_metadata
from emporium.services.recommendations.graph import co_purchases
from emporium.services.recommendations.repository import ProductFacts

__all__ = ["METADATA", "SqlRecommendationStore"]

METADATA = service_metadata()

products = sa.Table(
    "recommendations_products",
    METADATA,
    sa.Column("product_id", sa.String(36), primary_key=True),
    sa.Column("as_of", sa.BigInteger, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
)

categories = sa.Table(
    "recommendations_categories",
    METADATA,
    sa.Column("product_id", sa.String(36), primary_key=True),
    sa.Column("category", sa.String(64), primary_key=True),
    # "Which products are in this category" for the same-category fallback.
    sa.Index("ix_recommendations_categories_category", "category"),
)

together = sa.Table(
    "recommendations_together",
    METADATA,
    sa.Column("product_id", sa.String(36), primary_key=True),
    sa.Column("other_id", sa.String(36), primary_key=True),
    sa.Column("score", sa.Integer, nullable=False),
)

# Orders already counted: what makes a republished event or a backfill that
# reads an order again change nothing (the chassis inbox only knows message ids).
orders = sa.Table(
    "recommendations_orders",
    METADATA,
    sa.Column("order_id", sa.String(36), primary_key=True),
)

backfills = sa.Table(
    "recommendations_backfills",
    METADATA,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("completed_at", sa.DateTime, nullable=False),
)


_PAIRS_PER_STATEMENT = 300


def _increment(session: AsyncSession, pairs: list[tuple[UUID, UUID]]) -> Any:
    """One statement adding 1 to each pair's score, creating missing pairs at 1."""
    rows = [{"product_id": str(a), "other_id": str(b), "score": 1} for a, b in pairs]
    dialect = session.get_bind().dialect.name
    if dialect == "mysql":
        upsert = mysql.insert(together).values(rows)
        return upsert.on_duplicate_key_update(score=together.c.score + 1)
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(together).values(rows)
    return insert.on_conflict_do_update(
        index_elements=[together.c.product_id, together.c.other_id],
        set_={"score": together.c.score + 1},
    )


class SqlRecommendationStore:
    """:class:`~emporium.services.recommendations.repository.RecommendationStore`
    on the chassis Database (SQLite, PostgreSQL or MariaDB).

    Writes are statements in the caller's transaction, so the consumer's inbox
    row commits with them. Two replicas counting the same order race on the
    ``recommendations_orders`` primary key: the loser rolls back and its
    message is retried, then finds the order counted.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    async def start(self) -> None:
        await self.database.create_all(METADATA)

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        await self.database.ping()
        return True

    async def add_order(self, uow: UnitOfWork, order_id: UUID, product_ids: Sequence[UUID]) -> bool:
        session = uow.session
        counted = sa.select(sa.literal(1)).where(orders.c.order_id == str(order_id))
        if (await session.execute(counted)).first() is not None:
            return False
        await session.execute(sa.insert(orders).values(order_id=str(order_id)))
        pairs = co_purchases(product_ids)
        # Chunked: a large basket has n*(n-1) pairs, three bound values each,
        # and every driver caps the values of one statement.
        for start in range(0, len(pairs), _PAIRS_PER_STATEMENT):
            await session.execute(_increment(session, pairs[start : start + _PAIRS_PER_STATEMENT]))
        return True

    async def learn_product(self, uow: UnitOfWork, facts: ProductFacts) -> bool:
        session = uow.session
        key = str(facts.product_id)
        current = (
            await session.execute(sa.select(products).where(products.c.product_id == key))
        ).first()
        if current is None:
            await session.execute(
                sa.insert(products).values(product_id=key, as_of=facts.as_of, deleted=False)
            )
        else:
            # The rule, as one guarded UPDATE: not deleted, and not newer already.
            moved = await session.execute(
                sa.update(products)
                .where(
                    products.c.product_id == key,
                    products.c.deleted.is_(False),
                    products.c.as_of <= facts.as_of,
                )
                .values(as_of=facts.as_of)
            )
            if getattr(moved, "rowcount", 0) != 1:
                return False
        await session.execute(sa.delete(categories).where(categories.c.product_id == key))
        names = sorted(set(facts.categories))
        if names:
            await session.execute(
                sa.insert(categories), [{"product_id": key, "category": c} for c in names]
            )
        return True

    async def forget_product(self, uow: UnitOfWork, product_id: UUID, as_of: int) -> None:
        session = uow.session
        key = str(product_id)
        await session.execute(sa.delete(categories).where(categories.c.product_id == key))
        deleted = await session.execute(
            sa.update(products).where(products.c.product_id == key).values(deleted=True)
        )
        if getattr(deleted, "rowcount", 0) == 0:
            # Deleted before its creation arrived: the tombstone keeps it out.
            await session.execute(
                sa.insert(products).values(product_id=key, as_of=as_of, deleted=True)
            )

    async def product(self, product_id: UUID) -> ProductFacts | None:
        key = str(product_id)
        async with self.database.session() as session:
            row = (
                await session.execute(sa.select(products).where(products.c.product_id == key))
            ).first()
            if row is None:
                return None
            names = await session.scalars(
                sa.select(categories.c.category)
                .where(categories.c.product_id == key)
                .order_by(categories.c.category)
            )
            return ProductFacts(product_id, tuple(names), int(row.as_of), bool(row.deleted))

    async def together(self, product_id: UUID) -> dict[UUID, int]:
        query = (
            sa.select(together.c.other_id, together.c.score)
            .join(products, products.c.product_id == together.c.other_id)
            .where(together.c.product_id == str(product_id), products.c.deleted.is_(False))
        )
        async with self.database.session() as session:
            rows = (await session.execute(query)).all()
        return {UUID(other): int(score) for other, score in rows}

    async def same_category(self, product_id: UUID) -> dict[UUID, int]:
        mine = categories.alias("mine")
        theirs = categories.alias("theirs")
        # Deleted products have no category rows, so every row here is live.
        query = (
            sa.select(theirs.c.product_id, sa.func.count())
            .join(mine, mine.c.category == theirs.c.category)
            .where(mine.c.product_id == str(product_id), theirs.c.product_id != str(product_id))
            .group_by(theirs.c.product_id)
        )
        async with self.database.session() as session:
            rows = (await session.execute(query)).all()
        return {UUID(other): int(shared) for other, shared in rows}

    async def backfilled(self) -> bool:
        async with self.database.session() as session:
            found = await session.execute(sa.select(sa.literal(1)).select_from(backfills))
            return found.first() is not None

    async def mark_backfilled(self) -> None:
        async with self.database.unit_of_work() as uow:
            done = await uow.session.execute(sa.select(sa.literal(1)).select_from(backfills))
            if done.first() is None:
                now = datetime.now(UTC).replace(tzinfo=None)
                await uow.session.execute(
                    sa.insert(backfills).values(name="orders-and-catalog", completed_at=now)
                )
            await uow.commit()
