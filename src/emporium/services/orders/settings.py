"""Orders' settings (``EMPORIUM_ORDERS_*``), built at start-up."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from emporium.chassis import ChassisSettings, ServiceSettings
from emporium.chassis.settings import ConfigurationError, Route

# Local default only: the prod profile refuses to start without its own key.
_LOCAL_REQUEST_HASH_KEY = "emporium-local-orders-request-hash"


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMPORIUM_ORDERS_", extra="ignore")

    # Each saga step (reserve, authorize, capture+commit) must be answered by then.
    saga_step_timeout_seconds: float = Field(default=30.0, gt=0)
    sweep_interval_seconds: float = Field(default=1.0, gt=0)
    sweep_batch: int = Field(default=100, ge=1)
    # Empty: the chassis upstream (EMPORIUM_UPSTREAM_<SERVICE>, else the gateway).
    cart_url: str = ""
    shipping_url: str = ""
    payments_url: str = ""
    upstream_timeout_seconds: float = Field(default=2.0, gt=0)
    # Saga admission (decision 0021): checkout is refused (503, nothing created)
    # while the running sagas would take longer than this to drain at the rate
    # sagas finished lately; 0 turns it off. Well under the step timeout, so an
    # admitted order finishes on its merits, never TIMEOUT for want of capacity.
    saga_admission_budget_seconds: float = Field(default=3.0, ge=0)
    # Pending sagas always admitted (an idle system has no throughput to go by).
    saga_admission_min_pending: int = Field(default=8, ge=1)
    saga_admission_window_seconds: float = Field(default=5.0, gt=0)
    saga_admission_probe_seconds: float = Field(default=0.25, gt=0)
    # GET /api/orders/{id}?wait= reads a waited-on order again at least this
    # often, for a change another replica committed (its own are heard at once).
    status_wait_recheck_seconds: float = Field(default=0.5, gt=0)
    # HMAC key for the idempotency fingerprint of a checkout request, which
    # includes the card: a plain hash of a card number can be brute-forced.
    request_hash_key: str = ""

    @property
    def step_timeout(self) -> timedelta:
        return timedelta(seconds=self.saga_step_timeout_seconds)

    def route(self, chassis: ChassisSettings, service: str) -> Route:
        configured: str = getattr(self, f"{service}_url")
        return chassis.route(service, configured)

    def problems(self, profile: str) -> list[str]:
        found = super().problems(profile)
        if profile == "prod" and not self.request_hash_key:
            found.append("EMPORIUM_ORDERS_REQUEST_HASH_KEY must be set in prod")
        return found

    def resolved_request_hash_key(self, profile: str) -> bytes:
        if self.request_hash_key:
            return self.request_hash_key.encode()
        if profile == "prod":
            raise ConfigurationError("EMPORIUM_ORDERS_REQUEST_HASH_KEY must be set in prod")
        return _LOCAL_REQUEST_HASH_KEY.encode()
