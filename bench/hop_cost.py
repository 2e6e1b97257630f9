"""What one saga hop costs on this stack, layer by layer: the floor under checkout's CPU.

Usage: ``python -m bench.hop_cost [--rounds 5 --count 400]`` (about a minute).
Writes bench/results/hop-cost.md and prints it. Runs on loopback and stops by itself.

A checkout is a chain of hops: a service commits a change with a message in its
outbox, the relay publishes it, another service consumes it in a transaction
with its inbox row. This measures, in one process and with rounds alternating so
a shared machine's noise falls on every row alike, the CPU of each layer a hop
goes through, and the same work done with the least code that could do it:

- the store: a consumer's transaction (inbox row, one effect row, commit) on
  Python's ``sqlite3`` directly, then through the chassis (SQLAlchemy's async
  session on the inline SQLite connection the services use), then with one
  message added to the outbox as a consumer that answers does;
- the broker: one message published to JetStream (acknowledgement awaited) and
  consumed by a durable pull consumer and acknowledged, one at a time (a
  checkout's hops are sequential), first with ``nats-py`` directly, then
  through the chassis transport (FastStream) with a consumer that does nothing
  but acknowledge. The embedded NATS runs in its own process and its CPU is
  counted too.

CPU is ``time.process_time()`` for this process and /proc utime + stime for
the NATS server, per operation, median over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import sqlalchemy as sa
from nats.js import api

from bench import stop_on_sigterm
from bench.checkout import load_average
from bench.outbox import cpu_seconds, open_store
from emporium.chassis.db import Database
from emporium.chassis.messaging import Outbox
from emporium.chassis.messaging._nats import NatsTransport
from emporium.chassis.messaging.consumer import Ack, ConsumerSpec, Delivery
from emporium.chassis.messaging.envelope import encode
from emporium.chassis.messaging.inbox import Inbox
from emporium.contracts.catalog import ProductCreated
from emporium.contracts.money import Money
from emporium.launcher.nats import EmbeddedNats

RESULTS = Path(__file__).parent / "results" / "hop-cost.md"
Operation = Callable[[], Awaitable[None]]
Results = dict[str, dict[str, list[float]]]  # operation -> process/server -> µs per round

# What one checkout took in session 13's run (bench.checkout at 12/s, 300
# orders; rows counted in every service's outbox and inbox afterwards).
PUBLISHED_PER_CHECKOUT = 14.6
CONSUMED_PER_CHECKOUT = 14


def _product() -> ProductCreated:
    return ProductCreated(
        product_id=uuid.uuid4(), sku="SKU-1", name="Teapot", price=Money(amount=1999)
    )


# ------------------------------------------------------------------------ the store


def _raw_sqlite(path: Path) -> Operation:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE inbox (consumer TEXT, message_id TEXT, processed_at TEXT,"
        " PRIMARY KEY (consumer, message_id))"
    )
    connection.execute("CREATE TABLE effects (id INTEGER PRIMARY KEY, message_id TEXT)")

    async def operation() -> None:
        message_id = str(uuid.uuid4())
        connection.execute("BEGIN")
        connection.execute(
            "INSERT INTO inbox VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            ("bench", message_id, datetime.now(UTC).isoformat()),
        )
        connection.execute("INSERT INTO effects (message_id) VALUES (?)", (message_id,))
        connection.execute("COMMIT")

    return operation


async def _chassis_store(path: Path) -> tuple[Database[Any], Operation, Operation]:
    # bench.outbox's store: the chassis outbox and inbox tables and one effect table.
    database, effects = await open_store(path)
    inbox = Inbox(database.metadata.tables["inbox"])
    outbox = Outbox(table=database.metadata.tables["outbox"])
    insert_effect = sa.insert(effects)

    async def consume(*, answer: bool) -> None:
        message_id = uuid.uuid4()
        async with database.unit_of_work() as uow:
            await inbox.claim(uow.session, "bench", message_id)
            await uow.session.execute(insert_effect, {"message_id": str(message_id)})
            if answer:
                await outbox.add(uow.session, _product())
            await uow.commit()

    async def effect_only() -> None:
        await consume(answer=False)

    async def effect_and_answer() -> None:
        await consume(answer=True)

    return database, effect_only, effect_and_answer


# ------------------------------------------------------------------------ the broker


async def _raw_nats(
    url: str, namespace: str
) -> tuple[Operation, Operation, Callable[[], Awaitable[None]]]:
    client = await nats.connect(url)
    js = client.jetstream()
    subject, unread = f"raw-{namespace}.hop", f"raw-{namespace}.unread"
    await js.add_stream(api.StreamConfig(name=f"{namespace}-raw", subjects=[subject, unread]))
    subscription = await js.pull_subscribe(subject, durable=f"{namespace}-raw")
    payload = encode(_product()).payload

    async def hop() -> None:
        await js.publish(subject, payload, timeout=5)
        (message,) = await subscription.fetch(1, timeout=5)
        await message.ack()

    async def publish() -> None:
        await js.publish(unread, payload, timeout=5)

    return hop, publish, client.close


class _AckOnly:
    """What the transport calls for each delivery: acknowledge, nothing else."""

    def __init__(self, spec: ConsumerSpec) -> None:
        self.spec = spec
        self.received = asyncio.Event()

    async def process(self, delivery: Delivery) -> Ack:
        self.received.set()
        return Ack()


async def _chassis_nats(
    url: str, namespace: str
) -> tuple[Operation, Operation, Callable[[], Awaitable[None]]]:
    transport = NatsTransport(url, namespace=namespace, pull_wait=5.0)
    await transport.connect()
    consumer = _AckOnly(ConsumerSpec("bench", ProductCreated, namespace))
    transport.add_consumer(consumer)  # type: ignore[arg-type]
    await transport.start_consumers()

    async def hop() -> None:
        consumer.received.clear()
        await transport.publish(encode(_product(), namespace=namespace))
        await asyncio.wait_for(consumer.received.wait(), 5)

    async def publish() -> None:
        # A subject in the stream that no consumer reads, as for OrderPlaced.
        envelope = encode(_product(), namespace=namespace)
        await transport.publish(replace(envelope, subject=f"{namespace}.unread.hop"))

    return hop, publish, transport.close


# ------------------------------------------------------------------------ measuring


async def _measure(rounds: int, count: int, workdir: Path, server: EmbeddedNats) -> Results:
    database, effect_only, effect_and_answer = await _chassis_store(workdir / "chassis.db")
    namespace = f"hop{uuid.uuid4().hex[:8]}"
    raw_hop, raw_publish, close_raw = await _raw_nats(server.url, namespace)
    chassis_hop, chassis_publish, close_chassis = await _chassis_nats(server.url, namespace)
    operations: dict[str, Operation] = {
        "store: sqlite3 directly": _raw_sqlite(workdir / "raw.db"),
        "store: chassis unit of work": effect_only,
        "store: chassis unit of work + one outbox message": effect_and_answer,
        "broker: publish and consume, nats-py directly": raw_hop,
        "broker: publish and consume, chassis transport (FastStream)": chassis_hop,
        "broker: publish only, nats-py directly": raw_publish,
        "broker: publish only, chassis transport (FastStream)": chassis_publish,
    }
    pid = server.process.pid if server.process is not None else 0
    results: Results = {name: {"process": [], "server": []} for name in operations}
    try:
        for operation in operations.values():  # warm up: caches, compiled statements
            for _ in range(20):
                await operation()
        for _ in range(rounds):
            for name, operation in operations.items():
                server_before, started = cpu_seconds(pid), time.process_time()
                for _ in range(count):
                    await operation()
                results[name]["process"].append(1e6 * (time.process_time() - started) / count)
                results[name]["server"].append(1e6 * (cpu_seconds(pid) - server_before) / count)
    finally:
        await close_chassis()
        await close_raw()
        await database.dispose()
    return results


def report(
    results: Results,
    args: argparse.Namespace,
    load: str,
    started: datetime,
) -> str:
    median: dict[str, tuple[float, float]] = {
        name: (statistics.median(v["process"]), statistics.median(v["server"]))
        for name, v in results.items()
    }
    lines = [
        "# What one hop costs, layer by layer",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; nproc {os.cpu_count()}; load average at "
        f"start {load}, at end {load_average()}",
        f"- command: `python -m bench.hop_cost --rounds {args.rounds} --count {args.count}`",
        f"- {args.count} operations per round, {args.rounds} rounds, rows alternating; "
        "one process (SQLite files on local disk, WAL, synchronous=NORMAL) and the "
        "embedded NATS (JetStream, file storage) in its own process",
        "",
        "| operation | CPU µs, this process (median) | NATS server µs | rounds (this process) |",
        "|---|---:|---:|---|",
    ]
    for name, values in results.items():
        rounds = ", ".join(f"{v:.0f}" for v in values["process"])
        process, server = median[name]
        server_cell = f"{server:.0f}" if name.startswith("broker") else "-"
        lines.append(f"| {name} | {process:.0f} | {server_cell} | {rounds} |")
    raw_store = median["store: sqlite3 directly"][0]
    chassis_store = median["store: chassis unit of work"][0]
    outbox_row = median["store: chassis unit of work + one outbox message"][0] - chassis_store

    def broker(kind: str, way: str) -> float:
        return sum(median[f"broker: {kind}, {way}"])

    consumed, published = CONSUMED_PER_CHECKOUT, PUBLISHED_PER_CHECKOUT
    costs = {}
    for way, store, row in (
        ("chassis transport (FastStream)", chassis_store, outbox_row),
        ("nats-py directly", raw_store, 0.0),
    ):
        publish = broker("publish only", way)
        consume = broker("publish and consume", way) - publish
        total = (published * (row + publish) + consumed * (store + consume)) / 1000
        costs[way] = (publish, consume, store, row, total)
    lines += [
        "",
        f"A checkout is {published:g} messages published and {consumed} consumed "
        "(session 13: every service's outbox and inbox rows after 300 checkouts). "
        "Those hops alone, with no business logic, no HTTP, no logging and no tracing, "
        "cost at least (publish: the publishing process and NATS; consume: the rest of "
        "a publish-and-consume, both processes):",
        "",
    ]
    for way, label in (
        ("chassis transport (FastStream)", "on the chassis as it is"),
        ("nats-py directly", "with the least code (sqlite3 and nats-py; the outbox row free)"),
    ):
        publish, consume, store, row, total = costs[way]
        lines.append(
            f"- {label}: {published:g} x ({row:.0f} outbox row + {publish:.0f} publish) + "
            f"{consumed} x ({store:.0f} transaction + {consume:.0f} consume) µs = "
            f"**{total:.1f} ms**"
        )
    lines.append("")
    return "\n".join(lines)


async def _run(args: argparse.Namespace, workdir: Path) -> Results:
    server = EmbeddedNats(workdir / "nats")
    server.start()
    try:
        return await _measure(args.rounds, args.count, workdir, server)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=400, help="operations per round")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    load, started = load_average(), datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="hop-cost-"))
    try:
        results = asyncio.run(_run(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = report(results, args, load, started)
    args.output.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
