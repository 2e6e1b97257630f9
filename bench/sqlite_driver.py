"""SQLite inline on the event loop vs aiosqlite's worker thread: CPU per consumer transaction.

Usage: ``python -m bench.sqlite_driver [--rounds 6 --transactions 400 --concurrency 4]``
(about a minute). Writes bench/results/sqlite-driver.md and prints it.

One process, one SQLite file per mode, the chassis ``Database`` with
``sqlite_inline`` on and off. Each transaction has the shape of a saga reply
in a consumer: claim the message id in the inbox, read a row, update it, add
an event to the outbox, commit; ``--concurrency`` of them run at once, as a
consumer's fetched batch does. Rounds alternate the two modes, so a shared
machine's noise falls on both; reported: the process's CPU (user + system,
all threads) and the wall time per transaction, median over rounds.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import stop_on_sigterm
from bench.checkout import load_average
from emporium.chassis.db import Database
from emporium.chassis.messaging import Outbox, make_inbox_table, make_outbox_table
from emporium.chassis.messaging.inbox import Inbox
from emporium.contracts.catalog import ProductCreated
from emporium.contracts.money import Money

RESULTS = Path(__file__).parent / "results" / "sqlite-driver.md"


async def _database(path: Path, inline: bool) -> tuple[Database[Any], sa.Table, Inbox]:
    metadata = sa.MetaData()
    outbox_table = make_outbox_table(metadata)
    inbox = Inbox(make_inbox_table(metadata))
    items = sa.Table(
        "items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    database: Database[Any] = Database(
        f"sqlite+aiosqlite:///{path}",
        metadata=metadata,
        publisher=Outbox(table=outbox_table),
        sqlite_inline=inline,
    )
    await database.create_all()
    async with database.unit_of_work() as uow:
        await uow.session.execute(sa.insert(items), [{"id": i, "count": 0} for i in range(100)])
        await uow.commit()
    return database, items, inbox


async def _round(database: Database[Any], items: sa.Table, inbox: Inbox, n: int, c: int) -> None:
    gate = asyncio.Semaphore(c)

    async def one(i: int) -> None:
        async with gate, database.unit_of_work() as uow:
            await inbox.claim(uow.session, "bench.ProductCreated", uuid.uuid4())
            row = items.c.id == i % 100
            await uow.session.execute(sa.select(items.c.count).where(row))
            await uow.session.execute(sa.update(items).where(row).values(count=items.c.count + 1))
            await uow.publish(
                ProductCreated(
                    product_id=uuid.uuid4(), sku=f"S{i}", name="x", price=Money(amount=1)
                )
            )
            await uow.commit()

    await asyncio.gather(*(one(i) for i in range(n)))


async def measure(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    work = Path(tempfile.mkdtemp(prefix="emp-sqlite-"))
    stores = {
        "inline": await _database(work / "inline.db", True),
        "thread": await _database(work / "thread.db", False),
    }
    found: dict[str, dict[str, list[float]]] = {m: {"cpu": [], "wall": []} for m in stores}
    for database, items, inbox in stores.values():  # warm-up
        await _round(database, items, inbox, 50, args.concurrency)
    for index in range(args.rounds * 2):
        mode = ("inline", "thread")[(index + index // 2) % 2]  # ABBA order
        database, items, inbox = stores[mode]
        cpu, wall = time.process_time(), time.perf_counter()
        await _round(database, items, inbox, args.transactions, args.concurrency)
        found[mode]["cpu"].append((time.process_time() - cpu) / args.transactions * 1e6)
        found[mode]["wall"].append((time.perf_counter() - wall) / args.transactions * 1e6)
    for database, _, _ in stores.values():
        await database.dispose()
    shutil.rmtree(work, ignore_errors=True)
    return found


def report(found: dict[str, dict[str, list[float]]], args: argparse.Namespace, load: str) -> str:
    cpu = {m: statistics.median(v["cpu"]) for m, v in found.items()}
    wall = {m: statistics.median(v["wall"]) for m, v in found.items()}
    lines = [
        "# SQLite on the event loop's thread vs aiosqlite's worker thread",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; nproc: {os.cpu_count()}; load "
        f"average at start {load}, at end {load_average()} (shared machine)",
        f"- command: `{' '.join(['python -m bench.sqlite_driver', *sys.argv[1:]])}`",
        f"- {args.rounds} rounds per mode, alternating (ABBA); {args.transactions} consumer-shaped "
        f"transactions per round (inbox claim, select, update, outbox insert, commit), "
        f"{args.concurrency} at a time",
        "",
        "| mode | CPU µs per transaction, median (min-max) | wall µs per transaction, median |",
        "|---|---:|---:|",
    ]
    for mode, values in found.items():
        lines.append(
            f"| {mode} | {cpu[mode]:.0f} ({min(values['cpu']):.0f}-{max(values['cpu']):.0f}) "
            f"| {wall[mode]:.0f} |"
        )
    lines += [
        "",
        f"inline / thread CPU: **{cpu['inline'] / cpu['thread']:.2f}**; "
        f"wall: {wall['inline'] / wall['thread']:.2f}",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--transactions", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    load = load_average()
    text = report(asyncio.run(measure(args)), args, load)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
