"""``emporium seed``: give a running shop its catalog and stock, through the gateway, as admin.

It is a client of the public admin API, like a person at the admin pages, so
it works the same on the local and the production profile, on a laptop and as
a Kubernetes Job, and every write goes through the services' own rules (the
catalog's outbox tells inventory about each product). Idempotent:

- ``--demo``: the demo categories and products whose SKU is missing are added;
- ``--stock N``: every stock item never stocked (``initial + restocked == 0``)
  gets N on hand; items that ever had stock are left as they are, so running
  it again never refills what customers bought.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer

from emporium.audit.collect import AuditError, admin_token, request_json
from emporium.audit.command import gateway_of
from emporium.services.catalog.demo_data import CATEGORIES, PRODUCTS

__all__ = ["seed"]

STOCK_WAIT_SECONDS = 60.0


async def _seed(gateway: str, email: str, password: str, demo: bool, stock: int | None) -> str:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        session.headers["Authorization"] = (
            f"Bearer {await admin_token(session, gateway, email, password)}"
        )
        added = await _demo_catalog(session, gateway) if demo else 0
        stocked = await _stock(session, gateway, stock, wait_for=demo) if stock is not None else 0
    return f"seeded {added} new products and stocked {stocked} items at {gateway}"


async def _demo_catalog(session: aiohttp.ClientSession, gateway: str) -> int:
    for slug, name in CATEGORIES.items():
        await request_json(
            session, "PUT", f"{gateway}/api/catalog/categories/{slug}", json={"name": name}
        )
    added = 0
    for sku, name, description, price, category in PRODUCTS:
        body = {
            "sku": sku,
            "name": name,
            "description": description,
            "price": {"amount": price, "currency": "USD"},
            "categories": [category],
        }
        answer = await request_json(
            session, "POST", f"{gateway}/api/catalog/products", json=body, ok=(409,)
        )
        added += answer.get("status") != 409
    return added


async def _items(session: aiohttp.ClientSession, gateway: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = await request_json(
            session,
            "GET",
            f"{gateway}/api/inventory/items",
            params={"limit": "500", "offset": str(len(items))},
        )
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return items


async def _stock(
    session: aiohttp.ClientSession, gateway: str, on_hand: int, *, wait_for: bool
) -> int:
    items = await _items(session, gateway)
    if wait_for:
        # Inventory learns of new products from the catalog's events: wait for them.
        wanted = {sku for sku, *_ in PRODUCTS}
        deadline = time.monotonic() + STOCK_WAIT_SECONDS
        while not wanted <= {item["sku"] for item in items}:
            if time.monotonic() > deadline:
                missing = sorted(wanted - {item["sku"] for item in items})
                raise AuditError(f"inventory has no stock item yet for {', '.join(missing)}")
            await asyncio.sleep(0.5)
            items = await _items(session, gateway)
    stocked = 0
    for item in items:
        if item["initial"] + item["restocked"] == 0 and not item["discontinued"]:
            await request_json(
                session,
                "PUT",
                f"{gateway}/api/inventory/items/{item['sku']}",
                json={"on_hand": on_hand},
            )
            stocked += 1
    return stocked


def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Add the demo catalog")] = False,
    stock: Annotated[
        int | None,
        typer.Option("--stock", min=0, help="Units for every item never stocked"),
    ] = None,
    gateway: Annotated[
        str | None, typer.Option(help="Gateway URL (default: the running system's)")
    ] = None,
    var_dir: Annotated[Path | None, typer.Option("--var-dir", help="State directory")] = None,
    admin_email: Annotated[str, typer.Option(help="An admin account")] = "admin@emporium.local",
    admin_password: Annotated[
        str, typer.Option(envvar="EMPORIUM_ADMIN_PASSWORD", help="(env EMPORIUM_ADMIN_PASSWORD)")
    ] = "emporium-admin",
) -> None:
    """Seed a running shop through its gateway: demo catalog, stock; safe to run again."""
    if not demo and stock is None:
        typer.echo("error: nothing to do: give --demo, --stock N or both", err=True)
        raise typer.Exit(2)
    url = (gateway or gateway_of(var_dir)).rstrip("/")
    try:
        message = asyncio.run(_seed(url, admin_email, admin_password, demo, stock))
    except (AuditError, aiohttp.ClientError, OSError) as error:
        typer.echo(f"error: seeding {url} failed: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(message)
