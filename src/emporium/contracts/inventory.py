"""Inventory's commands (sent by the orders saga) and its events."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from emporium.contracts._base import IntegrationEvent, Message


class StockLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int = Field(ge=1)


class ReserveStock(Message):
    """Reserve every line or none, for one order."""

    type = "ReserveStock"
    context = "inventory"

    order_id: UUID
    lines: list[StockLine]


class CommitStock(Message):
    """The order is confirmed: reserved units become sold. Idempotent."""

    type = "CommitStock"
    context = "inventory"

    order_id: UUID


class ReleaseStock(Message):
    """The order is cancelled: reserved units become available again. Idempotent."""

    type = "ReleaseStock"
    context = "inventory"

    order_id: UUID


class StockReserved(IntegrationEvent):
    type = "StockReserved"
    context = "inventory"

    order_id: UUID
    lines: list[StockLine]


class StockRejected(IntegrationEvent):
    type = "StockRejected"
    context = "inventory"

    order_id: UUID
    reason: str
    unavailable: list[str] = []


class StockCommitted(IntegrationEvent):
    type = "StockCommitted"
    context = "inventory"

    order_id: UUID


class StockReleased(IntegrationEvent):
    type = "StockReleased"
    context = "inventory"

    order_id: UUID
    reason: str = ""


class StockChanged(IntegrationEvent):
    """Available units of a SKU changed (restock, reservation, release, sale)."""

    type = "StockChanged"
    context = "inventory"

    sku: str
    available: int


class StockCommitRefused(IntegrationEvent):
    """A ``CommitStock`` that cannot happen: the reservation expired (``EXPIRED``), was
    released (``RELEASED``), was refused (``REJECTED``) or never existed (``NOT_RESERVED``).
    Nothing was sold; the order must not be confirmed on this stock."""

    type = "StockCommitRefused"
    context = "inventory"

    order_id: UUID
    reason: str
