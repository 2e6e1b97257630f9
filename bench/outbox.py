"""Outbox to consumer: latency from a business commit to the consumer's committed effect.

Usage: ``python -m bench.outbox [--rate 500 --duration 10]`` (defaults shown; about
30 s). Writes bench/results/outbox.md and prints it. Runs on loopback and stops by
itself.

Two processes, as in the system: a producer and a consumer, each with its own
SQLite store and the chassis ``Messaging`` (outbox, relay, inbox) on an embedded
NATS JetStream started on a free port. The producer commits, open loop at
``--rate`` per second, one unit of work per event: a business row and the event
in the outbox (``ProductCreated``), and notes when the commit returned. Its relay
publishes; the consumer's handler inserts an effect row in the transaction that
records the inbox row, and notes when that transaction committed. Latency =
effect committed - business committed (one machine, one wall clock).
Each process freezes what it imported before it starts, as a service forked
from the fork server starts with it frozen (since session 13; before, a full
collection of the imports paused either process for about 64 ms).
The CPU each process used comes from /proc (utime + stime): the producer's
includes its load generator and relay, the consumer's the time it waits after
the last effect (little), NATS's the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import subprocess
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
from emporium.chassis import ChassisSettings
from emporium.chassis.db import Database, UnitOfWork
from emporium.chassis.messaging import Messaging, make_inbox_table, make_outbox_table
from emporium.contracts.catalog import ProductCreated
from emporium.contracts.money import Money
from emporium.launcher.nats import EmbeddedNats
from emporium.loadgen import OpenLoop, percentile

RESULTS = Path(__file__).parent / "results" / "outbox.md"
P99_GOAL_MS = 20.0
TICKS = os.sysconf("SC_CLK_TCK")


def _tables(metadata: sa.MetaData) -> sa.Table:
    make_outbox_table(metadata)
    make_inbox_table(metadata)
    return sa.Table(
        "rows",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False),
    )


def _chassis(*names: str) -> dict[str, Any]:
    """The settings a service would pass, as far as this version of the chassis has them
    (the bench also runs against older source, for a 'before')."""
    settings = ChassisSettings()
    return {name: getattr(settings, name) for name in names if hasattr(settings, name)}


async def open_store(path: Path) -> tuple[Database[Any], sa.Table]:
    """A SQLite store as a service's: the outbox, the inbox and one table of effect rows."""
    metadata = sa.MetaData()
    rows = _tables(metadata)
    database: Database[Any] = Database(
        f"sqlite+aiosqlite:///{path}", metadata=metadata, **_chassis("sqlite_inline")
    )
    await database.create_all()
    return database, rows


def _messaging(url: str, namespace: str, service: str, database: Database[Any], **kw: Any) -> Any:
    options = _chassis("outbox_poll_seconds", "consumer_lag_seconds", "broker_pull_wait_seconds")
    if options:
        kw.update(
            poll_interval=options["outbox_poll_seconds"],
            lag_interval=options["consumer_lag_seconds"],
            pull_wait=options["broker_pull_wait_seconds"],
        )
    return Messaging(
        url,
        service=service,
        database=database,
        namespace=namespace,
        outbox_table=database.metadata.tables["outbox"],
        inbox_table=database.metadata.tables["inbox"],
        **kw,
    )


# ------------------------------------------------------------------------ consumer


def _as_forked() -> None:
    """Freeze what this process has imported, as the fork server does before it
    forks a service (decision 0025): a full collection then walks what a
    service's would, the objects made since, not the ~120,000 of the imports
    (64 ms a collection, measured; a busy service's own take 2-17 ms)."""
    gc.collect()
    gc.freeze()


async def consume(url: str, namespace: str, store: Path, expected: int, bound: float) -> None:
    _as_forked()
    database, rows = await open_store(store)
    done: dict[str, float] = {}
    finished = asyncio.Event()

    async def on_product(message: ProductCreated, uow: UnitOfWork) -> None:
        await uow.session.execute(sa.insert(rows).values(message_id=str(message.id)))
        sync = uow.session.sync_session
        message_id = str(message.id)

        def committed(_session: Any) -> None:
            done[message_id] = time.time()
            if len(done) >= expected:
                finished.set()

        sa.event.listen(sync, "after_commit", committed, once=True)

    messaging = _messaging(
        url, namespace, "bench-consumer", database, handlers={ProductCreated: on_product}
    )
    await messaging.start()
    cpu_at_ready = cpu_seconds(os.getpid())
    print("ready", flush=True)
    try:
        await asyncio.wait_for(finished.wait(), timeout=bound)
    except TimeoutError:
        pass
    finally:
        await messaging.stop()
        await database.dispose()
    cpu = cpu_seconds(os.getpid()) - cpu_at_ready
    print(json.dumps({"effects": done, "cpu": cpu}), flush=True)


# ------------------------------------------------------------------------ producer


async def produce(url: str, namespace: str, store: Path, rate: float, count: int) -> dict[str, Any]:
    _as_forked()
    database, rows = await open_store(store)
    messaging = _messaging(url, namespace, "bench-producer", database)
    database.publisher = messaging.outbox
    await messaging.start()
    committed: dict[str, float] = {}

    async def one(index: int, _intended: float) -> None:
        event = ProductCreated(
            product_id=uuid.uuid4(), sku=f"SKU-{index}", name="bench", price=Money(amount=100)
        )
        async with database.unit_of_work() as uow:
            await uow.session.execute(sa.insert(rows).values(message_id=str(event.id)))
            await uow.publish(event)
            await uow.commit()
        committed[str(event.id)] = time.time()

    loop: OpenLoop[None] = OpenLoop(rate)
    started = time.perf_counter()
    await loop.run(count, one)
    elapsed = time.perf_counter() - started
    # Let the relay finish before stopping.
    await asyncio.sleep(1.0)
    await messaging.stop()
    await database.dispose()
    return {"committed": committed, "elapsed": elapsed, "max_lag_ms": loop.max_lag * 1000}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="emp-outbox-"))
    nats = EmbeddedNats(work / "nats")
    nats.start()
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    count = round(args.rate * args.duration)
    consumer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.outbox",
            "--consumer",
            nats.url,
            namespace,
            str(work / "consumer.db"),
            str(count),
            str(args.duration + 60),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert consumer.stdout is not None
        if consumer.stdout.readline().strip() != "ready":
            raise RuntimeError("the consumer did not start")
        producer_cpu, nats_cpu = cpu_seconds(os.getpid()), cpu_seconds(nats_pid(nats))
        produced = asyncio.run(produce(nats.url, namespace, work / "producer.db", args.rate, count))
        producer_cpu = cpu_seconds(os.getpid()) - producer_cpu
        nats_cpu = cpu_seconds(nats_pid(nats)) - nats_cpu
        out, _ = consumer.communicate(timeout=args.duration + 90)
        consumed = json.loads(out.strip().splitlines()[-1])
        effects: dict[str, float] = consumed["effects"]
        cpu = {"producer": producer_cpu, "consumer": float(consumed["cpu"]), "nats": nats_cpu}
    finally:
        if consumer.poll() is None:
            consumer.kill()
        nats.stop()
        shutil.rmtree(work, ignore_errors=True)
    committed: dict[str, float] = produced["committed"]
    latencies = [(effects[m] - at) * 1000 for m, at in committed.items() if m in effects]
    return {
        "count": count,
        "committed": len(committed),
        "effects": len(effects),
        "missing": len(set(committed) - set(effects)),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=float("nan")),
        "elapsed": produced["elapsed"],
        "max_lag_ms": produced["max_lag_ms"],
        "cpu": cpu,
    }


def nats_pid(nats: EmbeddedNats) -> int:
    return int(nats.pid_file.read_text().split()[0])


def report(result: dict[str, Any], args: argparse.Namespace, started: datetime, load: str) -> str:
    met = result["missing"] == 0 and result["p99"] <= P99_GOAL_MS
    cpu = result["cpu"]
    per_event = {k: v / max(result["committed"], 1) * 1e6 for k, v in cpu.items()}
    return "\n".join(
        [
            "# Outbox to consumer effect latency",
            "",
            f"- date: {started:%Y-%m-%d %H:%M} UTC; nproc: {os.cpu_count()}; load average at "
            f"start {load}, at end {load_average()} (shared machine)",
            f"- command: `{' '.join(['python -m bench.outbox', *sys.argv[1:]])}`",
            f"- {args.rate:g} events/s for {args.duration:g} s, open loop; producer and "
            "consumer are separate processes, each with its own SQLite store and the chassis "
            "Messaging (outbox + relay, inbox) on an embedded NATS JetStream",
            "- latency: the consumer's effect transaction committed - the producer's business "
            "transaction committed (wall clock, one machine)",
            "",
            "| events | effects | missing | p50 ms | p99 ms | max ms | producer late max ms "
            "| goal p99 <= 20 ms |",
            "|---:|---:|---:|---:|---:|---:|---:|---|",
            f"| {result['committed']} | {result['effects']} | {result['missing']} "
            f"| {result['p50']:.1f} | {result['p99']:.1f} | {result['max']:.1f} "
            f"| {result['max_lag_ms']:.0f} | {'met' if met else 'not met'} |",
            "",
            "CPU per event (µs): "
            + ", ".join(f"{k} {v:.0f}" for k, v in per_event.items())
            + f"; total {sum(per_event.values()):.0f}",
            "",
        ]
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--consumer":
        url, namespace, store, expected, bound = sys.argv[2:7]
        asyncio.run(consume(url, namespace, Path(store), int(expected), float(bound)))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500.0, help="events/s")
    parser.add_argument("--duration", type=float, default=10.0, help="s")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    started, load = datetime.now(UTC), load_average()
    result = run(args)
    text = report(result, args, started, load)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
