from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from emporium.chassis import ServiceSettings


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMPORIUM_CATALOG_", extra="ignore")

    max_page_size: int = 100
