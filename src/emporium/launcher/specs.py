"""What the launcher starts: one data table of services and pre-start steps.

A new service is one line in :data:`DEFAULT_TABLE`. Tests (and e2e suites)
inject their own table, either as an argument to :class:`~emporium.launcher.Launcher`
or, through the CLI, with ``EMPORIUM_LAUNCHER_SERVICES=package.module:ATTRIBUTE``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emporium.launcher.settings import LauncherSettings

__all__ = [
    "DEFAULT_TABLE",
    "PreStartStep",
    "ReplicaError",
    "ServiceSpec",
    "ServiceTable",
    "load_table",
    "merged_replicas",
    "parse_replicas",
    "parse_scale",
    "resolve_table",
]


@dataclass(frozen=True)
class ServiceSpec:
    """One service: run as ``python -m <module>``, ``default_replicas`` instances.

    The gateway spec (``gateway=True``) gets the fixed gateway port, the registry
    path, and is never listed in the registry itself.
    """

    name: str
    module: str
    default_replicas: int = 1
    max_replicas: int | None = None
    gateway: bool = False

    def __post_init__(self) -> None:
        if self.gateway and self.max_replicas != 1:
            # The gateway owns one fixed port, so there can only be one.
            object.__setattr__(self, "max_replicas", 1)


@dataclass(frozen=True)
class PreStartStep:
    """A one-shot command that must succeed before any service starts."""

    name: str
    module: str
    args: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ("local",)


@dataclass(frozen=True)
class ServiceTable:
    services: tuple[ServiceSpec, ...]
    pre_start: tuple[PreStartStep, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.services]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate service names in {names}")
        if sum(spec.gateway for spec in self.services) > 1:
            raise ValueError("at most one service can be the gateway")

    def get(self, name: str) -> ServiceSpec:
        for spec in self.services:
            if spec.name == name:
                return spec
        known = ", ".join(spec.name for spec in self.services)
        raise ReplicaError(f"unknown service {name!r} (known: {known})")

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.services]


DEFAULT_TABLE = ServiceTable(
    services=(
        ServiceSpec("identity", "emporium.services.identity", default_replicas=1),
        ServiceSpec("catalog", "emporium.services.catalog", default_replicas=1),
        ServiceSpec("inventory", "emporium.services.inventory", default_replicas=1),
        ServiceSpec("cart", "emporium.services.cart", default_replicas=1),
        ServiceSpec("payments", "emporium.services.payments", default_replicas=1),
        ServiceSpec("shipping", "emporium.services.shipping", default_replicas=1),
        ServiceSpec("notifications", "emporium.services.notifications", default_replicas=1),
        ServiceSpec("orders", "emporium.services.orders", default_replicas=1),
        ServiceSpec("recommendations", "emporium.services.recommendations", default_replicas=1),
        ServiceSpec("storefront", "emporium.services.storefront", default_replicas=1),
        ServiceSpec("gateway", "emporium.services.gateway", gateway=True),
    ),
    pre_start=(PreStartStep("seed", "emporium.services.catalog.seed"),),
)


class ReplicaError(ValueError):
    """A ``SERVICE=N`` argument the user must fix; the message says how."""


def load_table(path: str) -> ServiceTable:
    """Import ``package.module:ATTRIBUTE`` and check it is a :class:`ServiceTable`."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"service table {path!r} must look like package.module:ATTRIBUTE")
    table = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(table, ServiceTable):
        raise TypeError(f"{path} is a {type(table).__name__}, not a ServiceTable")
    return table


def parse_scale(argument: str, table: ServiceTable) -> tuple[str, int]:
    """Parse one ``SERVICE=N`` against the table's services and their limits."""
    name, sep, count = argument.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ReplicaError(f"{argument!r}: expected SERVICE=N, e.g. catalog=3")
    spec = table.get(name)
    try:
        replicas = int(count.strip())
    except ValueError:
        message = f"{argument!r}: replicas must be a whole number, got {count!r}"
        raise ReplicaError(message) from None
    if replicas < 0:
        raise ReplicaError(f"{argument!r}: replicas cannot be negative")
    if spec.max_replicas is not None and replicas > spec.max_replicas:
        raise ReplicaError(f"{argument!r}: {name} runs at most {spec.max_replicas} instance(s)")
    return name, replicas


def parse_replicas(arguments: Iterable[str], table: ServiceTable) -> dict[str, int]:
    """Replicas per service: the table's defaults overridden by ``SERVICE=N`` arguments."""
    replicas: dict[str, int] = {spec.name: spec.default_replicas for spec in table.services}
    for argument in arguments:
        name, count = parse_scale(argument, table)
        replicas[name] = count
    return replicas


def merged_replicas(table: ServiceTable, overrides: Mapping[str, int]) -> dict[str, int]:
    replicas = {spec.name: spec.default_replicas for spec in table.services}
    for name, count in overrides.items():
        table.get(name)
        replicas[name] = count
    return replicas


def resolve_table(settings: LauncherSettings, table: ServiceTable | None = None) -> ServiceTable:
    """``table`` if given, else the one ``EMPORIUM_LAUNCHER_SERVICES`` names, else the default."""
    if table is not None:
        return table
    if settings.launcher_services:
        return load_table(settings.launcher_services)
    return DEFAULT_TABLE
