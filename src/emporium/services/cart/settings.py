from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from emporium.chassis import ServiceSettings


class CartSettings(ServiceSettings):
    """``EMPORIUM_CART_*``. The store is Redis when ``redis_url`` is set, else SQL."""

    model_config = SettingsConfigDict(env_prefix="EMPORIUM_CART_", extra="ignore")

    redis_url: str = ""
    store: Literal["auto", "sql", "redis"] = "auto"
    # Keys are "<prefix>:cart:<user>", "<prefix>:product:<id>", "<prefix>:seen:<msg>".
    redis_prefix: str = Field(default="emporium:cart", pattern=r"^[A-Za-z0-9:_.-]+$")
    # How long Redis remembers a handled message id (redeliveries come within minutes).
    seen_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    max_lines: int = Field(default=50, ge=1, le=500)
    # Empty: the chassis upstream (EMPORIUM_UPSTREAM_CATALOG, else the gateway).
    catalog_url: str = ""
    catalog_timeout_seconds: float = Field(default=1.0, gt=0)

    @property
    def uses_redis(self) -> bool:
        if self.store == "auto":
            return bool(self.redis_url)
        return self.store == "redis"

    def resolved_redis_url(self) -> str:
        if not self.redis_url:
            raise ValueError("EMPORIUM_CART_REDIS_URL must be set when EMPORIUM_CART_STORE=redis")
        return self.redis_url

    def resolved_database_url(self, service: str, var_dir: Path, profile: str = "local") -> str:
        # Locally, with Redis as the store, SQL holds only the messaging inbox
        # and outbox: a SQLite file beside the others. In production they live
        # in the service's own PostgreSQL database like every other service's,
        # so a pod keeps nothing on its disk (docs/decisions/0017).
        if self.uses_redis and not self.database_url and profile == "local":
            return super().resolved_database_url(f"{service}-inbox", var_dir, "local")
        return super().resolved_database_url(service, var_dir, profile)

    def problems(self, profile: str) -> list[str]:
        found = super().problems(profile)
        if profile == "prod" and self.store != "sql" and not self.redis_url:
            found.append(
                "EMPORIUM_CART_REDIS_URL must be set in the prod profile "
                "(or EMPORIUM_CART_STORE=sql to keep it in SQL)"
            )
        return found
