"""Inventory's use cases, each one unit of work: load and lock, apply the rules, publish."""

from emporium.services.inventory.service_layer.services import InventoryService, UnknownItemError
from emporium.services.inventory.service_layer.unit_of_work import (
    InventoryUnitOfWork,
    SqlInventoryUnitOfWork,
)

__all__ = ["InventoryService", "InventoryUnitOfWork", "SqlInventoryUnitOfWork", "UnknownItemError"]
