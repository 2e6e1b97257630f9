"""Inventory's use cases, each one unit of work: load and lock, apply the rules, publish."""

from emporium.services.inventory.service_layer.services import (
    InventoryService,
    Publisher,
    UnknownItemError,
    transactionally,
    utcnow,
)

__all__ = ["InventoryService", "Publisher", "UnknownItemError", "transactionally", "utcnow"]
