"""``create_service``: what turns a few routers into an Emporium service.

A service's ``main.py`` says what the service is — its name, settings, routes,
tables, message handlers and the objects its routes use — and
:func:`create_service` adds the rest: JSON logs, problem+json errors, request
id and trace context, body limit, health, metrics, the database and its
tables, messaging (outbox, relay, inbox consumers, inbox pruning), token
verification, and graceful start and stop.

Routes reach what ``main.py`` provided by type, never by string key::

    Inventory = Annotated[InventoryService, Depends(provided(InventoryService))]
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic_settings import BaseSettings
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.middleware import Middleware

from emporium.chassis._db_telemetry import instrument_engine
from emporium.chassis.admin import dead_letter_router
from emporium.chassis.auth import AuthSettings, TokenVerifier
from emporium.chassis.db import Database, Publisher, UnitOfWork
from emporium.chassis.faults import FAULT_PATH, FaultMiddleware, FaultSwitch, fault_endpoint
from emporium.chassis.forwarded import TrustedProxies
from emporium.chassis.health import Health
from emporium.chassis.logging import configure_logging, skip_unused_record_fields
from emporium.chassis.messaging import (
    Handler,
    Listener,
    Listening,
    Messaging,
    Outbox,
    messaging_tables,
)
from emporium.chassis.metrics import metrics_endpoint
from emporium.chassis.middleware import RequestContextMiddleware
from emporium.chassis.migrations import Migrations
from emporium.chassis.openapi import document_responses
from emporium.chassis.overload import (
    BUDGET_PATH,
    AdmissionMiddleware,
    BudgetReport,
    Partition,
    routes,
)
from emporium.chassis.problems import install_problem_handlers
from emporium.chassis.settings import ChassisSettings, ServiceSettings, refuse_placeholders
from emporium.chassis.tracing import Tracing, use_tracing
from emporium.contracts._base import Message

__all__ = [
    "Component",
    "HandlerTable",
    "Runtime",
    "budget_endpoint",
    "create_service",
    "provided",
    "serve",
    "spans_endpoint",
]

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024

T = TypeVar("T")

HandlerTable = Mapping[type[Message], Handler]


@runtime_checkable
class Component(Protocol):
    """Something with a lifecycle that the service starts and stops with itself."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...

    # A component may set ``gates_readiness = False``: its check is reported at
    # /health/ready but an instance stays in rotation while it fails (see
    # emporium.chassis.health; the broker is one).


@dataclass
class Runtime:
    """What a running service holds: its settings, store, outbox and provided objects.

    Routes reach it through :func:`provided`; ``main.py``'s factories get it as
    their argument. Objects are found by the type they were provided as.
    """

    name: str
    settings: ChassisSettings
    database: Database[Any] | None = None
    outbox: Outbox | None = None
    # The broker of a service with listeners and no store (see create_service).
    listening: Listening | None = None
    migrations: Migrations | None = None
    tracing: Tracing | None = None
    components: dict[str, Component] = field(default_factory=dict)
    _provided: dict[type[Any], Any] = field(default_factory=dict)
    _on_drain: list[Callable[[], None]] = field(default_factory=list)

    def when_draining(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the process begins to stop: before the server
        waits for the requests in flight, so what holds one open (a long poll)
        can answer now instead of holding the stop up."""
        self._on_drain.append(callback)

    def drain(self) -> None:
        """Run the :meth:`when_draining` callbacks (once; later calls do nothing).

        One that fails is logged and the rest still run: the stop goes on.
        """
        callbacks, self._on_drain = self._on_drain, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("a drain callback of %s failed", self.name)

    @property
    def instance(self) -> str:
        return self.settings.instance_name(self.name)

    @property
    def db(self) -> Database[Any]:
        if self.database is None:
            raise RuntimeError(f"service {self.name} has no database")
        return self.database

    def get_outbox(self) -> Outbox:
        """The service's outbox (for use cases that publish without a unit of work's help)."""
        if self.outbox is None:
            raise RuntimeError(f"service {self.name} does not publish: pass publishes=True")
        return self.outbox

    def provide(self, obj: T, as_type: type[T] | None = None) -> T:
        """Make ``obj`` reachable as ``as_type`` (default: its own class); returns it."""
        self._provided[as_type or type(obj)] = obj
        return obj

    def get(self, wanted: type[T]) -> T:
        """The object provided as ``wanted``, or the one provided that is an instance of it."""
        found = self._provided.get(wanted)
        if found is None:
            matches = [obj for obj in self._provided.values() if _is_instance(obj, wanted)]
            if len(matches) != 1:
                known = ", ".join(sorted(t.__name__ for t in self._provided))
                raise LookupError(f"{self.name} provides no single {wanted.__name__} ({known})")
            # Remember the answer: routes ask for a port (a Protocol) on every
            # request, and the isinstance scan need only happen once.
            found = self._provided[wanted] = matches[0]
        return cast(T, found)


def _is_instance(obj: object, wanted: type[Any]) -> bool:
    try:
        return isinstance(obj, wanted)
    except TypeError:  # a Protocol that is not runtime-checkable
        return False


def provided(wanted: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A FastAPI dependency giving the object the service provided as ``wanted``.

    A coroutine function although it awaits nothing: FastAPI runs a plain
    function dependency on its thread pool, a hop to a worker thread and back
    on every request for a dictionary lookup.
    """

    async def dependency(request: Request) -> T:
        runtime: Runtime = request.app.state.runtime
        return runtime.get(wanted)

    dependency.__name__ = f"provided_{wanted.__name__}"
    return dependency


UnitOfWorkFactory = Callable[[AsyncSession, Publisher | None], UnitOfWork]
Components = Callable[[Runtime], Mapping[str, object]]
Handlers = Callable[[Runtime], HandlerTable]
Listeners = Callable[[Runtime], Mapping[type[Message], Listener]]
Verifier = bool | TokenVerifier | Callable[[Runtime], TokenVerifier]


def create_service(
    name: str,
    *,
    chassis: ChassisSettings | None = None,
    settings: BaseSettings | None = None,
    routers: Sequence[APIRouter] = (),
    metadata: MetaData | None = None,
    migrations: Migrations | None = None,
    unit_of_work: UnitOfWorkFactory = UnitOfWork,
    publishes: bool = False,
    handlers: Handlers | None = None,
    listeners: Listeners | None = None,
    components: Components | None = None,
    workers: Components | None = None,
    auth: Verifier = False,
    middleware: Sequence[Middleware] = (),
    admission: Partition | Mapping[str, str] | None = None,
    budgets: BudgetReport | None = None,
    max_body: int = MAX_BODY,
    database_url: str | None = None,
) -> FastAPI:
    """Build the ASGI app of one service.

    - ``settings``: the service's own settings; provided to routes by type. With
      ``metadata`` it must be a :class:`ServiceSettings`, whose database URL
      (or the embedded SQLite default) becomes the store; ``database_url``
      overrides it (tests).
    - ``migrations``: the service's schema history; its tables are the store
      and start-up upgrades the store to its head (under a lock, so replicas
      starting together migrate once). ``metadata`` alone (tests' own small
      services) creates missing tables instead.
    - ``metadata``: the service's own tables, created at start-up;
      ``unit_of_work`` is the class its units of work are (with repositories).
    - ``publishes`` / ``handlers``: the service publishes integration events
      through an outbox in its store / consumes the messages in the table that
      ``handlers(runtime)`` returns (which implies an outbox too). The outbox
      and inbox tables join ``metadata``.
    - ``listeners(runtime)``: message types this process hears however many
      replicas run, at most once and with no inbox (cache invalidation, never
      an effect); built after the components, so they can name one. A service
      with listeners and no store gets a :class:`Listening` broker instead of
      :class:`Messaging` (provided by type, so a component can ask whether it
      hears yet): it publishes and consumes nothing, and starts and serves
      without its broker.
    - ``components(runtime)``: named objects the service needs; each is
      provided by its type, and those with a lifecycle (:class:`Component`) are
      started in order, checked for readiness under their name, and stopped in
      reverse. Messaging starts after them and stops before them.
    - ``workers(runtime)``: background work that writes messages or needs the
      consumers running (sweepers, dispatchers, a backfill): started after
      messaging, stopped before it, so nothing they do falls between the two.
    - ``auth``: ``True`` verifies bearer tokens against identity's JWKS (routes
      then use ``CurrentUser`` / ``AdminUser``); a verifier, or a factory of one
      given the runtime, replaces that.
    - ``middleware``: runs inside the chassis' request context (ids, logs,
      metrics, body limit), outermost first.
    - ``admission``: the routes guarded by an adaptive concurrency limit, as
      ``{"POST /api/orders": "checkout"}`` or a function of the ASGI scope
      giving a partition name (None: not guarded); each partition has its own
      limit. Every route, guarded or not, keeps to the caller's deadline.
    - ``budgets``: what is left of budgets the service admits against itself,
      reported at ``GET /internal/admission`` so that the gateway can refuse on
      its behalf (:mod:`emporium.chassis.overload`); its refusals carry ``BUDGET``.

    Readiness turns green after everything started; at shutdown it turns red
    first, so balancers stop routing before anything stops.
    """
    if isinstance(settings, ChassisSettings):
        raise TypeError(f"{name}: pass ChassisSettings as chassis=, settings= is the service's own")
    chassis = chassis or ChassisSettings()
    refuse_placeholders(chassis.profile)
    runtime = Runtime(name=name, settings=chassis)
    runtime.provide(chassis)
    if settings is not None:
        runtime.provide(settings)
    messaging = publishes or handlers is not None or listeners is not None
    if migrations is not None:
        metadata = migrations.metadata
    if metadata is not None:
        url = database_url or _database_url(name, settings, chassis)
        if messaging:
            outbox_table, _ = messaging_tables(metadata)
            runtime.outbox = runtime.provide(
                Outbox(namespace=chassis.broker_namespace, table=outbox_table)
            )
        runtime.database = Database(
            url,
            metadata=metadata,
            unit_of_work=unit_of_work,
            publisher=runtime.outbox,
            sqlite_inline=chassis.sqlite_inline,
        )
        runtime.provide(runtime.database, Database)
        runtime.migrations = migrations
        instrument_engine(runtime.database.engine.sync_engine, name)
    elif publishes or handlers is not None:
        raise ValueError(f"{name}: messaging needs a store for its outbox and inbox (metadata=)")
    elif listeners is not None:
        runtime.listening = runtime.provide(
            Listening(chassis.broker_url, service=name, namespace=chassis.broker_namespace)
        )
    configure_logging(name, runtime.instance, level=chassis.log_level, fmt=chassis.log_format)
    if chassis.tracing:
        runtime.tracing = Tracing(
            name,
            runtime.instance,
            sample_ratio=chassis.trace_sample_ratio,
            read_sample_ratio=chassis.trace_read_sample_ratio,
            buffer=chassis.trace_buffer,
            otlp_endpoint=chassis.otlp_endpoint,
        )

    health = Health({})
    lifespan = _lifespan(
        runtime, health, components, workers, handlers if messaging else None, listeners, auth
    )
    app = FastAPI(
        title=f"Emporium {name}",
        version="1.0.0",
        lifespan=lifespan,
        openapi_url=f"/api/{name}/openapi.json",
        docs_url=f"/api/{name}/docs",
        redoc_url=None,
        # The chassis writes its own spans at its own seams (decision 0019).
        # FastAPI's native telemetry, left on, would look up the global OTel
        # providers (environment reads included) on every request to find
        # them unconfigured, or double every span if someone configured them.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    app.state.health = health
    install_problem_handlers(app)
    document_responses(app)
    # add_middleware puts each one outside the ones before it: the service's
    # own go in first (innermost), the request context last (outermost).
    for layer in reversed(middleware):
        app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    # Just inside the request context: a refusal still has its request id, log
    # line and metrics, and costs nothing else (no auth, no body parsing).
    partition = routes(admission) if isinstance(admission, Mapping) else admission
    app.add_middleware(
        AdmissionMiddleware,
        service=name,
        partition=partition if chassis.overload_enabled else None,
        limits=chassis.limit_settings(),
    )
    # Outside admission: an injected error costs nothing, and an injected delay
    # is the link's (as in Envoy's filter), not a slot of the service's limit.
    # Absent unless allowed, so an instance without it pays nothing at all.
    app.state.faults = FaultSwitch() if chassis.fault_injection else None
    if app.state.faults is not None:
        app.add_middleware(FaultMiddleware, switch=app.state.faults)
    app.add_middleware(
        RequestContextMiddleware,
        service=name,
        instance=runtime.instance,
        max_body=max_body,
        trusted_proxies=TrustedProxies(chassis.trusted_proxies),
        tracing=runtime.tracing,
    )
    app.add_route("/internal/spans", spans_endpoint, methods=["GET"], include_in_schema=False)
    app.add_route(
        FAULT_PATH, fault_endpoint, methods=["GET", "PUT", "DELETE"], include_in_schema=False
    )
    if budgets is not None:
        app.add_route(
            BUDGET_PATH, budget_endpoint(budgets), methods=["GET"], include_in_schema=False
        )
    app.add_route("/health/live", health.live, methods=["GET"], include_in_schema=False)
    app.add_route("/health/ready", health.ready, methods=["GET"], include_in_schema=False)
    app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    for router in routers:
        app.include_router(router)
    if messaging and auth is not False:
        app.include_router(dead_letter_router(name))
    return app


def budget_endpoint(report: BudgetReport) -> Callable[[Request], Awaitable[Response]]:
    """``GET /internal/admission``: the service's budgets now, by ``"METHOD /path"``."""

    async def endpoint(request: Request) -> Response:
        return JSONResponse({route: budget.as_json() for route, budget in report().items()})

    return endpoint


async def spans_endpoint(request: Request) -> Response:
    """``GET /internal/spans?trace_id=|match=``: this instance's recent spans of a trace.

    Without a query: the ids of the latest traces that started here. Internal:
    the gateway never routes ``/internal/`` (its own spans go out admin-only).
    """
    runtime: Runtime = request.app.state.runtime
    tracing = runtime.tracing
    body: dict[str, Any] = {"service": runtime.name, "instance": runtime.instance, "spans": []}
    if tracing is not None:
        trace_id = request.query_params.get("trace_id")
        match = request.query_params.get("match")
        if trace_id or match:
            body["spans"] = tracing.ring.find(trace_id=trace_id, match=match)
        else:
            body["traces"] = tracing.ring.recent_traces()
    return JSONResponse(body)


def _database_url(name: str, settings: BaseSettings | None, chassis: ChassisSettings) -> str:
    if not isinstance(settings, ServiceSettings):
        raise TypeError(f"{name}: a service with a store needs ServiceSettings (database_url)")
    return settings.resolved_database_url(name, chassis.var_dir, chassis.profile)


def _lifespan(
    runtime: Runtime,
    health: Health,
    components: Components | None,
    workers: Components | None,
    handlers: Handlers | None,
    listeners: Listeners | None,
    auth: Verifier,
) -> Callable[[FastAPI], Any]:
    chassis = runtime.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        started: list[Component] = []
        # The relay and consumers are started from here, so their tasks inherit it.
        use_tracing(runtime.tracing)
        try:
            if runtime.database is not None:
                await _start_store(runtime.database, runtime.migrations, health)
            built = components(runtime) if components else {}
            for obj in built.values():
                runtime.provide(obj)
            # After the components: a verifier may read keys from one (identity).
            if auth is not False:
                runtime.components["auth"] = _verifier(auth, runtime)
            for component_name, obj in built.items():
                if isinstance(obj, Component):
                    runtime.components[component_name] = obj
            if runtime.outbox is not None:
                _, inbox_table = messaging_tables(runtime.db.metadata)
                runtime.components["broker"] = runtime.provide(
                    Messaging(
                        chassis.broker_url,
                        service=runtime.name,
                        database=runtime.db,
                        handlers=handlers(runtime) if handlers else {},
                        namespace=chassis.broker_namespace,
                        outbox=runtime.outbox,
                        inbox_table=inbox_table,
                        inbox_retention=timedelta(hours=chassis.inbox_retention_hours),
                        listeners=listeners(runtime) if listeners else None,
                        poll_interval=chassis.outbox_poll_seconds,
                        lag_interval=chassis.consumer_lag_seconds,
                        pull_wait=chassis.broker_pull_wait_seconds,
                    )
                )
            elif runtime.listening is not None and listeners is not None:
                runtime.listening.listeners = dict(listeners(runtime))
                runtime.components["broker"] = runtime.listening
            for obj in (background := workers(runtime) if workers else {}).values():
                runtime.provide(obj)
            for component_name, obj in background.items():
                if not isinstance(obj, Component):
                    raise TypeError(f"worker {component_name} has no start/stop/ready")
                runtime.components[component_name] = obj
            for component_name, component in runtime.components.items():
                await component.start()
                started.append(component)
                health.add(
                    component_name,
                    component.ready,
                    gating=getattr(component, "gates_readiness", True),
                )
            health.started = True
            logger.info("%s ready on %s:%d", runtime.instance, chassis.host, chassis.port)
            yield
        finally:
            health.draining = True
            runtime.drain()  # serve() did already, unless the app ran without it (tests)
            for component in reversed(started):
                try:
                    await component.stop()
                except Exception:
                    logger.exception("stopping a component of %s failed", runtime.name)
            if runtime.database is not None:
                await runtime.database.dispose()
            if runtime.tracing is not None:
                runtime.tracing.shutdown()
            logger.info("%s stopped", runtime.instance)

    return lifespan


async def _start_store(
    database: Database[Any], migrations: Migrations | None, health: Health
) -> None:
    if migrations is not None:
        await migrations.upgrade(database.url)
    else:
        await database.create_all()

    async def store_ready() -> bool:
        await database.ping()
        return True

    health.add("store", store_ready)


def _verifier(auth: Verifier, runtime: Runtime) -> TokenVerifier:
    if isinstance(auth, TokenVerifier):
        return auth
    if auth is True:
        return default_verifier(runtime.settings)
    return cast(Callable[[Runtime], TokenVerifier], auth)(runtime)


def default_verifier(settings: ChassisSettings) -> TokenVerifier:
    auth_settings = AuthSettings()
    jwks_url = auth_settings.jwks_url or f"{settings.upstream('identity')}/.well-known/jwks.json"
    return TokenVerifier(auth_settings, jwks_url)


def serve(
    app: FastAPI, *, tls_certfile: Path | None = None, tls_keyfile: Path | None = None
) -> None:
    """Run one instance with uvicorn until SIGTERM/SIGINT, then drain.

    With a certificate and key it serves HTTPS (the gateway under ``--tls``).
    """
    settings: ChassisSettings = app.state.runtime.settings
    if (tls_certfile is None) != (tls_keyfile is None):
        raise ValueError("TLS needs both a certificate and a key file")
    skip_unused_record_fields()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        server_header=False,
        ssl_certfile=str(tls_certfile) if tls_certfile else None,
        ssl_keyfile=str(tls_keyfile) if tls_keyfile else None,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 (any local
        # client); the chassis middleware decides, from trusted_proxies only.
        proxy_headers=False,
        ws="none",  # no service speaks WebSocket: do not import an implementation
    )
    _Server(config, on_stop=app.state.runtime.drain).run()


class _Server(uvicorn.Server):
    """uvicorn's server, which tells the service as soon as it starts to stop."""

    def __init__(self, config: uvicorn.Config, *, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # It stops listening and then waits for the requests in flight; the
        # service lets go of what it holds open first.
        self._on_stop()
        await super().shutdown(sockets)
