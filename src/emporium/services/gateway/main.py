"""The gateway process: discovery, balancer and proxy on the chassis, behind the edge.

Middleware, outside in: browser security headers and CORS; the chassis' request
context (ids, logs, metrics, body limit); the chassis' admission (deadlines, an
adaptive concurrency limit per service and kind); the edge (token verification,
rate limits); then the gateway's own routes or the proxy (a bulkhead per service).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emporium.chassis import ChassisSettings, Runtime, create_service, serve
from emporium.chassis.auth import AuthSettings, TokenVerifier
from emporium.chassis.forwarded import TrustedProxies
from emporium.chassis.problems import problem_response
from emporium.services.gateway.balancer import Balancer
from emporium.services.gateway.browser import BrowserSecurityMiddleware
from emporium.services.gateway.cache import ResponseCache
from emporium.services.gateway.discovery import Discovery
from emporium.services.gateway.docs import docs_router
from emporium.services.gateway.edge import EdgeMiddleware, jwks_endpoint, jwks_fetcher
from emporium.services.gateway.metrics import MetricsListener
from emporium.services.gateway.openapi import OpenApiAggregator
from emporium.services.gateway.proxy import Proxy, ProxyShortcut, ProxyTable, admission_partition
from emporium.services.gateway.ratelimit import Limiter, MemoryLimiter
from emporium.services.gateway.registry import Upstreams
from emporium.services.gateway.routes import gateway_router
from emporium.services.gateway.settings import GatewaySettings

__all__ = ["create_app", "main"]

DEFAULT_PORT = 8080


def create_app(
    settings: GatewaySettings | None = None,
    chassis: ChassisSettings | None = None,
    *,
    verifier: TokenVerifier | None = None,
) -> FastAPI:
    """The gateway app. ``verifier`` replaces the JWKS-from-identity one (tests)."""
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
        ejection_seconds=settings.ejection_seconds,
        consecutive_5xx=settings.consecutive_5xx,
        slow_checks_down=settings.health_slow_checks_down,
    )
    discovery = Discovery(settings, upstreams, balancer)
    hears_catalog = settings.cache_seconds > 0 and settings.cache_events
    cache = ResponseCache(
        ttl=settings.cache_seconds, max_bytes=settings.cache_max_bytes, events=hears_catalog
    )
    proxy = Proxy(
        settings, upstreams, balancer, confirm_starting=discovery.confirm_starting, cache=cache
    )
    aggregator = OpenApiAggregator(
        upstreams, discovery.instance_for, lambda: proxy.session, ttl=settings.openapi_ttl
    )
    fetch_jwks = jwks_fetcher(discovery.instance_for, lambda: proxy.session)
    if settings.auth_enabled and verifier is None:
        verifier = TokenVerifier(
            AuthSettings(), "identity:/.well-known/jwks.json", fetch=fetch_jwks
        )
    limiter: Limiter = MemoryLimiter()
    if settings.redis_url:  # only then the Redis client is imported
        from emporium.services.gateway.ratelimit_redis import RedisLimiter

        limiter = RedisLimiter(settings.redis_url, prefix=settings.redis_prefix)

    metrics = (
        MetricsListener(settings.metrics_host or chassis.host, settings.metrics_port)
        if settings.metrics_port is not None
        else None
    )
    active_verifier = verifier if settings.auth_enabled else None
    proxy_table = ProxyTable()
    app = create_service(
        "gateway",
        chassis=chassis,
        settings=settings,
        routers=[
            gateway_router(upstreams, balancer, aggregator, lambda: proxy.session),
            docs_router(),
        ],
        components=lambda runtime: {
            "proxy": proxy,
            "cache": _hearing(cache, runtime),
            "discovery": discovery,
            "limits": limiter,
            **({"verifier": verifier} if verifier is not None else {}),
            **({"metrics": metrics} if metrics is not None else {}),
        },
        # Inside the chassis' request context, so it sees the request id; the
        # shortcut last, so only what the edge let through reaches the proxy.
        middleware=[
            Middleware(
                EdgeMiddleware, settings=settings, verifier=active_verifier, limiter=limiter
            ),
            Middleware(ProxyShortcut, proxy=proxy, table=proxy_table),
        ],
        # Catalog's product events keep its kept answers current; without
        # them the gateway uses no broker at all.
        listeners=(lambda _runtime: cache.listeners()) if hears_catalog else None,
        # Shed per service before the edge verifies a token: a refusal is cheap.
        admission=admission_partition(upstreams, cache),
        max_body=settings.body_limit,
    )
    # Outermost: every response, even the chassis' own errors, gets the headers.
    app.add_middleware(
        BrowserSecurityMiddleware,
        cors_origins=settings.cors_origins,
        trusted_proxies=TrustedProxies(chassis.trusted_proxies),
    )
    # The chassis' /metrics would tell anyone every instance: the public port
    # answers 404 (and never proxies the path to the storefront either).
    # So would /internal/spans; the gateway's own spans go out admin-only,
    # through /api/gateway/traces. Nothing under /internal/ is ever proxied
    # or answered here (/internal/fault included: nobody outside sets a fault).
    # Every method: a PUT the refusal did not take would fall to the catch-all
    # and reach the storefront's own /internal/ routes.
    app.router.routes[:] = [
        Route(route.path, _no_public_metrics, methods=_EVERY_METHOD, include_in_schema=False)
        if isinstance(route, Route)
        and (route.path == "/metrics" or route.path.startswith("/internal/"))
        else route
        for route in app.router.routes
    ]
    app.router.routes.append(
        Route(
            "/internal/{path:path}",
            _no_public_metrics,
            methods=_EVERY_METHOD,
            include_in_schema=False,
        )
    )
    if active_verifier is not None:
        # Before the catch-all: the keys, even while identity is down.
        app.add_route(
            "/.well-known/jwks.json",
            jwks_endpoint(fetch_jwks, active_verifier),
            methods=["GET"],
            include_in_schema=False,
        )
    # Last, so /health/*, /metrics and the gateway's own /api routes win.
    catch_all = Route("/{path:path}", proxy, include_in_schema=False)
    app.router.routes.append(catch_all)
    proxy_table.bind(app.router.routes, catch_all)
    app.state.upstreams = upstreams
    app.state.metrics = metrics
    app.state.gateway_settings = settings
    return app


def _hearing(cache: ResponseCache, runtime: Runtime) -> ResponseCache:
    """The cache, told which broker it hears catalog through (made by the chassis)."""
    cache.listening = runtime.listening
    return cache


_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _no_public_metrics(request: Request) -> Response:
    return problem_response(404, "Not found", instance=request.url.path)


def main() -> None:
    settings = GatewaySettings()
    serve(
        create_app(settings), tls_certfile=settings.tls_certfile, tls_keyfile=settings.tls_keyfile
    )
