"""The storefront's own settings (``EMPORIUM_STOREFRONT_*``), built at start-up."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from emporium.chassis.settings import ConfigurationError

__all__ = ["MIN_KEY_LENGTH", "StorefrontSettings"]

MIN_KEY_LENGTH = 32


class StorefrontSettings(BaseSettings):
    """How the web shop keeps sessions and how long it waits for the API.

    ``session_key`` encrypts and authenticates the session cookie. Several keys
    separated by commas rotate it: the first seals new cookies, all open old
    ones. It is required in the prod profile; locally an empty key means one
    generated once under the var dir and shared by every local instance.
    """

    model_config = SettingsConfigDict(env_prefix="EMPORIUM_STOREFRONT_", extra="ignore")

    session_key: str = ""
    session_max_age_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    # "auto": Secure when the request reached the gateway over HTTPS (--tls).
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    # A page waits for the API this long per call; a slow service then shows
    # as "unknown" or a missing panel instead of a slow page.
    api_timeout_seconds: float = Field(default=2.0, gt=0)
    # Optional panels (availability, recommendations) get less patience.
    panel_timeout_seconds: float = Field(default=0.8, gt=0)
    page_size: int = Field(default=12, ge=1, le=100)
    # How long a product read from catalog may be shown again without asking
    # (products.py): catalog's events forget it sooner; this bounds how stale
    # a page can be while they cannot arrive. 0 asks catalog for every page.
    product_cache_seconds: float = Field(default=5.0, ge=0)

    def problems(self, profile: str) -> list[str]:
        """Every problem with the session keys, one line each (the preflight's list)."""
        keys = [key.strip() for key in self.session_key.split(",") if key.strip()]
        if not keys and profile == "prod":
            return [
                "EMPORIUM_STOREFRONT_SESSION_KEY must be set in the prod profile "
                f"(at least {MIN_KEY_LENGTH} random characters)"
            ]
        if any(len(key) < MIN_KEY_LENGTH for key in keys):
            return [
                f"EMPORIUM_STOREFRONT_SESSION_KEY: every key needs at least {MIN_KEY_LENGTH} "
                "characters"
            ]
        return []

    def session_keys(self, profile: str, var_dir: Path) -> list[str]:
        """The keys to use, first one sealing; fails fast naming the setting."""
        keys = [key.strip() for key in self.session_key.split(",") if key.strip()]
        if not keys:
            if profile == "prod":
                raise ConfigurationError(
                    "EMPORIUM_STOREFRONT_SESSION_KEY must be set in the prod profile "
                    f"(at least {MIN_KEY_LENGTH} random characters)"
                )
            return [_local_key(var_dir)]
        short = [key for key in keys if len(key) < MIN_KEY_LENGTH]
        if short:
            raise ConfigurationError(
                f"EMPORIUM_STOREFRONT_SESSION_KEY: every key needs at least {MIN_KEY_LENGTH} "
                "characters"
            )
        return keys


def _local_key(var_dir: Path) -> str:
    # One key per var dir, so replicas and restarts keep each other's sessions.
    # O_EXCL: when two instances start together, one writes and both read it.
    path = var_dir / "storefront" / "session.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
    for _ in range(50):
        key = path.read_text().strip()
        if len(key) >= MIN_KEY_LENGTH:
            return key
        # The other instance created the file but has not written it yet.
        time.sleep(0.01)
    raise ConfigurationError(f"{path} holds no usable session key; delete it and restart")
