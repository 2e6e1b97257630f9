from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from emporium.chassis.settings import RedisOrSqlSettings


class CartSettings(RedisOrSqlSettings):
    """``EMPORIUM_CART_*``. The store is Redis when ``redis_url`` is set, else SQL."""

    model_config = SettingsConfigDict(env_prefix="EMPORIUM_CART_", extra="ignore")

    # Keys are "<prefix>:cart:<user>", "<prefix>:product:<id>", "<prefix>:seen:<msg>".
    redis_prefix: str = Field(default="emporium:cart", pattern=r"^[A-Za-z0-9:_.-]+$")
    # How long Redis remembers a handled message id (redeliveries come within minutes).
    seen_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    max_lines: int = Field(default=50, ge=1, le=500)
    # Empty: the chassis upstream (EMPORIUM_UPSTREAM_CATALOG, else the gateway).
    catalog_url: str = ""
    catalog_timeout_seconds: float = Field(default=1.0, gt=0)
