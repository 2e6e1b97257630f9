"""Every route each service serves, built in-process (no lifespan, no I/O).

FastAPI 0.16x keeps included routers as lazy ``_IncludedRouter`` entries in
``app.routes``; their routes are reached through ``effective_route_contexts()``
(which carries the full path). Callers assert they found a plausible number of
routes, so a FastAPI change fails loudly instead of making a test vacuous.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute, Route

from emporium.chassis import ChassisSettings

__all__ = ["ServedRoute", "served_routes", "service_apps"]


@dataclass(frozen=True)
class ServedRoute:
    service: str
    path: str
    methods: frozenset[str]
    route: BaseRoute


def service_apps(var_dir: Path) -> Iterator[tuple[str, FastAPI]]:
    from emporium.services.cart.main import create_app as cart
    from emporium.services.catalog.main import create_app as catalog
    from emporium.services.identity.main import create_app as identity
    from emporium.services.inventory.main import create_app as inventory
    from emporium.services.notifications.main import create_app as notifications
    from emporium.services.orders.main import create_app as orders
    from emporium.services.payments.main import create_app as payments
    from emporium.services.recommendations.main import create_app as recommendations
    from emporium.services.shipping.main import create_app as shipping

    chassis = ChassisSettings(var_dir=var_dir, log_level="WARNING")
    makers: dict[str, Callable[[ChassisSettings], FastAPI]] = {
        "cart": cart,
        "catalog": catalog,
        "identity": identity,
        "inventory": inventory,
        "notifications": notifications,
        "orders": orders,
        "payments": payments,
        "recommendations": recommendations,
        "shipping": shipping,
    }
    for name, create in makers.items():
        yield name, create(chassis)


def _flatten(routes: list[BaseRoute]) -> Iterator[tuple[str, BaseRoute]]:
    for route in routes:
        contexts: Callable[[], Iterator[Any]] | None = getattr(
            route, "effective_route_contexts", None
        )
        if contexts is not None:
            for context in contexts():
                yield context.path, context.original_route
        elif isinstance(route, Route):
            yield route.path, route


def served_routes(var_dir: Path) -> list[ServedRoute]:
    return [
        ServedRoute(name, path, frozenset(getattr(route, "methods", None) or ()), route)
        for name, app in service_apps(var_dir)
        for path, route in _flatten(app.routes)
    ]
