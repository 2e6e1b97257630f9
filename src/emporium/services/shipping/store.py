"""Shipping's tables and the repository that applies transitions atomically.

Every transition is one conditional UPDATE (``WHERE status IN sources``): of two
replicas (or a dispatcher and a cancellation) racing on one shipment, exactly
one sees a row changed; the other changes nothing and does nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis import service_metadata
from emporium.chassis.messaging import make_inbox_table, make_outbox_table
from emporium.services.shipping.domain import Shipment, ShipmentStatus, sources_of

__all__ = ["ShipmentRepository", "cancelled_orders", "metadata", "shipments"]

# MariaDB's DATETIME keeps whole seconds unless asked for microseconds; the
# dispatch delay is often below a second in tests and demos.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# Shipping's store only: creating it makes no other service's tables. Constraint
# names follow the chassis' convention, so stores made before keep theirs.
metadata = service_metadata()
# The chassis' outbox and inbox, made in this store with the service's tables.
outbox = make_outbox_table(metadata)
inbox = make_inbox_table(metadata)

shipments = sa.Table(
    "shipping_shipments",
    metadata,
    sa.Column("order_id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, nullable=False, index=True),
    sa.Column("tracking_number", sa.String(32), nullable=False, unique=True),
    sa.Column("carrier", sa.String(64), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("dispatch_after", Timestamp, nullable=False),
    sa.Column("dispatched_at", Timestamp, nullable=True),
    sa.Column("cancelled_at", Timestamp, nullable=True),
    # The dispatcher's query: CREATED rows by due time.
    sa.Index("ix_shipping_shipments_status_due", "status", "dispatch_after"),
)

# Orders cancelled, whether or not a shipment existed then: an OrderConfirmed
# that arrives after its OrderCancelled (retries reorder messages) must not
# create a shipment that would then be dispatched.
cancelled_orders = sa.Table(
    "shipping_cancelled_orders",
    metadata,
    sa.Column("order_id", sa.Uuid, primary_key=True),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("cancelled_at", Timestamp, nullable=False),
)


def _shipment(row: sa.RowMapping) -> Shipment:
    values = dict(row)
    values["status"] = ShipmentStatus(values["status"])
    return Shipment(**values)


class ShipmentRepository:
    """Shipments in one session's transaction; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, order_id: UUID) -> Shipment | None:
        query = sa.select(shipments).where(shipments.c.order_id == order_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _shipment(row)

    async def add(self, shipment: Shipment) -> None:
        values = {column.name: getattr(shipment, column.name) for column in shipments.columns}
        values["status"] = shipment.status.value
        await self.session.execute(sa.insert(shipments).values(values))

    async def due(self, now: datetime, limit: int) -> list[UUID]:
        """Order ids of shipments that may be dispatched now, oldest first."""
        query = (
            sa.select(shipments.c.order_id)
            .where(
                shipments.c.status.in_(sources_of(ShipmentStatus.DISPATCHED)),
                shipments.c.dispatch_after <= now,
            )
            .order_by(shipments.c.dispatch_after)
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def _transition(
        self, order_id: UUID, target: ShipmentStatus, values: Mapping[str, Any], *extra: Any
    ) -> Shipment | None:
        statement = (
            sa.update(shipments)
            .where(
                shipments.c.order_id == order_id,
                shipments.c.status.in_(sources_of(target)),
                *extra,
            )
            .values(status=target.value, **values)
        )
        result = await self.session.execute(statement)
        if getattr(result, "rowcount", 0) != 1:
            return None
        return await self.get(order_id)

    async def claim_dispatch(self, order_id: UUID, now: datetime) -> Shipment | None:
        """Mark the shipment DISPATCHED if it is still due; the dispatched shipment or None."""
        return await self._transition(
            order_id,
            ShipmentStatus.DISPATCHED,
            {"dispatched_at": now},
            shipments.c.dispatch_after <= now,
        )

    async def cancel(self, order_id: UUID, now: datetime) -> Shipment | None:
        """Cancel the shipment if not dispatched yet; the cancelled shipment or None."""
        return await self._transition(order_id, ShipmentStatus.CANCELLED, {"cancelled_at": now})

    async def order_cancelled(self, order_id: UUID) -> bool:
        query = sa.select(sa.literal(1)).where(cancelled_orders.c.order_id == order_id)
        return (await self.session.execute(query)).first() is not None

    async def record_cancellation(self, order_id: UUID, reason: str, now: datetime) -> None:
        if not await self.order_cancelled(order_id):
            await self.session.execute(
                sa.insert(cancelled_orders).values(
                    order_id=order_id, reason=reason[:64], cancelled_at=now
                )
            )
