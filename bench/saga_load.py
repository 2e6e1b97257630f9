"""Loading an order for a saga step: ``get`` (three queries) vs ``for_change`` (one).

Usage: ``python -m bench.saga_load [--rounds 6 --orders 200]`` (about ten
seconds). Writes bench/results/saga-load.md and prints it.

One process, one SQLite file (inline on the event loop, as the services run
it), orders' own tables and mapping. Each load is what a saga reply does
before its transition: open a unit of work, load the order, close it. ``get``
loads the order, then its lines and its history with a ``selectin`` query
each; ``for_change`` joins the lines and leaves the history unloaded (a step
only appends to it). Rounds alternate the two, so a shared machine's noise
falls on both; reported: the process's CPU per load, median over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import stop_on_sigterm
from bench.checkout import load_average
from emporium.chassis.db import Database
from emporium.services.orders.adapters.orm import metadata, start_mappers
from emporium.services.orders.adapters.repository import OrderRepository
from emporium.services.orders.domain import Order, OrderLine
from emporium.services.orders.service_layer import SqlOrdersUnitOfWork

RESULTS = Path(__file__).parent / "results" / "saga-load.md"
Loader = Callable[[OrderRepository, uuid.UUID], Coroutine[Any, Any, Order | None]]
LOADERS: dict[str, Loader] = {
    "get (order, then lines and history by selectin)": OrderRepository.get,
    "for_change (order joined with lines)": OrderRepository.for_change,
}


def _order() -> Order:
    now = datetime.now(UTC).replace(tzinfo=None)
    order = Order(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        lines=[
            OrderLine(uuid.uuid4(), "SKU-A", "Teapot", 2, 1999),
            OrderLine(uuid.uuid4(), "SKU-B", "Cups", 1, 450),
        ],
        shipping=500,
        currency="USD",
        shipping_address={"name": "A", "line1": "1 St", "city": "X", "postal_code": "1"},
        card_token="tok_1",
        card_brand="visa",
        card_last4="4242",
        idempotency_key=uuid.uuid4().hex,
        request_hash="h",
        now=now,
    )
    order.place(now, timedelta(seconds=30))
    order.collect_events()
    return order


async def _measure(rounds: int, count: int, workdir: Path) -> dict[str, list[float]]:
    start_mappers()
    database: Database[SqlOrdersUnitOfWork] = Database(
        f"sqlite+aiosqlite:///{workdir / 'orders.db'}",
        metadata=metadata,
        unit_of_work=SqlOrdersUnitOfWork,
        sqlite_inline=True,
    )
    await database.create_all()
    ids = []
    for _ in range(count):
        order = _order()
        async with database.unit_of_work() as uow:
            OrderRepository(uow.session).add(order)
            await uow.commit()
        ids.append(order.id)
    results: dict[str, list[float]] = {name: [] for name in LOADERS}
    try:
        for _ in range(rounds):
            for name, load in LOADERS.items():
                started = time.process_time()
                for order_id in ids:
                    async with database.unit_of_work() as uow:
                        if await load(OrderRepository(uow.session), order_id) is None:
                            raise RuntimeError(f"{name}: order {order_id} not found")
                results[name].append(1e6 * (time.process_time() - started) / len(ids))
    finally:
        await database.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    load = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="saga-load-"))
    try:
        results = asyncio.run(_measure(args.rounds, args.orders, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in results.items()}
    first, second = medians.values()
    lines = [
        "# Loading an order for a saga step",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; nproc {os.cpu_count()}; "
        f"load average at start {load}",
        f"- command: `python -m bench.saga_load --rounds {args.rounds} --orders {args.orders}`",
        f"- {args.orders} orders of two lines in one SQLite file (inline); each load opens a "
        "unit of work, loads one order and closes it; rounds alternate",
        "",
        "| load | CPU µs per load (median) | rounds (µs) |",
        "|---|---:|---|",
    ]
    for name, values in results.items():
        runs = ", ".join(f"{value:.0f}" for value in values)
        lines.append(f"| {name} | {medians[name]:.0f} | {runs} |")
    lines += ["", f"for_change / get: **{second / first:.2f}**", ""]
    text = "\n".join(lines)
    args.output.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
