"""The cart in SQL (SQLite locally): one row per (user, product), indexed by product."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import BigInteger, Boolean, CheckConstraint, Integer, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from emporium.chassis import Database, UnitOfWork, service_metadata
from emporium.chassis.messaging import make_inbox_table, make_outbox_table
from emporium.services.cart.domain import MAX_QUANTITY, Cart, CartLine

__all__ = ["CartHeadRow", "CartLineRow", "SqlCartRepository", "metadata"]


class Base(DeclarativeBase):
    """Cart's SQL models. Its metadata is cart's store only (with the outbox and inbox
    its consumer needs): creating it makes no other service's tables."""

    metadata = service_metadata()


metadata = Base.metadata
outbox = make_outbox_table(metadata)
inbox = make_inbox_table(metadata)


class CartLineRow(Base):
    __tablename__ = "cart_lines"
    __table_args__ = (
        CheckConstraint(f"quantity >= 1 AND quantity <= {MAX_QUANTITY}", name="quantity_range"),
    )

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The index answers "which carts hold this product" for catalog's events.
    product_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    price_as_of: Mapped[int] = mapped_column(BigInteger, default=0)
    added_at: Mapped[int] = mapped_column(BigInteger, default=0)

    def to_line(self) -> CartLine:
        return CartLine(
            product_id=UUID(self.product_id),
            sku=self.sku,
            name=self.name,
            quantity=self.quantity,
            unit_price=self.unit_price,
            currency=self.currency,
            available=self.available,
            price_as_of=self.price_as_of,
            added_at=self.added_at,
        )


class CartHeadRow(Base):
    """One row per cart that has ever held a line: what concurrent adds lock on."""

    __tablename__ = "cart_heads"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


def _lines_of(product_id: UUID) -> sa.ColumnElement[bool]:
    return CartLineRow.product_id == str(product_id)


class SqlCartRepository:
    """:class:`~emporium.services.cart.repository.CartRepository` on the chassis Database.

    Message effects are single statements in the consumer's transaction, so the
    chassis inbox row commits with them (exactly-once effect).
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        await self.database.ping()
        return True

    async def get(self, user_id: UUID) -> Cart:
        async with self.database.session() as session:
            rows = await session.scalars(
                sa.select(CartLineRow).where(CartLineRow.user_id == str(user_id))
            )
            return Cart.of(user_id, [row.to_line() for row in rows])

    async def put_line(self, user_id: UUID, line: CartLine, *, max_lines: int) -> bool:
        # A concurrent writer that created the same head or line first makes this
        # attempt fail on a primary key; the next attempt sees its row.
        for attempt in range(3):
            try:
                return await self._put_line(user_id, line, max_lines)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _put_line(self, user_id: UUID, line: CartLine, max_lines: int) -> bool:
        user = str(user_id)
        snapshot = {
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "currency": line.currency,
            "available": line.available,
        }
        async with self.database.unit_of_work() as uow:
            # Writing first takes SQLite's write lock (or the row lock elsewhere)
            # before anything is read, so nothing below reads a stale snapshot.
            updated = await uow.session.execute(
                sa.update(CartLineRow)
                .where(CartLineRow.user_id == user, _lines_of(line.product_id))
                .values(**snapshot)
            )
            if _rowcount(updated) == 0:
                # A new line: new lines of one cart take turns on its head row,
                # so the count below cannot be overtaken by a concurrent add.
                locked = await uow.session.execute(
                    sa.update(CartHeadRow)
                    .where(CartHeadRow.user_id == user)
                    .values(version=CartHeadRow.version + 1)
                )
                if _rowcount(locked) == 0:
                    uow.session.add(CartHeadRow(user_id=user, version=1))
                    await uow.session.flush()
                count = await uow.session.scalar(
                    sa.select(sa.func.count()).where(CartLineRow.user_id == user)
                )
                if (count or 0) >= max_lines:
                    return False
                uow.session.add(
                    CartLineRow(
                        user_id=user,
                        product_id=str(line.product_id),
                        price_as_of=0,
                        added_at=line.added_at,
                        **snapshot,
                    )
                )
            await uow.commit()
            return True

    async def remove_line(self, user_id: UUID, product_id: UUID) -> None:
        async with self.database.unit_of_work() as uow:
            await uow.session.execute(
                sa.delete(CartLineRow).where(
                    CartLineRow.user_id == str(user_id), _lines_of(product_id)
                )
            )
            await uow.commit()

    async def clear(self, user_id: UUID) -> None:
        async with self.database.unit_of_work() as uow:
            await uow.session.execute(
                sa.delete(CartLineRow).where(CartLineRow.user_id == str(user_id))
            )
            await uow.commit()

    async def reprice(
        self,
        uow: UnitOfWork,
        message_id: UUID,
        product_id: UUID,
        unit_price: int,
        currency: str,
        as_of: int,
    ) -> int:
        result = await uow.session.execute(
            sa.update(CartLineRow)
            .where(_lines_of(product_id), CartLineRow.price_as_of <= as_of)
            .values(unit_price=unit_price, currency=currency, price_as_of=as_of)
        )
        return _rowcount(result)

    async def withdraw(self, uow: UnitOfWork, message_id: UUID, product_id: UUID) -> int:
        result = await uow.session.execute(
            sa.update(CartLineRow)
            .where(_lines_of(product_id), CartLineRow.available.is_(True))
            .values(available=False)
        )
        return _rowcount(result)

    async def remove_products(
        self, uow: UnitOfWork, message_id: UUID, user_id: UUID, product_ids: Sequence[UUID]
    ) -> int:
        if not product_ids:
            return 0
        result = await uow.session.execute(
            sa.delete(CartLineRow).where(
                CartLineRow.user_id == str(user_id),
                CartLineRow.product_id.in_([str(p) for p in product_ids]),
            )
        )
        return _rowcount(result)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
