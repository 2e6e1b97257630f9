"""``create_service``: what turns a few routers into an Emporium service.

A service's ``main.py`` names its routers, its store and its message handlers;
the chassis adds the rest: settings, JSON logs, problem+json errors, request
id and trace context, body limit, health, metrics, the database and its
tables, messaging (outbox relay, inbox consumers), and graceful start and stop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import uvicorn
from fastapi import APIRouter, FastAPI

from emporium.chassis.auth import AuthSettings, TokenVerifier
from emporium.chassis.db import Database
from emporium.chassis.forwarded import TrustedProxies
from emporium.chassis.health import Health
from emporium.chassis.logging import configure_logging
from emporium.chassis.metrics import metrics_endpoint
from emporium.chassis.middleware import RequestContextMiddleware
from emporium.chassis.openapi import document_responses
from emporium.chassis.problems import install_problem_handlers
from emporium.chassis.settings import ChassisSettings, refuse_placeholders

__all__ = ["Component", "Runtime", "create_service", "serve"]

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


class Component(Protocol):
    """Something with a lifecycle that the service starts and stops with itself."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...


Hook = Callable[["Runtime"], Awaitable[None]]


@dataclass
class Runtime:
    """What a running service holds; reachable from routes as ``request.app.state.runtime``."""

    name: str
    settings: ChassisSettings
    database: Database | None = None
    components: dict[str, Component] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def instance(self) -> str:
        return self.settings.instance_name(self.name)

    @property
    def db(self) -> Database:
        if self.database is None:
            raise RuntimeError(f"service {self.name} has no database")
        return self.database


def create_service(
    name: str,
    *,
    routers: Sequence[APIRouter] = (),
    settings: ChassisSettings | None = None,
    database_url: str | None = None,
    components: Callable[[Runtime], Mapping[str, Component]] | None = None,
    auth: bool | TokenVerifier = False,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    max_body: int = MAX_BODY,
    title: str | None = None,
    version: str = "1.0.0",
) -> FastAPI:
    """Build the ASGI app of one service.

    Start-up order: database (tables created), components (e.g. messaging), then
    ``on_startup`` hooks; readiness turns green after all of them. Shutdown runs
    in reverse, after readiness has gone red so balancers stop routing first.

    ``auth=True`` verifies bearer tokens against identity's JWKS (routes then use
    ``CurrentUser`` / ``AdminUser``); tests pass a verifier of their own.
    """
    settings = settings or ChassisSettings()
    refuse_placeholders(settings.profile)
    runtime = Runtime(name=name, settings=settings)
    if database_url is not None:
        runtime.database = Database(database_url)
    configure_logging(name, runtime.instance, level=settings.log_level, fmt=settings.log_format)

    health = Health({})

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if runtime.database is not None:
            database = runtime.database
            await database.create_all()

            async def store_ready() -> bool:
                await database.ping()
                return True

            health.checks["store"] = store_ready
        if auth is not False:
            runtime.components["auth"] = (
                auth if isinstance(auth, TokenVerifier) else default_verifier(settings)
            )
        if components is not None:
            runtime.components.update(components(runtime))
        for component_name, component in runtime.components.items():
            await component.start()
            health.checks[component_name] = component.ready
        for hook in on_startup:
            await hook(runtime)
        health.started = True
        logger.info("%s ready on %s:%d", runtime.instance, settings.host, settings.port)
        try:
            yield
        finally:
            health.draining = True
            for hook in reversed(on_shutdown):
                await hook(runtime)
            for component in reversed(list(runtime.components.values())):
                try:
                    await component.stop()
                except Exception:
                    logger.exception("stopping a component of %s failed", name)
            if runtime.database is not None:
                await runtime.database.dispose()
            logger.info("%s stopped", runtime.instance)

    app = FastAPI(
        title=title or f"Emporium {name}",
        version=version,
        lifespan=lifespan,
        openapi_url=f"/api/{name}/openapi.json",
        docs_url=f"/api/{name}/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.health = health
    install_problem_handlers(app)
    document_responses(app)
    app.add_middleware(
        RequestContextMiddleware,
        service=name,
        instance=runtime.instance,
        max_body=max_body,
        trusted_proxies=TrustedProxies(settings.trusted_proxies),
    )
    app.add_route("/health/live", health.live, methods=["GET"], include_in_schema=False)
    app.add_route("/health/ready", health.ready, methods=["GET"], include_in_schema=False)
    app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    for router in routers:
        app.include_router(router)
    return app


def default_verifier(settings: ChassisSettings) -> TokenVerifier:
    auth_settings = AuthSettings()
    jwks_url = auth_settings.jwks_url or f"{settings.upstream('identity')}/.well-known/jwks.json"
    return TokenVerifier(auth_settings, jwks_url)


def serve(app: FastAPI, settings: ChassisSettings | None = None) -> None:
    """Run one instance with uvicorn until SIGTERM/SIGINT, then drain."""
    settings = settings or app.state.runtime.settings
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        server_header=False,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 (any local
        # client); the chassis middleware decides, from trusted_proxies only.
        proxy_headers=False,
    )
