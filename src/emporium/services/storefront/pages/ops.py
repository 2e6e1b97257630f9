"""The ops page: instances, messaging, sagas and traces, for admins only.

Everything comes from admin-only APIs, called with the admin's own token: the
gateway's ``/api/gateway/instances`` and ``/api/gateway/traces/{key}``, each
service's ``/api/<service>/admin/deadletters`` and orders'
``/api/orders/admin/sagas``. The live part refreshes itself (htmx polling); a
service that does not answer shows as unknown, and the page still renders.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from emporium.contracts.routing import CONSUMING_SERVICES
from emporium.services.storefront.api import Api
from emporium.services.storefront.charts import bars, saga_line, waterfall
from emporium.services.storefront.forms import PostedForm
from emporium.services.storefront.web import api_of, fragment, page, redirect, require_admin

__all__ = ["router"]

router = APIRouter(prefix="/admin/ops", include_in_schema=False)

DEAD_LETTER_SERVICES = CONSUMING_SERVICES
_KEY = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


async def _json(api: Api, service: str, path: str, **kwargs: Any) -> Any | None:
    try:
        answer = await api.as_user(service, "GET", path, **kwargs)
    except Exception:  # a service that is down is shown as unknown, not a 500
        return None
    return answer.json() if answer.status == 200 else None


async def _live(request: Request) -> dict[str, Any]:
    api = api_of(request)
    instances, sagas, *letters = await asyncio.gather(
        _json(api, "gateway", "/api/gateway/instances"),
        _json(api, "orders", "/api/orders/admin/sagas", params={"limit": 12}),
        *(_json(api, s, f"/api/{s}/admin/deadletters") for s in DEAD_LETTER_SERVICES),
    )
    rows = (instances or {}).get("instances", [])
    dead = {
        service: (found or {}).get("items") if found is not None else None
        for service, found in zip(DEAD_LETTER_SERVICES, letters, strict=True)
    }
    saga_items = [
        {**saga, "line": saga_line(saga["steps"], saga["stuck"])}
        for saga in (sagas or {}).get("items", [])
    ]
    messaging_ready = [r for r in rows if r["service"] not in {"gateway", "storefront"}]
    return {
        "instances": rows,
        "instances_known": instances is not None,
        "broker_ok": bool(messaging_ready) and all(r["healthy"] for r in messaging_ready),
        "rate_chart": bars(
            [(r["instance"], r["request_rate"] or 0.0) for r in rows],
            "req/s",
            "Requests per second",
        ),
        "p99_chart": bars([(r["instance"], r["p99_ms"] or 0.0) for r in rows], "ms", "p99 latency"),
        "dead_letters": dead,
        "sagas": saga_items,
        "sagas_known": sagas is not None,
    }


@router.get("")
async def ops(request: Request) -> Response:
    require_admin(request)
    return await page(request, "admin/ops.html", await _live(request))


@router.get("/live")
async def ops_live(request: Request) -> Response:
    require_admin(request)
    return fragment(request, "admin/_ops_live.html", await _live(request))


@router.get("/trace")
async def trace_search(request: Request, key: str = "") -> Response:
    require_admin(request)
    if not _KEY.fullmatch(key.strip()):
        return redirect("/admin/ops")
    return redirect(f"/admin/ops/trace/{key.strip()}")


@router.get("/trace/{key}")
async def trace(request: Request, key: str) -> Response:
    require_admin(request)
    if not _KEY.fullmatch(key):
        raise HTTPException(404)
    found = await _json(api_of(request), "gateway", f"/api/gateway/traces/{key}")
    spans = (found or {}).get("spans", [])
    context = {"key": key, "spans": spans, "chart": waterfall(spans), "known": found is not None}
    return await page(request, "admin/trace.html", context)


@router.post("/deadletters/{service}/{letter_id}/replay")
async def replay(request: Request, service: str, letter_id: str, _form: PostedForm) -> Response:
    require_admin(request)
    if service not in DEAD_LETTER_SERVICES or not _KEY.fullmatch(letter_id):
        raise HTTPException(404)
    answer = await api_of(request).as_user(
        service, "POST", f"/api/{service}/admin/deadletters/{letter_id}/replay"
    )
    if answer.status not in (202, 404):
        raise HTTPException(503, "The dead letter could not be replayed right now")
    return redirect("/admin/ops#messaging")


@router.post("/sagas/{order_id}/compensate")
async def compensate(request: Request, order_id: str, _form: PostedForm) -> Response:
    require_admin(request)
    if not _KEY.fullmatch(order_id):
        raise HTTPException(404)
    answer = await api_of(request).as_user(
        "orders", "POST", f"/api/orders/admin/sagas/{order_id}/compensate"
    )
    if answer.status not in (200, 409):
        raise HTTPException(503, "The saga could not be compensated right now")
    return redirect("/admin/ops#sagas")


@router.post("/sagas/{order_id}/retry")
async def retry(request: Request, order_id: str, _form: PostedForm) -> Response:
    require_admin(request)
    if not _KEY.fullmatch(order_id):
        raise HTTPException(404)
    answer = await api_of(request).as_user(
        "orders", "POST", f"/api/orders/admin/sagas/{order_id}/retry"
    )
    if answer.status not in (200, 409):
        raise HTTPException(503, "The saga step could not be sent again right now")
    return redirect("/admin/ops#sagas")
