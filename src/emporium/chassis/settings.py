"""Typed settings shared by every service process.

Settings are built at start-up (``ChassisSettings()``), never at import, so
unit tests need no environment. Each service adds its own class with its own
``env_prefix`` (``EMPORIUM_CATALOG_`` and so on) by subclassing
:class:`ServiceSettings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from emporium.chassis.forwarded import parse_networks
from emporium.chassis.overload._limit import LimitSettings
from emporium.chassis.registry import RegistryEndpoints, registry_file

Profile = Literal["local", "prod"]

# Values that only a template or a demo would contain. The prod profile refuses
# to start with any of them in its configuration.
PLACEHOLDER_MARKERS = ("changeme", "change-me", "change_me", "placeholder", "replace-me", "example")


class Route(NamedTuple):
    """Where a client reaches a service: a base URL, and the instances to call
    directly instead while the launcher's registry lists any."""

    url: str
    endpoints: RegistryEndpoints | None = None


def _upstream_override(service: str) -> str:
    return os.environ.get(f"EMPORIUM_UPSTREAM_{service.upper()}", "").rstrip("/")


class ConfigurationError(RuntimeError):
    """A setting is missing or unacceptable; the message names it."""


def refuse_placeholders(profile: str, environ: Mapping[str, str] | None = None) -> None:
    """In the prod profile, fail fast on any ``EMPORIUM_*`` value that is a placeholder."""
    if profile != "prod":
        return
    environ = os.environ if environ is None else environ
    bad = sorted(
        name
        for name, value in environ.items()
        if name.startswith("EMPORIUM_") and any(m in value.lower() for m in PLACEHOLDER_MARKERS)
    )
    if bad:
        raise ConfigurationError(
            f"the prod profile refuses placeholder values; replace: {', '.join(bad)}"
        )


class ChassisSettings(BaseSettings):
    """What the launcher (or a Kubernetes manifest) tells every process."""

    model_config = SettingsConfigDict(env_prefix="EMPORIUM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    instance: str = ""
    profile: Profile = "local"
    var_dir: Path = Path("var")
    broker_url: str = "nats://127.0.0.1:4222"
    # Prefix of every subject, stream, queue and exchange: lets two Emporiums
    # (or two tests) share one broker without seeing each other's messages.
    broker_namespace: str = Field(default="emporium", pattern=r"^[a-z][a-z0-9_]*$")
    # Where this process reaches other services: a URL that balances over their
    # instances. Locally the launcher sets it to the gateway; in Kubernetes each
    # service has its own (EMPORIUM_UPSTREAM_CATALOG=http://catalog:8000, ...).
    internal_url: str = "http://127.0.0.1:8080"
    # Locally the launcher also names its registry of ready instances: calls
    # to a service it lists go to that service's instances directly, in turn
    # (a service with an EMPORIUM_UPSTREAM_<SERVICE> URL keeps that URL).
    registry_file: Path | None = None
    # How long a consumer remembers a processed message id: far longer than the
    # broker's redelivery window (minutes), so a duplicate is always recognised.
    inbox_retention_hours: float = Field(default=168.0, gt=0)
    # Messaging's idle costs (decision 0024): how often the outbox relay looks
    # for rows other processes left (its own commits wake it at once), how
    # often each consumer's lag is read from the broker (a Prometheus scrape
    # comes every 15 s or so), and how long an idle NATS pull request waits
    # before asking again (a message is handed over the moment it arrives).
    # Lag every 10 s and pulls of 5 s cut an idle system's CPU by a third.
    # SQLite calls on the event loop's thread instead of aiosqlite's worker
    # thread, one thread hop less per statement (decision 0024); false goes
    # back to aiosqlite's thread. No effect on other databases.
    sqlite_inline: bool = True
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    consumer_lag_seconds: float = Field(default=10.0, gt=0)
    broker_pull_wait_seconds: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    # Proxies whose X-Forwarded-For/-Proto this process believes (CIDRs, comma
    # separated). Empty: nobody's, so no client can choose its own address.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Tracing: spans always go to a bounded ring per instance (/internal/spans);
    # with an OTLP endpoint they are exported there as well. The ratio applies
    # to new traces only: a sampled parent's children are always kept. Traces
    # started by a read (GET/HEAD) have their own ratio: the hot path, and
    # rarely what anyone looks for (an order's trace starts with a POST).
    tracing: bool = True
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    trace_read_sample_ratio: float = Field(default=0.1, ge=0.0, le=1.0)
    trace_buffer: int = Field(default=4096, ge=16)
    otlp_endpoint: str = ""
    # Overload control (decision 0021): the adaptive concurrency limit on the
    # routes a service guards. Off: those routes are never shed (deadlines
    # still apply). The limit moves between min and max, starting at initial.
    overload_enabled: bool = True
    overload_min_limit: int = Field(default=4, ge=1)
    overload_max_limit: int = Field(default=1024, ge=1)
    overload_initial_limit: int = Field(default=64, ge=1)
    # Latency up to tolerance x the baseline (the lowest seen), plus slack, is
    # not taken for queueing.
    overload_tolerance: float = Field(default=2.0, ge=1.0)
    overload_slack_ms: float = Field(default=50.0, ge=0)
    # Latency and errors injected into this instance's responses on request
    # (emporium.chassis.faults): the launcher turns it on in the local profile;
    # the prod profile refuses it, so no deployed instance can be told to fail.
    fault_injection: bool = False

    @model_validator(mode="after")
    def _no_faults_in_prod(self) -> ChassisSettings:
        if self.profile == "prod" and self.fault_injection:
            raise ValueError(
                "EMPORIUM_FAULT_INJECTION is for the local profile; the prod profile refuses it"
            )
        return self

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _cidrs(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        try:
            parse_networks(value)
        except ValueError as exc:
            raise ValueError(f"EMPORIUM_TRUSTED_PROXIES must list CIDRs: {exc}") from exc
        return [part.strip() for part in value]

    def limit_settings(self) -> LimitSettings:
        """The adaptive limit's settings; the max wins over min and initial, so
        ``EMPORIUM_OVERLOAD_MAX_LIMIT=1`` alone pins the limit at one."""
        high = self.overload_max_limit
        low = min(self.overload_min_limit, high)
        return LimitSettings(
            initial=max(low, min(high, self.overload_initial_limit)),
            min_limit=low,
            max_limit=high,
            tolerance=self.overload_tolerance,
            slack=self.overload_slack_ms / 1000,
        )

    def instance_name(self, service: str) -> str:
        return self.instance or f"{service}-{self.port}"

    def upstream(self, service: str) -> str:
        """Base URL for ``service``: ``EMPORIUM_UPSTREAM_<SERVICE>``, else the internal URL."""
        return _upstream_override(service) or self.internal_url.rstrip("/")

    def route(self, service: str, configured: str = "") -> Route:
        """How a client reaches ``service``: a URL the service's own settings
        configure for it, else ``EMPORIUM_UPSTREAM_<SERVICE>``, each alone; else
        the registry's instances, with the internal URL behind them."""
        url = configured.rstrip("/") or _upstream_override(service)
        if url or self.registry_file is None:
            return Route(url or self.internal_url.rstrip("/"))
        endpoints = RegistryEndpoints(registry_file(self.registry_file), service)
        return Route(self.internal_url.rstrip("/"), endpoints)


class ServiceSettings(BaseSettings):
    """Base for one service's own settings; subclasses set ``env_prefix``.

    ``database_url`` empty means the embedded default: SQLite at
    ``<var_dir>/data/<service>.db``.
    """

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = ""

    def problems(self, profile: str) -> list[str]:
        """Every setting the profile needs and lacks, one line each (the preflight lists
        them all at once); a subclass adds its own to ``super().problems(profile)``."""
        if profile == "prod" and not self.database_url:
            return [self._missing_database_url()]
        return []

    def _missing_database_url(self) -> str:
        prefix = self.model_config.get("env_prefix", "EMPORIUM_")
        return f"{prefix}DATABASE_URL must be set in the prod profile (no embedded SQLite there)"

    def resolved_database_url(self, service: str, var_dir: Path, profile: str = "local") -> str:
        if self.database_url:
            return self.database_url
        if profile == "prod":
            raise ConfigurationError(self._missing_database_url())
        data = var_dir / "data"
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(data / f'{service}.db').resolve()}"


class RedisOrSqlSettings(ServiceSettings):
    """Base for a service whose store is Redis or SQL, by its settings.

    ``store`` ``auto`` (the default) means Redis when ``redis_url`` is set, else
    SQL. With Redis, SQL holds only the messaging inbox and outbox: locally an
    embedded SQLite file beside the others, in production the service's own
    database (decision 0018); the prod profile requires the Redis URL.
    """

    redis_url: str = ""
    store: Literal["auto", "sql", "redis"] = "auto"

    @property
    def uses_redis(self) -> bool:
        if self.store == "auto":
            return bool(self.redis_url)
        return self.store == "redis"

    def resolved_redis_url(self) -> str:
        if not self.redis_url:
            prefix = self.model_config.get("env_prefix", "EMPORIUM_")
            raise ConfigurationError(f"{prefix}REDIS_URL must be set when {prefix}STORE=redis")
        return self.redis_url

    def resolved_database_url(self, service: str, var_dir: Path, profile: str = "local") -> str:
        # In production the inbox and outbox live in the service's own database
        # like every other service's, so a pod keeps nothing on its disk.
        if self.uses_redis and not self.database_url and profile == "local":
            return super().resolved_database_url(f"{service}-inbox", var_dir, "local")
        return super().resolved_database_url(service, var_dir, profile)

    def problems(self, profile: str) -> list[str]:
        found = super().problems(profile)
        if profile == "prod" and self.store != "sql" and not self.redis_url:
            prefix = self.model_config.get("env_prefix", "EMPORIUM_")
            found.append(
                f"{prefix}REDIS_URL must be set in the prod profile "
                f"(or {prefix}STORE=sql to keep it in SQL)"
            )
        return found
