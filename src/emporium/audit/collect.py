"""Read what the invariants need from the services' own admin APIs, through the gateway."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from emporium.audit.invariants import Snapshot

__all__ = ["AuditError", "collect"]

PAGE = 100


class AuditError(RuntimeError):
    """The audit could not read what it needs (login refused, a service down, ...)."""


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    async with session.request(method, url, **kwargs) as response:
        if response.status >= 400:
            text = (await response.text())[:300]
            raise AuditError(f"{method} {url} answered {response.status}: {text}")
        return await response.json(content_type=None)


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
