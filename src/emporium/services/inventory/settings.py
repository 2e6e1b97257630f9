"""Inventory's settings (``EMPORIUM_INVENTORY_*``), built at start-up."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from emporium.chassis import ServiceSettings


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMPORIUM_INVENTORY_", extra="ignore")

    # Stock a new product starts with. None: 50 units in the local profile (a
    # demo shop with something to sell), 0 in production (stock is set by an admin).
    initial_stock: int | None = Field(default=None, ge=0)
    # A reservation not committed by then is released. Longer than the orders
    # saga's deadline, so the saga always decides first.
    reservation_ttl_seconds: float = Field(default=120.0, gt=0)
    # How often the sweeper looks for expired reservations, and how many per pass.
    sweep_interval_seconds: float = Field(default=1.0, gt=0)
    sweep_batch: int = Field(default=100, ge=1)
    # The stock read model (chassis.read_model): how long an encoded stock read
    # may live at most (0: none kept), and how many SKUs it holds. Own writes
    # and other replicas' StockChanged clear an entry sooner.
    read_model_ttl: float = Field(default=2.0, ge=0)
    read_model_entries: int = Field(default=4096, ge=1)

    def resolved_initial_stock(self, profile: str) -> int:
        if self.initial_stock is not None:
            return self.initial_stock
        return 50 if profile == "local" else 0

    @property
    def reservation_ttl(self) -> timedelta:
        return timedelta(seconds=self.reservation_ttl_seconds)
