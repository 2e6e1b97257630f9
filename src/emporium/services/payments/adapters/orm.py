"""Tables of payments' store, mapped onto the plain domain classes (imperative
mapping), so the domain imports no SQLAlchemy.

Neither table has a column that could hold a card number or a CVC: the vault
keeps what the simulator needs to decide later, the intent what the audit reads.
The tables, the outbox and the inbox are on this service's own :data:`metadata`:
``database.create_all(metadata)`` makes its whole store.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import registry

from emporium.chassis import service_metadata
from emporium.chassis.messaging import make_inbox_table, make_outbox_table
from emporium.services.payments.domain import PaymentIntent

# This service's store only: creating it makes no other service's tables. Constraint
# names follow the chassis' convention, so stores made before keep theirs.
metadata = service_metadata()
mapper_registry = registry(metadata=metadata)

payment_intents = sa.Table(
    "payments_intents",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    # One intent per order: idempotency of the saga's commands rests on it.
    sa.Column("order_id", sa.Uuid, nullable=False, unique=True),
    sa.Column("user_id", sa.Uuid, nullable=True, index=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("reason", sa.String(64), nullable=False, default=""),
    sa.Column("brand", sa.String(16), nullable=False, default=""),
    sa.Column("last4", sa.String(4), nullable=False, default=""),
    sa.Column("authorized", sa.Boolean, nullable=False, default=False),
    sa.Column("captured_amount", sa.BigInteger, nullable=False, default=0),
    sa.Column("refunded_amount", sa.BigInteger, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # I2 held by the store too: never more taken than held, nor returned than taken.
    sa.CheckConstraint(
        "captured_amount >= 0 AND captured_amount <= amount", name="captured_within_amount"
    ),
    sa.CheckConstraint(
        "refunded_amount >= 0 AND refunded_amount <= captured_amount",
        name="refunded_within_captured",
    ),
)

card_vault = sa.Table(
    "payments_cards",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("owner_id", sa.Uuid, nullable=False, index=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("brand", sa.String(16), nullable=False),
    sa.Column("last4", sa.String(4), nullable=False),
    sa.Column("exp_month", sa.Integer, nullable=False),
    sa.Column("exp_year", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
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
    # The version column catches an update that raced past the row lock.
    mapper_registry.map_imperatively(
        PaymentIntent, payment_intents, version_id_col=payment_intents.c.version
    )
    _mapped = True
