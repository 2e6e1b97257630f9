"""Shipping's settings (``EMPORIUM_SHIPPING_*``), built at start-up."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from emporium.chassis import ServiceSettings


class ShippingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMPORIUM_SHIPPING_", extra="ignore")

    # How long a confirmed order waits in the warehouse before it is dispatched:
    # long enough locally to watch an order sit CONFIRMED, and to cancel it.
    dispatch_delay_seconds: float = Field(default=3.0, ge=0)
    # How often the dispatcher looks for due shipments, and how many per pass.
    dispatch_poll_seconds: float = Field(default=0.5, gt=0)
    dispatch_batch: int = Field(default=100, ge=1)

    @property
    def dispatch_delay(self) -> timedelta:
        return timedelta(seconds=self.dispatch_delay_seconds)
