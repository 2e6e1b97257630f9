"""Shipping's events."""

from __future__ import annotations

from uuid import UUID

from emporium.contracts._base import IntegrationEvent


class ShipmentCreated(IntegrationEvent):
    type = "ShipmentCreated"
    context = "shipping"

    order_id: UUID
    user_id: UUID
    tracking_number: str


class ShipmentDispatched(IntegrationEvent):
    type = "ShipmentDispatched"
    context = "shipping"

    order_id: UUID
    user_id: UUID
    tracking_number: str
    carrier: str
