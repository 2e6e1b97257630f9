"""Shipping's HTTP API: quotes (anyone) and a shipment's tracking (its owner, admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from emporium.chassis import Problem
from emporium.chassis.auth import CurrentUser
from emporium.chassis.openapi import JsonInt
from emporium.chassis.problems import problem_responses
from emporium.contracts.money import Money
from emporium.services.shipping.quotes import UnsupportedCountryError, quote
from emporium.services.shipping.store import ShipmentRepository

__all__ = ["router"]

router = APIRouter(prefix="/api/shipping", tags=["shipping"])


class QuoteItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    quantity: JsonInt = Field(ge=1, le=1000)


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: str = Field(max_length=8, description="ISO 3166-1 alpha-2, e.g. US", examples=["US"])
    items: list[QuoteItem] = Field(min_length=1, max_length=200)

    @field_validator("country")
    @classmethod
    def _alpha2(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 2 or not code.isascii() or not code.isalpha():
            raise ValueError("must be an ISO 3166-1 alpha-2 country code, e.g. US")
        return code


class QuoteOut(BaseModel):
    amount: Money
    carrier: str
    eta_days: int
    country: str
    zone: str


class ShipmentOut(BaseModel):
    order_id: UUID
    tracking_number: str
    status: str
    carrier: str
    created_at: datetime
    dispatched_at: datetime | None


@router.post("/quotes", response_model=QuoteOut, responses=problem_responses(422))
async def create_quote(body: QuoteIn) -> QuoteOut:
    items = sum(item.quantity for item in body.items)
    try:
        result = quote(body.country, items)
    except UnsupportedCountryError as exc:
        raise Problem(422, str(exc), title="Unsupported country", country=body.country) from None
    return QuoteOut(
        amount=Money(amount=result.amount, currency="USD"),
        carrier=result.carrier,
        eta_days=result.eta_days,
        country=body.country,
        zone=result.zone,
    )


@router.get("/shipments", response_model=ShipmentOut, responses=problem_responses(404))
async def get_shipment(
    request: Request, user: CurrentUser, order_id: Annotated[UUID, Query()]
) -> ShipmentOut:
    async with request.app.state.runtime.db.session() as session:
        shipment = await ShipmentRepository(session).get(order_id)
    # Someone else's order answers exactly like a missing one: no probing ids.
    if shipment is None or not shipment.readable_by(user.user_id, admin=user.is_admin):
        raise Problem(404, f"no shipment for order {order_id}")
    return ShipmentOut(
        order_id=shipment.order_id,
        tracking_number=shipment.tracking_number,
        status=shipment.status.value,
        carrier=shipment.carrier,
        created_at=shipment.created_at,
        dispatched_at=shipment.dispatched_at,
    )
