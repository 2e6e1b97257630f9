"""The catalog's tables: products and the categories they belong to.

Search needs more than tables (an FTS5 index or a ``tsvector`` column): that
is added by :func:`~emporium.services.catalog._table_upgrades.upgrade_store`, which runs
after every ``create_all`` of this metadata.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from emporium.chassis import service_metadata
from emporium.chassis.messaging import make_inbox_table, make_outbox_table
from emporium.services.catalog._table_upgrades import FTS_TABLE, TSVECTOR_COLUMN, upgrade_store


class Base(DeclarativeBase):
    """Catalog's models. Its metadata is catalog's store only: creating it makes no
    other service's tables. Constraint names follow the chassis' convention."""

    metadata = service_metadata()


metadata = Base.metadata

product_categories = Table(
    "product_categories",
    metadata,
    Column("product_id", ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("category_slug", ForeignKey("categories.slug", ondelete="CASCADE"), primary_key=True),
)


def _now() -> datetime:
    return datetime.now(UTC)


class Category(Base):
    __tablename__ = "categories"

    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    price_amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # None: the image drawn from the product (``/products/{id}/image``).
    image_url: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now
    )
    categories: Mapped[list[Category]] = relationship(
        secondary=product_categories, lazy="selectin", order_by=Category.slug
    )


# The chassis' outbox and inbox, made in this store with catalog's tables.
outbox = make_outbox_table(metadata)
inbox = make_inbox_table(metadata)

event.listen(metadata, "after_create", upgrade_store)
# What the search index adds with raw SQL (the first migration runs upgrade_store):
# not drift when the model is compared with a migrated store.
metadata.info["unmanaged"] = (
    FTS_TABLE,
    f"products.{TSVECTOR_COLUMN}",
    f"ix_products_{TSVECTOR_COLUMN}",
    "ix_product_categories_category_slug",
)
