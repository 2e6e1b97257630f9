"""One relay batch against an outbox that holds a day of published rows.

Usage: ``python -m bench.relay_claim [--published 100000 --batches 40 --rows 10
--url sqlite]`` (defaults shown; under a minute). Writes
bench/results/relay-claim.md and prints it.

The outbox keeps published rows for its retention (a day), so at a steady
20 events/s it holds about 1.7 million rows. Each relay batch claims the
newest unpublished rows, publishes them and marks them. This fills one
outbox with ``--published`` published rows, then times ``--batches`` batches
of ``--rows`` new rows each (a no-op publish: the broker is not what is
measured): CPU of this process and wall time per batch, medians. ``--url``
takes a PostgreSQL or MariaDB URL instead of a fresh SQLite file (inline on
the event loop, as the services run it); the table is dropped afterwards.

The relay is whatever ``emporium`` the interpreter imports, so a before and
after is two runs, the older source first on ``PYTHONPATH``.
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
from emporium.chassis.messaging import Outbox, OutboxRelay, make_outbox_table
from emporium.chassis.messaging.envelope import Envelope
from emporium.contracts.catalog import ProductCreated
from emporium.contracts.money import Money

RESULTS = Path(__file__).parent / "results" / "relay-claim.md"


def _random_id(dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "sqlite":
        return sa.func.lower(sa.func.hex(sa.func.randomblob(16)))
    if dialect == "postgresql":
        return sa.func.md5(sa.cast(sa.func.random(), sa.Text))
    return sa.func.uuid()  # MariaDB


async def _fill(database: Database[Any], table: sa.Table, count: int) -> None:
    """``count`` published rows: a few by the outbox, then doubled in SQL."""
    outbox = Outbox(table=table)
    async with database.unit_of_work() as uow:
        for n in range(min(count, 100)):
            await outbox.add(uow.session, _event(f"old-{n}"))
        await uow.commit()
    columns = ["subject", "type", "payload", "headers", "created_at", "attempts"]
    while True:
        async with database.unit_of_work() as uow:
            have = (await uow.session.execute(sa.select(sa.func.count()).select_from(table))).one()
            missing = count - have[0]
            if missing <= 0:
                await uow.session.execute(sa.update(table).values(published_at=sa.func.now()))
                await uow.commit()
                return
            copied = sa.select(
                _random_id(database.dialect), *(table.c[name] for name in columns)
            ).limit(missing)
            await uow.session.execute(
                sa.insert(table).from_select(["message_id", *columns], copied)
            )
            await uow.commit()


def _event(sku: str) -> ProductCreated:
    return ProductCreated(product_id=uuid.uuid4(), sku=sku, name="bench", price=Money(amount=100))


async def _measure(url: str, published: int, batches: int, rows: int) -> dict[str, Any]:
    metadata = sa.MetaData()
    table = make_outbox_table(metadata, f"outbox_bench_{uuid.uuid4().hex[:8]}")
    database: Database[Any] = Database(url, metadata=metadata)
    await database.create_all()
    try:
        await _fill(database, table, published)

        async def publish(_envelope: Envelope) -> None:
            return None

        relay = OutboxRelay(database, publish, table=table, batch_size=rows)
        outbox = Outbox(table=table)
        cpu: list[float] = []
        wall: list[float] = []
        for batch in range(batches):
            async with database.unit_of_work() as uow:
                for n in range(rows):
                    await outbox.add(uow.session, _event(f"new-{batch}-{n}"))
                await uow.commit()
            started_cpu, started = time.process_time(), time.perf_counter()
            sent = await relay.run_once()
            cpu.append(1e6 * (time.process_time() - started_cpu))
            wall.append(1e3 * (time.perf_counter() - started))
            if sent != rows:
                raise RuntimeError(f"batch {batch}: the relay published {sent} of {rows}")
    finally:
        async with database.engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)
        await database.dispose()
    return {"cpu": cpu, "wall": wall, "dialect": database.dialect}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--url", default="sqlite")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    load = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="relay-claim-"))
    url = f"sqlite+aiosqlite:///{workdir / 'outbox.db'}" if args.url == "sqlite" else args.url
    try:
        found = asyncio.run(_measure(url, args.published, args.batches, args.rows))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    source = os.environ.get("PYTHONPATH") or "this checkout"
    text = "\n".join(
        [
            "# One relay batch against an outbox of published rows",
            "",
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; nproc {os.cpu_count()}; "
            f"load average at start {load}",
            f"- command: `python -m bench.relay_claim --published {args.published} "
            f"--batches {args.batches} --rows {args.rows}` on {found['dialect']}; "
            f"emporium from {source}",
            "",
            "| published rows | rows per batch | CPU µs per batch (median) | wall ms (median) |",
            "|---:|---:|---:|---:|",
            f"| {args.published:,} | {args.rows} | {statistics.median(found['cpu']):,.0f} "
            f"| {statistics.median(found['wall']):.2f} |",
            "",
        ]
    )
    args.output.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
