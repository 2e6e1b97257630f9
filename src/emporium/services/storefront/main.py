"""The storefront service: pages, session cookie, HTML errors; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from emporium.chassis import ChassisSettings, Runtime, create_service, serve
from emporium.services.storefront.api import Upstreams
from emporium.services.storefront.errors import install_html_errors
from emporium.services.storefront.pages import account, admin, cart, ops, orders, shop
from emporium.services.storefront.products import CatalogProducts
from emporium.services.storefront.session import SessionCodec, SessionMiddleware
from emporium.services.storefront.settings import StorefrontSettings
from emporium.services.storefront.web import STATIC_DIR

__all__ = ["create_app", "main"]


def create_app(
    chassis: ChassisSettings | None = None, settings: StorefrontSettings | None = None
) -> FastAPI:
    chassis = chassis or ChassisSettings()
    settings = settings or StorefrontSettings()
    codec = SessionCodec(
        settings.session_keys(chassis.profile, chassis.var_dir), settings.session_max_age_seconds
    )
    app = create_service(
        "storefront",
        chassis=chassis,
        settings=settings,
        routers=[shop.router, account.router, cart.router, orders.router, admin.router, ops.router],
        components=lambda runtime: _components(runtime, chassis, settings),
        # Catalog's product events keep the products it shows current.
        listeners=lambda runtime: runtime.get(CatalogProducts).listeners(),
    )
    install_html_errors(app)
    app.add_middleware(SessionMiddleware, codec=codec, secure=settings.cookie_secure)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _components(
    runtime: Runtime, chassis: ChassisSettings, settings: StorefrontSettings
) -> dict[str, object]:
    upstreams = Upstreams(chassis, settings)
    products = CatalogProducts(
        upstreams.clients["catalog"], runtime.listening, ttl=settings.product_cache_seconds
    )
    return {"upstreams": upstreams, "products": products}


def main() -> None:
    serve(create_app())
