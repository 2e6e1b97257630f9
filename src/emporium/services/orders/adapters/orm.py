"""Orders' tables, mapped imperatively onto the plain domain classes.

The ``version`` column is the saga's concurrency guard: two replicas applying
replies to one order at once both load version n; the second UPDATE finds no
row at version n, raises ``StaleDataError``, and the chassis retries its message
against the winner's state.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import registry, relationship

from emporium.chassis import service_metadata
from emporium.chassis.messaging import make_inbox_table, make_outbox_table
from emporium.services.orders.domain import HistoryEntry, Order, OrderLine

# This service's store only: creating it makes no other service's tables. Constraint
# names follow the chassis' convention, so stores made before keep theirs.
metadata = service_metadata()
mapper_registry = registry(metadata=metadata)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False, default=""),
    sa.Column("step", sa.String(16), nullable=False),
    sa.Column("deadline", sa.DateTime, nullable=True),
    sa.Column("items_total", sa.BigInteger, nullable=False),
    sa.Column("shipping", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("shipping_address", sa.JSON, nullable=False),
    # The payments token and what may be shown; never the number or the CVC.
    sa.Column("card_token", sa.String(128), nullable=False),
    sa.Column("card_brand", sa.String(32), nullable=False),
    sa.Column("card_last4", sa.String(4), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("tracking_number", sa.String(64), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("stock_requested", sa.Boolean, nullable=False),
    sa.Column("stock_reserved", sa.Boolean, nullable=False),
    sa.Column("stock_committed", sa.Boolean, nullable=False),
    sa.Column("release_requested", sa.Boolean, nullable=False),
    sa.Column("authorization_requested", sa.Boolean, nullable=False),
    sa.Column("payment_authorized", sa.Boolean, nullable=False),
    sa.Column("capture_requested", sa.Boolean, nullable=False),
    sa.Column("payment_captured", sa.Boolean, nullable=False),
    sa.Column("void_requested", sa.Boolean, nullable=False),
    sa.Column("refund_requested", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # I4: one order per key and customer, held by the store even under races.
    sa.UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_key"),
    sa.Index("ix_orders_user_created", "user_id", "created_at"),
    sa.Index("ix_orders_status_deadline", "status", "deadline"),
    sa.Index("ix_orders_created", "created_at"),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.Uuid, sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True),
    sa.Column("product_id", sa.Uuid, nullable=False),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", sa.BigInteger, nullable=False),
    sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
)

order_history = sa.Table(
    "order_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.Uuid, sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False, default=""),
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
    mapper_registry.map_imperatively(OrderLine, order_lines)
    mapper_registry.map_imperatively(HistoryEntry, order_history)
    mapper_registry.map_imperatively(
        Order,
        orders,
        version_id_col=orders.c.version,
        properties={
            "lines": relationship(
                OrderLine, lazy="selectin", cascade="all, delete-orphan", order_by=order_lines.c.id
            ),
            "history": relationship(
                HistoryEntry,
                lazy="selectin",
                cascade="all, delete-orphan",
                order_by=order_history.c.id,
            ),
        },
    )
    _mapped = True
