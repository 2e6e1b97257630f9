"""Every service's migrations, found by convention: ``emporium.services.<name>.migrations``.

``emporium migrate`` and the start-up preflight use this table; a service
without that package (gateway, storefront) has no store to migrate.
"""

from __future__ import annotations

import importlib
import importlib.util

from emporium.chassis import ChassisSettings
from emporium.chassis.migrations import Migrations
from emporium.chassis.settings import ServiceSettings
from emporium.launcher.specs import ServiceSpec, ServiceTable

__all__ = ["database_url", "migrations_of", "settings_of", "stores"]


def migrations_of(spec: ServiceSpec) -> Migrations | None:
    """The service's migrations, or None when it has no store."""
    name = f"{spec.module}.migrations"
    if importlib.util.find_spec(name) is None:
        return None
    migrations = importlib.import_module(name).MIGRATIONS
    if not isinstance(migrations, Migrations):
        raise TypeError(f"{name}.MIGRATIONS is a {type(migrations).__name__}")
    return migrations


def stores(table: ServiceTable) -> dict[str, Migrations]:
    """Every service of ``table`` that has a store, with its migrations, in table order."""
    found = {spec.name: migrations_of(spec) for spec in table.services}
    return {name: migrations for name, migrations in found.items() if migrations is not None}


def settings_of(spec: ServiceSpec) -> type[ServiceSettings] | None:
    """The service's settings class (``<module>.settings``), if it has a store's settings."""
    name = f"{spec.module}.settings"
    if importlib.util.find_spec(name) is None:
        return None
    module = importlib.import_module(name)
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, ServiceSettings)
            and value is not ServiceSettings
            and value.__module__ == name
        ):
            return value
    return None


def database_url(spec: ServiceSpec, chassis: ChassisSettings) -> str:
    """The database URL the service would use now (its setting, or the embedded SQLite)."""
    settings = settings_of(spec)
    if settings is None:
        raise LookupError(f"{spec.name} has no settings with a database URL")
    return settings().resolved_database_url(spec.name, chassis.var_dir, chassis.profile)
