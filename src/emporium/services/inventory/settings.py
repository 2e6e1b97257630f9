from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from emporium.chassis import ServiceSettings


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMPORIUM_INVENTORY_", extra="ignore")

    # Stock a new product starts with. None: 50 units in the local profile (a
    # demo shop with something to sell), 0 in production (stock is set by an admin).
    initial_stock: int | None = None

    def resolved_initial_stock(self, profile: str) -> int:
        if self.initial_stock is not None:
            return self.initial_stock
        return 50 if profile == "local" else 0
