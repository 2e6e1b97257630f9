"""The gateway process: discovery, balancer and proxy on the chassis."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Route

from emporium.chassis import ChassisSettings, create_service, serve
from emporium.services.gateway.balancer import Balancer
from emporium.services.gateway.discovery import Discovery
from emporium.services.gateway.openapi import OpenApiAggregator
from emporium.services.gateway.proxy import Proxy
from emporium.services.gateway.registry import Upstreams
from emporium.services.gateway.routes import gateway_router
from emporium.services.gateway.settings import GatewaySettings

__all__ = ["create_app", "main"]

DEFAULT_PORT = 8080


def create_app(
    settings: GatewaySettings | None = None, chassis: ChassisSettings | None = None
) -> FastAPI:
    settings = settings or GatewaySettings()
    chassis = chassis or ChassisSettings()
    if settings.port is not None or "port" not in chassis.model_fields_set:
        port = settings.port if settings.port is not None else DEFAULT_PORT
        chassis = chassis.model_copy(update={"port": port})
    if settings.registry is None and not settings.upstreams:
        settings = settings.model_copy(
            update={"registry": chassis.var_dir / "run" / "registry.json"}
        )
    upstreams = Upstreams()
    balancer = Balancer(
        ejection_seconds=settings.ejection_seconds, consecutive_5xx=settings.consecutive_5xx
    )
    discovery = Discovery(settings, upstreams, balancer)
    proxy = Proxy(settings, upstreams, balancer)
    aggregator = OpenApiAggregator(
        upstreams, balancer, lambda: proxy.session, ttl=settings.openapi_ttl
    )
    app = create_service(
        "gateway",
        routers=[gateway_router(upstreams, balancer, aggregator)],
        settings=chassis,
        components=lambda _runtime: {"proxy": proxy, "discovery": discovery},
        max_body=settings.body_limit,
    )
    # Last, so /health/*, /metrics and the gateway's own /api routes win.
    app.router.routes.append(Route("/{path:path}", proxy, include_in_schema=False))
    app.state.upstreams = upstreams
    return app


def main() -> None:
    serve(create_app())
