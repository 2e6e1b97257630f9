"""The gateway's own endpoints under ``/api``: the balance it keeps, and the merged OpenAPI."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from emporium.services.gateway.balancer import Balancer
from emporium.services.gateway.openapi import OpenApiAggregator
from emporium.services.gateway.registry import Upstreams

__all__ = ["gateway_router"]


def gateway_router(
    upstreams: Upstreams, balancer: Balancer, aggregator: OpenApiAggregator
) -> APIRouter:
    router = APIRouter()

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
