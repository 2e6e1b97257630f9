"""Tables of inventory's store, mapped onto the plain domain classes (cosmicpython's
imperative mapping), so the domain imports no SQLAlchemy.

The tables, the outbox and the inbox are on this service's own :data:`metadata`:
``database.create_all(metadata)`` makes its whole store.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import registry, relationship

from emporium.chassis import service_metadata
from emporium.chassis.messaging import make_inbox_table, make_outbox_table
from emporium.services.inventory.domain import Adjustment, Reservation, ReservationLine, StockItem

# This service's store only: creating it makes no other service's tables. Constraint
# names follow the chassis' convention, so stores made before keep theirs.
metadata = service_metadata()
mapper_registry = registry(metadata=metadata)

stock_items = sa.Table(
    "inventory_items",
    metadata,
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("product_id", sa.String(36), nullable=False, index=True),
    sa.Column("initial", sa.Integer, nullable=False),
    sa.Column("restocked", sa.Integer, nullable=False, default=0),
    sa.Column("sold", sa.Integer, nullable=False, default=0),
    sa.Column("reserved", sa.Integer, nullable=False, default=0),
    sa.Column("on_hand", sa.Integer, nullable=False),
    sa.Column("discontinued", sa.Boolean, nullable=False, default=False),
    sa.Column("version", sa.Integer, nullable=False),
    # I1 held by the store too, so even a bug in the rules cannot oversell.
    sa.CheckConstraint("reserved >= 0 AND sold >= 0", name="counters_non_negative"),
    sa.CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    sa.CheckConstraint("on_hand = initial + restocked - sold", name="on_hand_balances"),
)

reservations = sa.Table(
    "inventory_reservations",
    metadata,
    sa.Column("order_id", sa.Uuid, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=True),
    # The sweeper's query: RESERVED rows by deadline.
    sa.Index("ix_inventory_reservations_status_expires", "status", "expires_at"),
)

reservation_lines = sa.Table(
    "inventory_reservation_lines",
    metadata,
    sa.Column(
        "order_id",
        sa.Uuid,
        sa.ForeignKey("inventory_reservations.order_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
)

adjustments = sa.Table(
    "inventory_adjustments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sku", sa.String(64), nullable=False, index=True),
    sa.Column("on_hand_before", sa.Integer, nullable=False),
    sa.Column("on_hand_after", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

# The chassis' outbox and inbox, made in this store with the service's tables.
outbox = make_outbox_table(metadata)
inbox = make_inbox_table(metadata)

_mapped = False


def start_mappers() -> None:
    """Map the domain classes onto the tables (once per process; idempotent).

    Called by ``main.create_app`` (and by tests that use the store without
    the app), never at import: importing a table must not change classes.
    """
    global _mapped
    if _mapped:
        return
    # The version column is a safety net behind the row locks: an update that
    # raced past them fails (StaleDataError) instead of losing a write.
    mapper_registry.map_imperatively(StockItem, stock_items, version_id_col=stock_items.c.version)
    mapper_registry.map_imperatively(ReservationLine, reservation_lines)
    mapper_registry.map_imperatively(
        Reservation,
        reservations,
        properties={
            "lines": relationship(
                ReservationLine,
                lazy="selectin",
                cascade="all, delete-orphan",
                order_by=reservation_lines.c.sku,
            )
        },
    )
    mapper_registry.map_imperatively(Adjustment, adjustments)
    _mapped = True
