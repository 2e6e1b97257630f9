"""Launcher settings (from ``EMPORIUM_*`` variables, overridden by CLI options) and var layout."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LauncherSettings", "VarLayout", "read_state"]

Broker = Literal["nats", "rabbitmq"]
Profile = Literal["local", "prod"]


class LauncherSettings(BaseSettings):
    """Everything ``emporium up`` can be told; CLI options win over the environment."""

    model_config = SettingsConfigDict(env_prefix="EMPORIUM_", extra="ignore")

    var_dir: Path = Path("var")
    gateway_port: int = Field(default=8080, ge=1, le=65535)
    broker: Broker = "nats"
    # An external broker: nats://host:4222 (a comma list for a cluster) or
    # amqp://user:password@host:5672/. Empty: the embedded NATS (or, with
    # broker=rabbitmq, rabbitmq_url).
    broker_url: str = ""
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    profile: Profile = "local"
    host: str = "127.0.0.1"
    # package.module:ATTRIBUTE of a ServiceTable; empty means the default table.
    launcher_services: str = ""
    launcher_ready_timeout: float = Field(default=60.0, gt=0)
    launcher_drain_seconds: float = Field(default=1.0, ge=0)
    launcher_stop_timeout: float = Field(default=10.0, gt=0)
    # Fork instances from one pre-imported parent (Linux); off: a new interpreter each.
    launcher_fork: bool = True
    # Serve the gateway over HTTPS with a local CA made under var/tls/.
    tls: bool = False

    def external_broker_url(self) -> str | None:
        """The broker to use as it is, or None for the embedded NATS."""
        if self.broker_url:
            return self.broker_url
        if self.broker == "rabbitmq":
            return self.rabbitmq_url
        return None


@dataclass(frozen=True)
class VarLayout:
    """Where everything lives under the var directory (always absolute)."""

    root: Path

    @classmethod
    def at(cls, var_dir: Path) -> VarLayout:
        return cls(Path(os.path.abspath(var_dir)))

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def nats(self) -> Path:
        return self.root / "nats"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def registry(self) -> Path:
        return self.run / "registry.json"

    @property
    def pid_file(self) -> Path:
        return self.run / "launcher.pid"

    @property
    def socket(self) -> Path:
        return self.run / "launcher.sock"

    @property
    def state(self) -> Path:
        return self.run / "state"

    @property
    def launcher_log(self) -> Path:
        return self.log / "launcher.log"

    def instance_log(self, instance: str) -> Path:
        return self.log / f"{instance}.log"

    def create(self) -> None:
        for directory in (self.run, self.log, self.nats, self.data):
            directory.mkdir(parents=True, exist_ok=True)


def read_state(layout: VarLayout) -> dict[str, Any] | None:
    """The launcher's last written state (phase, summary), or None if there is none."""
    try:
        state: dict[str, Any] = json.loads(layout.state.read_text())
    except (OSError, ValueError):
        return None
    return state
