"""Recommendations' settings (``EMPORIUM_RECOMMENDATIONS_*``), built at start-up."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from emporium.chassis.settings import ConfigurationError, RedisOrSqlSettings

__all__ = ["RecommendationsSettings"]

_DEFAULT_ADMIN_PASSWORD = "emporium-admin"


class RecommendationsSettings(RedisOrSqlSettings):
    """The store is Redis when ``redis_url`` is set (``store=auto``), else SQL."""

    model_config = SettingsConfigDict(env_prefix="EMPORIUM_RECOMMENDATIONS_", extra="ignore")

    redis_prefix: str = Field(default="emporium:recommendations", pattern=r"^[A-Za-z0-9:_.-]+$")

    # The read model (chassis.read_model): how long an encoded answer may be
    # served before it is read again; 0 stores nothing. Writes here and
    # events heard from other replicas clear it sooner.
    read_model_ttl: float = Field(default=5.0, ge=0)
    read_model_entries: int = Field(default=4096, ge=1)

    # Rebuild from the orders and catalog APIs when this store has never been
    # backfilled (docs/decisions/0014-recommendations.md).
    backfill_on_start: bool = True
    backfill_page_size: int = Field(default=100, ge=1, le=100)
    # A failed backfill (orders or identity not up yet) is tried again this often.
    backfill_retry_seconds: float = Field(default=5.0, gt=0)
    # Listing every order needs an admin; the same account the audit uses.
    admin_email: str = "admin@emporium.local"
    admin_password: str = Field(
        default=_DEFAULT_ADMIN_PASSWORD,
        validation_alias=AliasChoices("EMPORIUM_ADMIN_PASSWORD", "admin_password"),
    )
    # Empty: the chassis upstream (EMPORIUM_UPSTREAM_<SERVICE>, else the gateway).
    orders_url: str = ""
    catalog_url: str = ""
    identity_url: str = ""

    def problems(self, profile: str) -> list[str]:
        found = super().problems(profile)
        try:
            self.check(profile)
        except ConfigurationError as error:
            found.append(str(error))
        return found

    def check(self, profile: str) -> None:
        """Fail fast where a backfill could never log in (identity refuses the
        default admin password in the prod profile)."""
        if (
            profile == "prod"
            and self.backfill_on_start
            and self.admin_password == _DEFAULT_ADMIN_PASSWORD
        ):
            raise ConfigurationError(
                "EMPORIUM_ADMIN_PASSWORD must be set in the prod profile: the "
                "recommendations backfill lists orders as admin "
                "(or set EMPORIUM_RECOMMENDATIONS_BACKFILL_ON_START=false)"
            )
