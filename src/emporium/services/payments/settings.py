"""Payments' settings (``EMPORIUM_PAYMENTS_*``), built at start-up."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from emporium.chassis import ServiceSettings


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMPORIUM_PAYMENTS_", extra="ignore")

    # Chaos knobs of the simulated processor, for demos: every authorize, capture,
    # void and refund waits this long, and fails (to be retried) at this rate.
    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
