"""The open loop for the whole shop (aiohttp): a pool of signed-in shoppers, and
one task from the mix per arrival, timed from its intended send time."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from emporium.loadgen._stats import Recorder
from emporium.loadgen.openloop import OpenLoop
from emporium.loadgen.shop import ROUTES, checkout_body, new_shopper, pick_task

__all__ = ["fetch_products", "run_open_loop"]


@dataclass
class _Shopper:
    headers: dict[str, str] = field(default_factory=dict)
    cart_filled: bool = False


async def fetch_products(session: aiohttp.ClientSession, gateway: str) -> list[str]:
    ids: list[str] = []
    while True:
        async with session.get(
            f"{gateway}/api/catalog/products", params={"limit": 100, "offset": len(ids)}
        ) as response:
            response.raise_for_status()
            page = await response.json()
        ids += [p["id"] for p in page["items"]]
        if not page["items"] or len(ids) >= page["total"]:
            return ids


async def _timed(
    session: aiohttp.ClientSession,
    recorder: Recorder,
    route: str,
    since: float,
    clock: Callable[[], float],
    method: str,
    url: str,
    **kwargs: object,
) -> int:
    """One request; its latency counts from ``since``; returns the status (0: none)."""
    status, cause = 0, None
    try:
        async with session.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
            await response.read()
            status = response.status
            cause = str(status) if status >= 400 else None
    except (aiohttp.ClientError, TimeoutError) as error:
        cause = type(error).__name__
    recorder.record(route, clock() - since, cause)
    return status


async def _sign_in(
    session: aiohttp.ClientSession, gateway: str, recorder: Recorder, clock: Callable[[], float]
) -> _Shopper:
    body = new_shopper()
    await _timed(session, recorder, ROUTES["sign_up"], clock(), clock, "POST",
                 f"{gateway}/api/identity/users", json=body)  # fmt: skip
    credentials = {"email": body["email"], "password": body["password"]}
    try:
        async with session.post(f"{gateway}/api/identity/token", json=credentials) as response:
            token = (await response.json())["access_token"] if response.status == 200 else ""
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
        token = ""
    return _Shopper({"Authorization": f"Bearer {token}"} if token else {})


async def run_open_loop(
    gateway: str,
    recorder: Recorder,
    *,
    rate: float,
    duration: float,
    shoppers: int,
    tick: Callable[[], None],
    seed: int | None = None,
) -> float:
    """Run the shop's task mix at ``rate`` arrivals/s; return the generator's worst lag (s)."""
    rng = random.Random(seed)
    loop: OpenLoop[None] = OpenLoop(rate)
    clock = loop.clock
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        products = await fetch_products(session, gateway)
        gate = asyncio.Semaphore(4)

        async def prepared() -> _Shopper:
            async with gate:
                return await _sign_in(session, gateway, recorder, clock)

        pool = list(await asyncio.gather(*(prepared() for _ in range(shoppers))))
        recorder.restart()

        async def arrival(_: int, intended: float) -> None:
            shopper = rng.choice(pool)
            name = pick_task(rng)
            if name == "checkout" and not shopper.cart_filled:
                name = "add_to_cart"  # the open loop keeps one request per arrival
            product = rng.choice(products)
            route = ROUTES[name]
            if name == "home":
                await _timed(session, recorder, route, intended, clock, "GET", f"{gateway}/")
            elif name == "browse_product":
                url = f"{gateway}/api/catalog/products/{product}"
                await _timed(session, recorder, route, intended, clock, "GET", url)
            elif name == "add_to_cart":
                status = await _timed(
                    session, recorder, route, intended, clock, "PUT",
                    f"{gateway}/api/cart/items/{product}", json={"quantity": 1},
                    headers=shopper.headers,
                )  # fmt: skip
                shopper.cart_filled = shopper.cart_filled or status == 200
            elif name == "view_cart":
                await _timed(session, recorder, route, intended, clock, "GET",
                             f"{gateway}/api/cart", headers=shopper.headers)  # fmt: skip
            else:
                shopper.cart_filled = False
                headers = {**shopper.headers, "Idempotency-Key": str(uuid.uuid4())}
                await _timed(session, recorder, route, intended, clock, "POST",
                             f"{gateway}/api/orders", json=checkout_body(),
                             headers=headers)  # fmt: skip

        ticker = asyncio.create_task(_tick(tick))
        try:
            await loop.run(loop.count_for(duration), arrival)
        finally:
            ticker.cancel()
    return loop.max_lag


async def _tick(tick: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(0.5)
        tick()
