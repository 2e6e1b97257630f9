"""Notifications' settings (``EMPORIUM_NOTIFICATIONS_*``), built at start-up."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from emporium.chassis import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMPORIUM_NOTIFICATIONS_", extra="ignore")

    # Empty: messages are only stored (and read through the API). Otherwise
    # smtp://[user:password@]host[:port] or smtps://... and each stored message
    # is also mailed, after it is committed.
    smtp_url: str = ""
    # smtp:// always upgrades with STARTTLS when the server offers it; with
    # this set, a server that does not offer it gets no mail (smtps:// is TLS
    # from the start). Credentials are never sent unencrypted either way.
    smtp_require_tls: bool = False
    smtp_from: str = "Emporium <orders@emporium.local>"
    # Events carry a user id, not an address (identity owns e-mail addresses and
    # publishes none yet), so the recipient is made from the user id.
    smtp_recipient: str = Field(default="{user_id}@users.emporium.local")
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
