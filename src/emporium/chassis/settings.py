"""Typed settings shared by every service process.

Settings are built at start-up (``ChassisSettings()``), never at import, so
unit tests need no environment. Each service adds its own class with its own
``env_prefix`` (``EMPORIUM_CATALOG_`` and so on) by subclassing
:class:`ServiceSettings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["local", "prod"]


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
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    def instance_name(self, service: str) -> str:
        return self.instance or f"{service}-{self.port}"


class ServiceSettings(BaseSettings):
    """Base for one service's own settings; subclasses set ``env_prefix``.

    ``database_url`` empty means the embedded default: SQLite at
    ``<var_dir>/data/<service>.db``.
    """

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = ""

    def resolved_database_url(self, service: str, var_dir: Path) -> str:
        if self.database_url:
            return self.database_url
        data = var_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(data / f'{service}.db').resolve()}"
