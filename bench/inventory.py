"""Reservations per second under contention, through inventory's service layer.

``.venv/bin/python -m bench.inventory`` (under a minute). Writes
bench/results/inventory.md. For each engine (SQLite file; PostgreSQL in a fresh
database made and dropped here), each round: 20 SKUs with plenty of stock, 200
reservations of 1-3 random lines, 16 at a time, each its own transaction with
row locks (the service's real path, outbox rows included). Median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bench import stop_on_sigterm
from emporium.chassis import Database, transactionally
from emporium.chassis.messaging import Outbox
from emporium.contracts.catalog import ProductCreated
from emporium.contracts.inventory import ReserveStock, StockLine
from emporium.contracts.money import Money
from emporium.services.inventory.adapters.orm import metadata as inventory_tables
from emporium.services.inventory.adapters.orm import start_mappers
from emporium.services.inventory.service_layer import InventoryService, SqlInventoryUnitOfWork

RESULTS = Path(__file__).parent / "results" / "inventory.md"
POSTGRES_URL = os.environ.get(
    "EMPORIUM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def one_round(
    database: Database[SqlInventoryUnitOfWork], reservations: int, skus: int, concurrency: int
) -> float:
    service = InventoryService(reservation_ttl=timedelta(minutes=5), initial_stock=10**6)
    names = [f"B-{uuid.uuid4().hex[:8]}-{i}" for i in range(skus)]
    for sku in names:
        event = ProductCreated(product_id=uuid.uuid4(), sku=sku, name=sku, price=Money(amount=1))
        await transactionally(
            database.unit_of_work, functools.partial(service.product_created, event)
        )
    commands = [
        ReserveStock(
            order_id=uuid.uuid4(),
            lines=[
                StockLine(sku=sku, quantity=random.randint(1, 3))
                for sku in random.sample(names, random.randint(1, 3))
            ],
        )
        for _ in range(reservations)
    ]
    gate = asyncio.Semaphore(concurrency)

    async def reserve(command: ReserveStock) -> None:
        async with gate:
            await transactionally(
                database.unit_of_work, lambda uow: service.reserve(command, uow), retries=19
            )

    start = time.perf_counter()
    await asyncio.gather(*(reserve(command) for command in commands))
    return reservations / (time.perf_counter() - start)


async def engine_rounds(url: str, rounds: int, **load: int) -> list[float]:
    start_mappers()
    database = Database(url, unit_of_work=SqlInventoryUnitOfWork, publisher=Outbox())
    await database.create_all(inventory_tables)
    try:
        await one_round(database, 20, 5, 4)  # warm-up: connections, statement caches
        return [await one_round(database, **load) for _ in range(rounds)]
    finally:
        await database.dispose()


async def postgres_rounds(rounds: int, **load: int) -> list[float] | None:
    url = sa.make_url(POSTGRES_URL)
    name = f"bench_inventory_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except OSError:
        await admin.dispose()
        return None
    try:
        target = url.set(database=name).render_as_string(hide_password=False)
        return await engine_rounds(target, rounds, **load)
    finally:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def main(rounds: int, reservations: int, skus: int, concurrency: int) -> str:
    load = {"reservations": reservations, "skus": skus, "concurrency": concurrency}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await engine_rounds(f"sqlite+aiosqlite:///{tmp}/bench.db", rounds, **load)
    postgres = await postgres_rounds(rounds, **load)
    rows = [("SQLite (WAL, file)", sqlite), ("PostgreSQL (local)", postgres)]
    lines = [
        "# Inventory: reservations per second under contention",
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; nproc: {os.cpu_count()}; "
        f"`python -m bench.inventory --rounds {rounds}`.",
        "",
        f"{reservations} reservations of 1-3 lines over {skus} SKUs, {concurrency} at a time, "
        "through `InventoryService.reserve` (row locks, outbox rows, one transaction each); "
        f"median of {rounds} rounds after a warm-up.",
        "",
        "| store | median reservations/s | rounds |",
        "|---|---:|---|",
    ]
    for label, values in rows:
        if values is None:
            lines.append(f"| {label} | unreachable | |")
        else:
            each = ", ".join(f"{v:.0f}" for v in values)
            lines.append(f"| {label} | {statistics.median(values):.0f} | {each} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reservations", type=int, default=200)
    parser.add_argument("--skus", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    report = asyncio.run(main(args.rounds, args.reservations, args.skus, args.concurrency))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(report)
