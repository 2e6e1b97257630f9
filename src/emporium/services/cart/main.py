"""The cart service: one cart per user, priced from the catalog; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Runtime, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.services.cart.catalog import CatalogClient
from emporium.services.cart.messages import message_handlers
from emporium.services.cart.migrations import MIGRATIONS
from emporium.services.cart.repository import CartRepository
from emporium.services.cart.routes import router
from emporium.services.cart.settings import CartSettings
from emporium.services.cart.sql_store import SqlCartRepository


def create_app(
    chassis: ChassisSettings | None = None,
    settings: CartSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    chassis = chassis or ChassisSettings()
    settings = settings or CartSettings()
    catalog_route = chassis.route("catalog", settings.catalog_url)

    def components(runtime: Runtime) -> dict[str, object]:
        carts: CartRepository
        if settings.uses_redis:  # only then the Redis client is imported
            from emporium.services.cart.redis_store import RedisCartRepository

            carts = RedisCartRepository(
                settings.resolved_redis_url(),
                prefix=settings.redis_prefix,
                seen_ttl=settings.seen_ttl_seconds,
            )
        else:
            carts = SqlCartRepository(runtime.db)
        catalog = CatalogClient(
            catalog_route.url,
            timeout=settings.catalog_timeout_seconds,
            endpoints=catalog_route.endpoints,
        )
        return {"cart_store": carts, "catalog": catalog}

    return create_service(
        "cart",
        chassis=chassis,
        settings=settings,
        routers=[router],
        # The inbox lives in SQL even when the carts live in Redis.
        migrations=MIGRATIONS,
        handlers=lambda runtime: message_handlers(runtime.get(CartRepository)),
        components=components,
        auth=auth,
    )


def main() -> None:
    serve(create_app())
