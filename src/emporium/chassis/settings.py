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
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from emporium.chassis.forwarded import parse_networks

Profile = Literal["local", "prod"]

# Values that only a template or a demo would contain. The prod profile refuses
# to start with any of them in its configuration.
PLACEHOLDER_MARKERS = ("changeme", "change-me", "change_me", "placeholder", "replace-me", "example")


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
    # How long a consumer remembers a processed message id: far longer than the
    # broker's redelivery window (minutes), so a duplicate is always recognised.
    inbox_retention_hours: float = Field(default=168.0, gt=0)
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    # Proxies whose X-Forwarded-For/-Proto this process believes (CIDRs, comma
    # separated). Empty: nobody's, so no client can choose its own address.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Tracing: spans always go to a bounded ring per instance (/internal/spans);
    # with an OTLP endpoint they are exported there as well. The ratio applies
    # to new traces only: a sampled parent's children are always kept.
    tracing: bool = True
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    trace_buffer: int = Field(default=4096, ge=16)
    otlp_endpoint: str = ""

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

    def instance_name(self, service: str) -> str:
        return self.instance or f"{service}-{self.port}"

    def upstream(self, service: str) -> str:
        """Base URL for ``service``: ``EMPORIUM_UPSTREAM_<SERVICE>``, else the internal URL."""
        override = os.environ.get(f"EMPORIUM_UPSTREAM_{service.upper()}")
        return (override or self.internal_url).rstrip("/")


class ServiceSettings(BaseSettings):
    """Base for one service's own settings; subclasses set ``env_prefix``.

    ``database_url`` empty means the embedded default: SQLite at
    ``<var_dir>/data/<service>.db``.
    """

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = ""

    def resolved_database_url(self, service: str, var_dir: Path, profile: str = "local") -> str:
        if self.database_url:
            return self.database_url
        if profile == "prod":
            prefix = self.model_config.get("env_prefix", "EMPORIUM_")
            raise ConfigurationError(
                f"{prefix}DATABASE_URL must be set in the prod profile (no embedded SQLite there)"
            )
        data = var_dir / "data"
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(data / f'{service}.db').resolve()}"
