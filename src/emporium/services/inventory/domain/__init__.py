"""Inventory's domain: stock items and reservations, plain Python, no framework."""

from emporium.services.inventory.domain.events import (
    AvailabilityChanged,
    CommitRefused,
    Committed,
    DomainEvent,
    Rejected,
    Released,
    Reserved,
)
from emporium.services.inventory.domain.model import (
    Adjustment,
    BelowReservedError,
    InventoryError,
    Line,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockItem,
)

__all__ = [
    "Adjustment",
    "AvailabilityChanged",
    "BelowReservedError",
    "CommitRefused",
    "Committed",
    "DomainEvent",
    "InventoryError",
    "Line",
    "Rejected",
    "Released",
    "Reservation",
    "ReservationLine",
    "ReservationStatus",
    "Reserved",
    "StockItem",
]
