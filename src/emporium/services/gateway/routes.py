"""The gateway's own endpoints under ``/api``: the balance it keeps, and the merged OpenAPI."""

from __future__ import annotations

import re
from collections.abc import Callable

import aiohttp
from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from emporium.chassis import Runtime
from emporium.services.gateway.balancer import Balancer
from emporium.services.gateway.observe import InstanceVitals, collect_trace
from emporium.services.gateway.openapi import OpenApiAggregator
from emporium.services.gateway.registry import Upstreams

__all__ = ["gateway_router"]

_KEY = re.compile(r"[A-Za-z0-9._-]{1,128}")


def gateway_router(
    upstreams: Upstreams,
    balancer: Balancer,
    aggregator: OpenApiAggregator,
    session: Callable[[], aiohttp.ClientSession] | None = None,
) -> APIRouter:
    router = APIRouter()
    vitals = InstanceVitals(upstreams, session) if session is not None else None

    @router.get("/api/gateway/instances", include_in_schema=False)
    async def list_instances(_request: Request) -> JSONResponse:
        """Every instance with health, request and error rates and p99 (admin)."""
        if vitals is None:
            raise HTTPException(404)
        return JSONResponse({"instances": await vitals.snapshot(balancer.clock())})

    @router.get("/api/gateway/traces/{key}", include_in_schema=False)
    async def trace(request: Request, key: str) -> JSONResponse:
        """The spans of every instance (the gateway's own too) of the traces ``key`` names."""
        if session is None or not _KEY.fullmatch(key):
            raise HTTPException(404)
        runtime: Runtime = request.app.state.runtime
        return JSONResponse(await collect_trace(key, upstreams, session(), runtime.tracing))

    @router.get("/api/gateway/traces", include_in_schema=False)
    async def recent_traces(request: Request) -> JSONResponse:
        """The latest traces that entered through this gateway (admin)."""
        runtime: Runtime = request.app.state.runtime
        traces = runtime.tracing.ring.recent_traces() if runtime.tracing else []
        return JSONResponse({"traces": traces})

    @router.get("/api/gateway/upstreams", include_in_schema=False)
    async def list_upstreams(_request: Request) -> JSONResponse:
        """Every instance the gateway knows, with its health, ejection and counters."""
        now = balancer.clock()
        return JSONResponse(
            {
                "version": upstreams.version,
                "instances": [instance.describe(now) for instance in upstreams.all()],
            }
        )

    @router.get("/api/openapi.json", include_in_schema=False)
    async def merged_openapi(_request: Request) -> JSONResponse:
        return JSONResponse(await aggregator.document())

    return router
