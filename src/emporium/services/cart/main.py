"""The cart service: settings, store, catalog client, routes, handlers; chassis does the rest."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Component, Runtime, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.chassis.messaging import Messaging
from emporium.services._own_tables import create_with_chassis
from emporium.services.cart.catalog import CatalogClient
from emporium.services.cart.messages import message_handlers
from emporium.services.cart.redis_store import RedisCartRepository
from emporium.services.cart.repository import CartRepository
from emporium.services.cart.routes import router
from emporium.services.cart.settings import CartSettings
from emporium.services.cart.sql_store import SqlCartRepository, metadata


def create_app(
    chassis: ChassisSettings | None = None,
    settings: CartSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    create_with_chassis(metadata)
    chassis = chassis or ChassisSettings()
    settings = settings or CartSettings()
    catalog_url = settings.catalog_url or chassis.upstream("catalog")

    def components(rt: Runtime) -> Mapping[str, Component]:
        carts: CartRepository
        if settings.uses_redis:
            carts = RedisCartRepository(
                settings.resolved_redis_url(),
                prefix=settings.redis_prefix,
                seen_ttl=settings.seen_ttl_seconds,
            )
        else:
            carts = SqlCartRepository(rt.db)
        rt.extras["max_lines"] = settings.max_lines
        # Insertion order is start order: the store is up before messages arrive.
        return {
            "cart_store": carts,
            "catalog": CatalogClient(catalog_url, timeout=settings.catalog_timeout_seconds),
            "broker": Messaging(
                chassis.broker_url,
                service="cart",
                database=rt.db,
                handlers=message_handlers(carts),
                namespace=chassis.broker_namespace,
            ),
        }

    return create_service(
        "cart",
        routers=[router],
        settings=chassis,
        database_url=settings.resolved_database_url("cart", chassis.var_dir, chassis.profile),
        components=components,
        auth=auth,
    )


def main() -> None:
    serve(create_app())
