from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from emporium.chassis import ServiceSettings


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMPORIUM_CATALOG_", extra="ignore")

    max_page_size: int = 100
    # The read model (read_model.py): how long an encoded read may live at
    # most if no change event arrives (0 turns it off), and how many it keeps.
    read_model_ttl: float = Field(default=5.0, ge=0)
    read_model_entries: int = Field(default=2048, ge=1)
