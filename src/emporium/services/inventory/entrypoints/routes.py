"""Inventory's HTTP API: a public availability read, admin counts and audit reads."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Annotated, cast
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from emporium.chassis import Database, Problem, provided, transactionally
from emporium.chassis.auth import AdminUser
from emporium.chassis.messaging import Outbox
from emporium.chassis.openapi import JsonInt, Offset
from emporium.chassis.problems import problem_responses
from emporium.chassis.read_model import ReadModel
from emporium.contracts._base import Message
from emporium.contracts.inventory import StockChanged
from emporium.services.inventory.adapters.repository import InventoryRepository
from emporium.services.inventory.domain import BelowReservedError, Reservation, StockItem
from emporium.services.inventory.service_layer import (
    InventoryService,
    SqlInventoryUnitOfWork,
    UnknownItemError,
)

router = APIRouter(prefix="/api/inventory", tags=["inventory"])

Store = Annotated[Database[SqlInventoryUnitOfWork], Depends(provided(Database))]
Inventory = Annotated[InventoryService, Depends(provided(InventoryService))]
Stock = Annotated[ReadModel, Depends(provided(ReadModel))]

Sku = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class StockOut(BaseModel):
    sku: str
    available: int


class StockAdminOut(StockOut):
    """Every counter of I1: ``initial + restocked == available + reserved + sold``."""

    product_id: str
    on_hand: int
    reserved: int
    sold: int
    initial: int
    restocked: int
    discontinued: bool

    @classmethod
    def of(cls, item: StockItem) -> StockAdminOut:
        return cls(
            sku=item.sku,
            available=item.available,
            product_id=item.product_id,
            on_hand=item.on_hand,
            reserved=item.reserved,
            sold=item.sold,
            initial=item.initial,
            restocked=item.restocked,
            discontinued=item.discontinued,
        )


class StockPage(BaseModel):
    items: list[StockAdminOut]
    total: int


class SetStock(BaseModel):
    on_hand: JsonInt = Field(ge=0, le=1_000_000_000)


class LineOut(BaseModel):
    sku: str
    quantity: int


class ReservationOut(BaseModel):
    order_id: UUID
    status: str
    reason: str
    lines: list[LineOut]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, reservation: Reservation) -> ReservationOut:
        expires = reservation.expires_at
        return cls(
            order_id=reservation.order_id,
            status=reservation.status,
            reason=reservation.reason,
            lines=[LineOut(sku=line.sku, quantity=line.quantity) for line in reservation.lines],
            created_at=reservation.created_at.replace(tzinfo=UTC),
            updated_at=reservation.updated_at.replace(tzinfo=UTC),
            expires_at=expires.replace(tzinfo=UTC) if expires else None,
        )


def _item_key(sku: str) -> tuple[str, str]:
    return ("item", sku)


def _changed_item(event: Message) -> Hashable:
    return _item_key(cast(StockChanged, event).sku)


def stock_read_model(outbox: Outbox, *, ttl: float, max_entries: int) -> ReadModel:
    """Encoded stock reads by SKU: a product page reads one on every view.

    Inventory's writes all publish through the outbox, and every change of a
    SKU's available units publishes ``StockChanged``: its commit forgets the
    SKUs it names here (a commit that names none clears everything), and
    every other replica forgets them as it hears the event.
    """
    return ReadModel(
        outbox, events=(StockChanged,), key_of=_changed_item, ttl=ttl, max_entries=max_entries
    )


@router.get("/items/{sku}", response_model=StockOut, responses=problem_responses(404))
async def get_item(store: Store, model: Stock, sku: Sku) -> Response:
    key = _item_key(sku)
    encoded = model.get(key) or await model.load(key, lambda: _stock_body(store, sku))
    return Response(encoded.body, media_type="application/json")


async def _stock_body(store: Database[SqlInventoryUnitOfWork], sku: str) -> bytes:
    async with store.session() as session:
        item = await InventoryRepository(session).item(sku)
    if item is None:
        raise Problem(404, f"No stock item for SKU {sku}")
    return StockOut(sku=item.sku, available=item.available).model_dump_json().encode()


@router.put("/items/{sku}", response_model=StockAdminOut, responses=problem_responses(404, 409))
async def set_stock(
    store: Store, service: Inventory, sku: Sku, body: SetStock, admin: AdminUser
) -> StockAdminOut:
    try:
        item = await transactionally(
            store.unit_of_work,
            lambda uow: service.set_on_hand(sku, body.on_hand, str(admin.user_id), uow),
        )
    except UnknownItemError:
        raise Problem(404, f"No stock item for SKU {sku}") from None
    except BelowReservedError as exc:
        raise Problem(409, str(exc), title="Below reserved stock") from None
    return StockAdminOut.of(item)


@router.get("/items", response_model=StockPage)
async def list_items(
    store: Store,
    _admin: AdminUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> StockPage:
    async with store.session() as session:
        items, total = await InventoryRepository(session).page(limit, offset)
        return StockPage(items=[StockAdminOut.of(item) for item in items], total=total)


@router.get(
    "/reservations/{order_id}", response_model=ReservationOut, responses=problem_responses(404)
)
async def get_reservation(store: Store, order_id: UUID, _admin: AdminUser) -> ReservationOut:
    async with store.session() as session:
        reservation = await InventoryRepository(session).reservation(order_id)
        if reservation is None:
            raise Problem(404, f"No reservation for order {order_id}")
        return ReservationOut.of(reservation)
