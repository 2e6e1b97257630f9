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
    # Overrides EMPORIUM_PORT when set; docs/api.md and the README name this variable.
    port: int | None = Field(default=None, ge=0, le=65535)

    registry_poll_interval: float = Field(default=0.25, gt=0)
    health_interval: float = Field(default=1.0, gt=0)
    health_timeout: float = Field(default=1.0, gt=0)
    # Health checks that time out in a row before a serving instance is taken
    # out (a refused connection or an explicit 503 takes it out at once).
    health_slow_checks_down: int = Field(default=3, ge=1)
    connect_timeout: float = Field(default=1.0, gt=0)
    request_timeout: float = Field(default=15.0, gt=0)
    # Per-service overrides of request_timeout: {"orders": 30}.
    service_timeouts: dict[str, float] = Field(default_factory=dict)
    ejection_seconds: float = Field(default=5.0, gt=0)
    consecutive_5xx: int = Field(default=5, ge=1)
    body_limit: int = Field(default=10 * 1024 * 1024, ge=0)
    pool_per_host: int = Field(default=256, ge=1)
    # Bulkhead: requests in progress to one service (all its instances) before
    # the next is refused with 503 at once; per-service overrides: {"orders": 64}.
    max_in_flight: int = Field(default=256, ge=1)
    service_max_in_flight: dict[str, int] = Field(default_factory=dict)
    openapi_ttl: float = Field(default=5.0, ge=0)
    # A route whose service refused it against a reported budget (orders' saga
    # backlog) is refused here while the report says there is no room: the
    # report is read again this often, and an open one is trusted this long.
    budget_poll_interval: float = Field(default=0.1, gt=0)
    budget_ttl: float = Field(default=1.0, gt=0)
    # Catalog's public answers are kept this long at most (0: nothing is kept,
    # and the gateway uses no broker), in at most this many bytes (keys, headers
    # and bodies)
    # (decision 0031). With cache_events they are kept only while the gateway
    # hears catalog's events, which forget them at once; without (where the
    # gateway may not reach the broker: compose and Kubernetes, decision 0015)
    # only for cache_seconds, as catalog's "public, max-age" allows any cache.
    cache_seconds: float = Field(default=5.0, ge=0)
    cache_max_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    cache_events: bool = True

    # -- the edge: authentication, rate limits, browser security, TLS --------
    # Verify every bearer token here too (services verify again, so this only
    # stops forged traffic earlier); false only for benchmarks and tests.
    auth_enabled: bool = True
    # Paths (and everything below them) that need a signed-in user; which
    # methods need an admin is left to the services, which know.
    protected_paths: list[str] = Field(
        default_factory=lambda: [
            "/api/identity/me",
            "/api/cart",
            "/api/orders",
            "/api/payments",
            "/api/notifications",
            "/api/shipping/shipments",
        ]
    )
    # Generous defaults: a laptop running e2e tests and benchmarks from one
    # address must never be throttled. Production tunes these.
    address_rate: float = Field(default=1000.0, gt=0)
    address_burst: int = Field(default=2000, ge=1)
    user_rate: float = Field(default=500.0, gt=0)
    user_burst: int = Field(default=1000, ge=1)
    # Password guessing: per client address and email on POST /api/identity/token.
    login_rate: float = Field(default=0.1, gt=0)
    login_burst: int = Field(default=5, ge=1)
    # Password spraying (one address, many emails): every login from one address
    # spends from this budget too, whatever the email.
    login_address_rate: float = Field(default=0.2, gt=0)
    login_address_burst: int = Field(default=20, ge=1)
    # Sign-ups (POST /api/identity/users) per address: each costs an argon2 hash.
    signup_rate: float = Field(default=0.05, gt=0)
    signup_burst: int = Field(default=10, ge=1)
    # Checkouts (POST /api/orders) per signed-in user, whatever the
    # Idempotency-Key: each holds stock while its saga runs.
    checkout_rate: float = Field(default=0.1, gt=0)
    checkout_burst: int = Field(default=5, ge=1)
    # Paths (and everything below them) only an admin token may reach.
    admin_paths: list[str] = Field(default_factory=lambda: ["/api/gateway/"])
    # The gateway's own Prometheus metrics, on a separate listener (the public
    # port never serves /metrics). Unset: not served at all.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # Empty: the gateway's own host (EMPORIUM_HOST).
    metrics_host: str = ""
    # Set: buckets live in Redis and every gateway replica shares them.
    redis_url: str = ""
    redis_prefix: str = "emporium:ratelimit:"
    cors_origins: list[str] = Field(default_factory=list)
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> GatewaySettings:
        if self.registry is not None and self.upstreams:
            raise ValueError(
                "set EMPORIUM_GATEWAY_REGISTRY or EMPORIUM_GATEWAY_UPSTREAMS, not both"
            )
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("set both EMPORIUM_GATEWAY_TLS_CERTFILE and _TLS_KEYFILE, or neither")
        return self

    def requires_user(self, path: str) -> bool:
        return _under(path, self.protected_paths)

    def requires_admin(self, path: str) -> bool:
        return _under(path, self.admin_paths)

    def timeout_for(self, service: str) -> float:
        return self.service_timeouts.get(service, self.request_timeout)

    def max_in_flight_for(self, service: str) -> int:
        return self.service_max_in_flight.get(service, self.max_in_flight)


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)
