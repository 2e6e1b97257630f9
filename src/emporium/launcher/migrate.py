"""Every service's migrations, found by convention: ``emporium.services.<name>.migrations``.

``emporium migrate`` and the start-up preflight use this table; a service
without that package (gateway, storefront) has no store to migrate.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from pydantic_settings import BaseSettings

from emporium.chassis.settings import ChassisSettings, ServiceSettings
from emporium.launcher.specs import ServiceSpec, ServiceTable

if TYPE_CHECKING:  # Alembic and SQLAlchemy come with a service's migrations, when asked for
    from emporium.chassis.migrations import Migrations

__all__ = ["database_url", "migrations_of", "settings_class", "stores"]


def _exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the service is a module, not a package
        return False


def migrations_of(spec: ServiceSpec) -> Migrations | None:
    """The service's migrations, or None when it has no store."""
    name = f"{spec.module}.migrations"
    if not _exists(name):
        return None
    from emporium.chassis.migrations import Migrations

    migrations = importlib.import_module(name).MIGRATIONS
    if not isinstance(migrations, Migrations):
        raise TypeError(f"{name}.MIGRATIONS is a {type(migrations).__name__}")
    return migrations


def stores(table: ServiceTable) -> dict[str, Migrations]:
    """Every service of ``table`` that has a store, with its migrations, in table order."""
    found = {spec.name: migrations_of(spec) for spec in table.services}
    return {name: migrations for name, migrations in found.items() if migrations is not None}


def settings_class(spec: ServiceSpec) -> type[BaseSettings] | None:
    """The service's own settings class (defined in ``<module>.settings``), if any."""
    name = f"{spec.module}.settings"
    if not _exists(name):
        return None
    for value in vars(importlib.import_module(name)).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseSettings)
            and value.__module__ == name
            and value.model_config.get("env_prefix")
        ):
            return value
    return None


def database_url(spec: ServiceSpec, chassis: ChassisSettings) -> str:
    """The database URL the service would use now (its setting, or the embedded SQLite)."""
    cls = settings_class(spec)
    settings = cls() if cls is not None else None
    if not isinstance(settings, ServiceSettings):
        raise LookupError(f"{spec.name} has no settings with a database URL")
    return settings.resolved_database_url(spec.name, chassis.var_dir, chassis.profile)
