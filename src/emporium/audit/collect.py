"""Read what the invariants need from the services' own admin APIs, through the gateway."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from emporium.audit.invariants import Snapshot

__all__ = ["RETRY_FOR_SECONDS", "AuditError", "collect", "request_json"]

PAGE = 100
# An instance restarting (a deploy, a crash the launcher heals) answers 503
# with Retry-After, or nothing at all, for a few seconds: wait that long.
RETRY_FOR_SECONDS = 30.0
_RETRYABLE = {429, 502, 503, 504}


class AuditError(RuntimeError):
    """The audit could not read what it needs (login refused, a service down, ...)."""


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    retry_for: float = RETRY_FOR_SECONDS,
    ok: tuple[int, ...] = (),
    **kwargs: Any,
) -> Any:
    """The JSON body of one request; a 503 (or 429, 502, 504) is retried after its
    ``Retry-After`` (else a second), a refused connection after a second, for at
    most ``retry_for`` seconds. Statuses in ``ok`` are returned as ``{"status": n}``."""
    deadline = time.monotonic() + retry_for
    while True:
        try:
            async with session.request(method, url, **kwargs) as response:
                if response.status in ok:
                    return {"status": response.status}
                if response.status < 400:
                    return await response.json(content_type=None)
                text = (await response.text())[:300]
                error = AuditError(f"{method} {url} answered {response.status}: {text}")
                if response.status not in _RETRYABLE:
                    raise error
                wait = _retry_after(response.headers.get("Retry-After"))
        except aiohttp.ClientConnectionError as exc:
            error, wait = AuditError(f"{method} {url}: {exc}"), 1.0
        if time.monotonic() + wait > deadline:
            raise error
        await asyncio.sleep(wait)


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.1), 10.0)
    except ValueError:
        return 1.0


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    return await request_json(session, method, url, **kwargs)


async def _pages(
    session: aiohttp.ClientSession, url: str, params: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        query = {**(params or {}), "limit": str(PAGE), "offset": str(offset)}
        page = await _json(session, "GET", url, params=query)
        batch = page["items"]
        items.extend(batch)
        offset += len(batch)
        if not batch or offset >= int(page.get("total", offset)):
            return items


async def admin_token(
    session: aiohttp.ClientSession, gateway: str, email: str, password: str
) -> str:
    body = {"email": email, "password": password}
    tokens = await _json(session, "POST", f"{gateway}/api/identity/token", json=body)
    return str(tokens["access_token"])


async def collect(gateway: str, email: str, password: str, *, saga_deadline: timedelta) -> Snapshot:
    """One snapshot of stock, orders and payments (read in that order)."""
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        token = await admin_token(session, gateway, email, password)
        session.headers["Authorization"] = f"Bearer {token}"
        taken_at = datetime.now(UTC)
        stock = await _pages(session, f"{gateway}/api/inventory/items")
        orders = await _pages(session, f"{gateway}/api/orders", {"scope": "all"})
        payments = await _pages(session, f"{gateway}/api/payments")
    return Snapshot(
        stock=stock,
        orders=orders,
        payments=payments,
        taken_at=taken_at,
        saga_deadline=saga_deadline,
        counts={"skus": len(stock), "orders": len(orders), "payments": len(payments)},
    )
