"""The gateway's own settings (``EMPORIUM_GATEWAY_*``), built at start-up.

Discovery comes from exactly one of two places: ``registry``, the file the local
launcher rewrites whenever instances change, or ``upstreams``, a static JSON map
(``{"catalog": ["http://catalog:8000"]}``) for compose and Kubernetes, where one
URL may be a Service that balances by itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GatewaySettings"]


class GatewaySettings(BaseSettings):
    """Discovery source, health checking, timeouts, ejection and limits."""

    model_config = SettingsConfigDict(env_prefix="EMPORIUM_GATEWAY_", extra="ignore")

    registry: Path | None = None
    upstreams: dict[str, list[str]] = Field(default_factory=dict)
    # Overrides EMPORIUM_PORT when set; the product brief names this variable.
    port: int | None = Field(default=None, ge=0, le=65535)

    registry_poll_interval: float = Field(default=0.25, gt=0)
    health_interval: float = Field(default=1.0, gt=0)
    health_timeout: float = Field(default=1.0, gt=0)
    connect_timeout: float = Field(default=1.0, gt=0)
    request_timeout: float = Field(default=15.0, gt=0)
    # Per-service overrides of request_timeout: {"orders": 30}.
    service_timeouts: dict[str, float] = Field(default_factory=dict)
    ejection_seconds: float = Field(default=5.0, gt=0)
    consecutive_5xx: int = Field(default=5, ge=1)
    body_limit: int = Field(default=10 * 1024 * 1024, ge=0)
    pool_per_host: int = Field(default=256, ge=1)
    openapi_ttl: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> GatewaySettings:
        if self.registry is not None and self.upstreams:
            raise ValueError(
                "set EMPORIUM_GATEWAY_REGISTRY or EMPORIUM_GATEWAY_UPSTREAMS, not both"
            )
        return self

    def timeout_for(self, service: str) -> float:
        return self.service_timeouts.get(service, self.request_timeout)
