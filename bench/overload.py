"""Checkout at about twice the sustainable rate: accepted orders complete, the rest fail fast.

Usage: ``python -m bench.overload [--rate 20 --duration 30 --gateway-port 28080]``
(about three minutes). Writes bench/results/overload.md and prints it. Loopback
only; the system it starts (``emporium up --detach`` on its own var dir and
gateway port) is stopped at the end. ``--control`` starts the system with
overload control off (no adaptive limits, no saga admission), for comparison.

Users are prepared untimed first (bench.checkout's helpers: one user and cart
per checkout). Then an open loop: checkout *i* is due at ``i / rate`` s and is
sent then, whatever the earlier ones are doing; every latency is measured from
that intended send time, so a stalled generator or a queue in front of the
gateway counts against the system (no coordinated omission). No polling during
the load: afterwards the orders are read once through the admin list, and:

- accepted (202) vs refused (503, with or without ``Retry-After``) vs other;
- accepted orders CANCELLED for TIMEOUT (the goal: none) and their saga time
  (history PENDING -> CONFIRMED), with POST p99 of accepted checkouts;
- time to the 503 for refused ones (p50/p99; the goal: p99 <= 50 ms), from the
  intended and from the actual send time, by the layer that refused (gateway
  limit, orders' limit, saga backlog), and each process's own time handling
  them from its access log (what a refusal costs once the process gets to it);
- that no refused request created an order (each refused user's own list is empty);
- recovery: after the load stops, one checkout every 500 ms for 10 s; the
  time from the end of the load to the last one not accepted (the goal: <= 5 s);
- ``emporium audit --json``;
- how long any process waited for a CPU meanwhile (a process beside the load
  that sleeps 5 ms at a time, and how late it wakes): the floor under every
  hop a refusal makes on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench import stop_on_sigterm
from bench._load import percentile
from bench.checkout import (
    ADDRESS,
    ADMIN,
    CARD,
    User,
    admin_restock,
    cli,
    load_average,
    prepare_users,
    products,
    run_audit,
    saga_seconds,
    up,
)

RESULTS = Path(__file__).parent / "results" / "overload.md"
REFUSAL_P99_GOAL_MS = 50.0
RECOVERY_GOAL_S = 5.0
# Recovery probes: ordinary traffic, well under what the system sustains.
PROBE_INTERVAL = 0.5
PROBE_SECONDS = 10.0
CONTROL_ENV = {
    "EMPORIUM_OVERLOAD_ENABLED": "false",
    "EMPORIUM_ORDERS_SAGA_ADMISSION_BUDGET_SECONDS": "0",
}


@dataclass
class Attempt:
    user: User
    due: float  # intended send time (perf_counter)
    status: int = 0  # 0: no answer
    latency: float = 0.0  # from the intended send time
    sent: float = 0.0  # when it was actually sent (perf_counter)
    answered: float = 0.0
    retry_after: bool = False
    problem: bool = False
    order_id: str = ""
    error: str = ""
    refused_by: str = ""

    @property
    def service_time(self) -> float:
        """From the actual send to the answer (the generator's own lateness left out)."""
        return self.answered - self.sent


async def attempt(session: aiohttp.ClientSession, gateway: str, a: Attempt) -> None:
    headers = {**a.user.headers, "Idempotency-Key": str(uuid.uuid4())}
    body = {"shipping_address": ADDRESS, "payment": CARD}
    a.sent = time.perf_counter()
    try:
        async with session.post(f"{gateway}/api/orders", json=body, headers=headers) as r:
            payload = await r.json(content_type=None)
            a.answered = time.perf_counter()
            a.latency = a.answered - a.due
            a.status = r.status
            a.retry_after = "Retry-After" in r.headers
            a.problem = r.headers.get("Content-Type", "").startswith("application/problem+json")
            if r.status == 202:
                a.order_id = str(payload["id"])
            elif r.status == 503 and isinstance(payload, dict):
                a.refused_by = refused_by(str(payload.get("detail", "")))
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        a.answered = time.perf_counter()
        a.latency = a.answered - a.due
        a.error = type(exc).__name__


def refused_by(detail: str) -> str:
    """Which layer refused, from the problem's detail."""
    if detail.startswith("gateway is at capacity"):
        return "gateway: adaptive limit (orders write)"
    if "refused the request on its behalf" in detail:
        return "gateway: orders' reported saga backlog"
    if "requests in progress already" in detail:
        return "gateway: bulkhead"
    if detail.startswith("orders is at capacity"):
        return "orders: adaptive limit (checkout)"
    if detail.startswith("Checkout is at capacity"):
        return "orders: saga backlog"
    return f"other: {detail[:50]}"


async def open_loop(
    session: aiohttp.ClientSession, gateway: str, users: list[User], rate: float
) -> tuple[list[Attempt], float]:
    """Send one checkout per user at ``rate``/s; the attempts and the worst lateness (s)."""
    attempts: list[Attempt] = []
    tasks: list[asyncio.Task[None]] = []
    lag = 0.0
    began = time.perf_counter()
    for index, user in enumerate(users):
        due = began + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, time.perf_counter() - due)
        attempts.append(Attempt(user, due))
        tasks.append(asyncio.create_task(attempt(session, gateway, attempts[-1])))
    await asyncio.gather(*tasks)
    return attempts, lag


# A process that only sleeps 5 ms at a time, beside the load: how late it wakes
# is what any process on this machine waits for a CPU, the floor under every
# hop a refusal makes (client, gateway, perhaps orders).
_WAKE_PROBE = """
import sys, time
late, end = [], time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    t = time.perf_counter(); time.sleep(0.005); late.append(time.perf_counter() - t - 0.005)
late.sort()
print(late[len(late) // 2], late[min(len(late) - 1, int(len(late) * 0.99))])
"""


async def wake_latency(seconds: float) -> tuple[float, float]:
    """p50 and p99 (s) of how late a sleeping process wakes on this machine meanwhile."""
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WAKE_PROBE, str(seconds), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await probe.communicate()
    p50, p99 = out.split()
    return float(p50), float(p99)


async def admin_headers(session: aiohttp.ClientSession, gateway: str) -> dict[str, str]:
    # Once: logins are rate limited per address and email (5, then 1 per 10 s).
    async with session.post(f"{gateway}/api/identity/token", json=ADMIN) as r:
        r.raise_for_status()
        return {"Authorization": f"Bearer {(await r.json())['access_token']}"}


async def all_orders(
    session: aiohttp.ClientSession, gateway: str, admin: dict[str, str]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    while True:
        url = f"{gateway}/api/orders?scope=all&limit=500&offset={len(found)}"
        async with session.get(url, headers=admin) as r:
            page = await r.json()
        found.update({o["id"]: o for o in page["items"]})
        if not page["items"] or len(found) >= page["total"]:
            return found


async def settle(
    session: aiohttp.ClientSession, gateway: str, ids: set[str], bound: float
) -> dict[str, dict[str, Any]]:
    """The orders ``ids`` once none is PENDING (or after ``bound`` s)."""
    give_up = time.monotonic() + bound
    admin = await admin_headers(session, gateway)
    while True:
        orders = {i: o for i, o in (await all_orders(session, gateway, admin)).items() if i in ids}
        if time.monotonic() > give_up or all(o["status"] != "PENDING" for o in orders.values()):
            return orders
        await asyncio.sleep(1.0)


async def created_by(session: aiohttp.ClientSession, gateway: str, users: list[User]) -> int:
    """How many orders the given users own (each placed at most one)."""
    gate = asyncio.Semaphore(8)

    async def one(user: User) -> int:
        for _ in range(60):  # a busy system may shed the read too: ask again
            async with gate, session.get(f"{gateway}/api/orders", headers=user.headers) as r:
                if r.status == 200:
                    return int((await r.json())["total"])
            await asyncio.sleep(0.5)
        raise RuntimeError("could not list a refused user's orders")

    return sum(await asyncio.gather(*(one(u) for u in users)))


@dataclass
class Result:
    rate: float
    duration: float
    attempts: list[Attempt]
    lag_s: float
    orders: dict[str, dict[str, Any]]
    refused_created: int
    probes: list[Attempt]
    probe_start: float
    audit: dict[str, Any]
    wake: tuple[float, float]  # p50, p99 s: how late a sleeping process woke during the load
    handling: dict[str, list[float]] | None = None  # service -> ms handling a 503 (its log)

    def with_status(self, status: int) -> list[Attempt]:
        return [a for a in self.attempts if a.status == status]

    @property
    def recovery_s(self) -> float | None:
        """From the end of the load to the last probe not accepted (0: none); None: never."""
        failed = [p for p in self.probes if p.status != 202]
        if not failed:
            return 0.0
        if failed[-1] is self.probes[-1]:
            return None
        return failed[-1].due - self.probe_start


async def run(gateway: str, args: argparse.Namespace) -> Result:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await admin_restock(session, gateway, args.stock)
        product_ids = await products(session, gateway)
        count = round(args.rate * args.duration)
        probes_count = round(PROBE_SECONDS / PROBE_INTERVAL)
        print(f"preparing {count + probes_count} users", file=sys.stderr, flush=True)
        users = await prepare_users(session, gateway, product_ids, count + probes_count, 4)
        await asyncio.sleep(args.settle)
        print(f"open loop: {args.rate:g}/s for {args.duration:g} s", file=sys.stderr, flush=True)
        load = asyncio.create_task(open_loop(session, gateway, users[:count], args.rate))
        waking = asyncio.create_task(wake_latency(args.duration))
        # Recovery probes start when the last checkout of the load is due.
        await asyncio.sleep(max(0.0, (count - 1) / args.rate))
        probe_start = time.perf_counter()
        probes, _ = await open_loop(session, gateway, users[count:], 1 / PROBE_INTERVAL)
        attempts, lag = await load
        wake = await waking
        accepted = {a.order_id for a in [*attempts, *probes] if a.order_id}
        print(f"{len(accepted)} accepted; waiting for their sagas", file=sys.stderr, flush=True)
        orders = await settle(session, gateway, accepted, args.bound)
        refused = [a.user for a in attempts if a.status != 202]
        refused_created = await created_by(session, gateway, refused)
    return Result(
        args.rate,
        args.duration,
        attempts,
        lag,
        orders,
        refused_created,
        probes,
        probe_start,
        {},
        wake,
    )


def refusal_handling(var_dir: Path) -> dict[str, list[float]]:
    """Per service, how long it took to handle each ``POST /api/orders`` it answered
    503 (ms, from its access log): the cost of a refusal once the process runs it,
    without the time the request waited for a busy process to get to it."""
    handled: dict[str, list[float]] = {}
    for path in sorted((var_dir / "log").glob("*-[0-9]*.log")):
        with path.open(errors="replace") as lines:
            for line in lines:
                if '"emporium.access"' not in line or "POST /api/orders 503" not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                service = str(record.get("service"))
                handled.setdefault(service, []).append(float(record["duration_ms"]) / 1000)
    return handled


def ms(samples: list[float], q: float) -> str:
    return f"{percentile(samples, q) * 1000:.0f}" if samples else "-"


def report(result: Result, args: argparse.Namespace, started: datetime, load: str) -> str:
    accepted = result.with_status(202)
    refused = result.with_status(503)
    others = Counter(
        f"{a.status or a.error}" for a in result.attempts if a.status not in (202, 503)
    )
    load_orders = [result.orders[a.order_id] for a in accepted if a.order_id in result.orders]
    outcome = Counter(
        o["status"] + (f" {o['reason']}" if o.get("reason") else "") for o in load_orders
    )
    timeouts = sum(1 for o in load_orders if o.get("reason") == "TIMEOUT")
    pending = sum(1 for o in load_orders if o["status"] == "PENDING")
    sagas = [s for o in load_orders if (s := saga_seconds(o)) is not None]
    refusal_ms = [a.latency for a in refused]
    refusal_sent = [a.service_time for a in refused]
    by_layer: dict[str, list[float]] = {}
    for a in refused:
        by_layer.setdefault(a.refused_by, []).append(a.service_time)
    refusal_p99 = percentile(refusal_ms, 99) * 1000 if refused else float("nan")
    with_retry_after = sum(1 for a in refused if a.retry_after and a.problem)
    recovery = result.recovery_s
    probes_ok = sum(1 for p in result.probes if p.status == 202)
    probe_refusals = Counter(
        p.refused_by or str(p.status or p.error) for p in result.probes if p.status != 202
    )
    mode = "control: overload control OFF" if args.control else "overload control on (defaults)"
    goals = [
        ("accepted orders cancelled for TIMEOUT = 0", timeouts == 0 and pending == 0),
        (f"time to 503 p99 <= {REFUSAL_P99_GOAL_MS:.0f} ms", refusal_p99 <= REFUSAL_P99_GOAL_MS),
        ("refused requests created no order", result.refused_created == 0),
        (
            f"full service within {RECOVERY_GOAL_S:.0f} s after the load",
            recovery is not None and recovery <= RECOVERY_GOAL_S,
        ),
        ("audit clean", bool(result.audit.get("ok"))),
    ]
    lines = [
        f"# Checkout overload: {result.rate:g}/s open loop for {result.duration:g} s ({mode})",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; nproc: {os.cpu_count()}; load average at "
        f"start {load}, at end {load_average()} (shared machine: other engineers' systems "
        "and tests run at the same time)",
        f"- command: `{' '.join(['python -m bench.overload', *sys.argv[1:]])}`",
        "- one system (`emporium up --detach`, own var dir, one instance per service, "
        "SQLite, embedded NATS); each checkout its own prepared user and cart (1-2 products)",
        "- latencies from the intended send time (open loop); worst generator lateness "
        f"{result.lag_s * 1000:.0f} ms",
        "- CPU wait during the load: a process sleeping 5 ms at a time woke late by "
        f"p50 {result.wake[0] * 1000:.1f} / p99 {result.wake[1] * 1000:.0f} ms",
        "",
        "## Goals",
        "",
        "| goal | met |",
        "|---|---|",
        *(f"| {name} | {'yes' if ok else '**no**'} |" for name, ok in goals),
        "",
        "## Numbers",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| checkouts sent | {len(result.attempts)} |",
        f"| accepted (202) | {len(accepted)} ({len(accepted) / result.duration:.1f}/s) |",
        f"| refused (503) | {len(refused)} (with Retry-After + problem+json: {with_retry_after}) |",
        f"| other answers | {', '.join(f'{k}: {n}' for k, n in others.items()) or '0'} |",
        f"| POST p50 / p99, accepted (ms) | {ms([a.latency for a in accepted], 50)} / "
        f"{ms([a.latency for a in accepted], 99)} |",
        f"| time to 503 p50 / p99, refused, from the intended send time (ms) | "
        f"{ms(refusal_ms, 50)} / {ms(refusal_ms, 99)} |",
        f"| time to 503 p50 / p99, refused, from the actual send (ms) | "
        f"{ms(refusal_sent, 50)} / {ms(refusal_sent, 99)} |",
        *(
            f"| refused by {layer}: count, p50 / p99 from the actual send (ms) | "
            f"{len(times)}, {ms(times, 50)} / {ms(times, 99)} |"
            for layer, times in sorted(by_layer.items())
        ),
        *(
            f"| {service}: its access log's POST /api/orders 503s, time in the process "
            "(the gateway's include those it relayed from orders): count, p50 / p99 (ms) | "
            f"{len(times)}, {ms(times, 50)} / {ms(times, 99)} |"
            for service, times in sorted((result.handling or {}).items())
        ),
        f"| accepted orders by outcome | "
        f"{', '.join(f'{k}: {n}' for k, n in sorted(outcome.items()))} |",
        f"| accepted orders CANCELLED for TIMEOUT | {timeouts} |",
        f"| accepted orders still PENDING after {args.bound:g} s | {pending} |",
        f"| saga PENDING -> CONFIRMED p50 / p99, accepted (ms) | {ms(sagas, 50)} / "
        f"{ms(sagas, 99)} |",
        f"| orders created by refused requests | {result.refused_created} |",
        f"| recovery probes accepted (1 per {PROBE_INTERVAL * 1000:.0f} ms for "
        f"{PROBE_SECONDS:g} s after the load) | {probes_ok} / {len(result.probes)} |",
        f"| probes not accepted, by layer | "
        f"{', '.join(f'{k}: {n}' for k, n in probe_refusals.items()) or '-'} |",
        f"| recovery: load end -> last probe not accepted (s) | "
        f"{'never' if recovery is None else f'{recovery:.2f}'} |",
        f"| audit | {result.audit.get('summary')} |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=20.0, help="checkouts/s")
    parser.add_argument("--duration", type=float, default=30.0, help="s of load")
    parser.add_argument("--gateway-port", type=int, default=28080)
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout per POST")
    parser.add_argument("--bound", type=float, default=90.0, help="wait for sagas (s)")
    parser.add_argument("--settle", type=float, default=3.0, help="pause before the load (s)")
    parser.add_argument("--stock", type=int, default=10_000_000)
    parser.add_argument("--control", action="store_true", help="overload control off")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    started, load = datetime.now(UTC), load_average()
    var_dir = Path(tempfile.mkdtemp(prefix="emp-overload-"))
    gateway = f"http://127.0.0.1:{args.gateway_port}"
    try:
        up(var_dir, args.gateway_port, CONTROL_ENV if args.control else None)
        result = asyncio.run(run(gateway, args))
        result.audit = run_audit(var_dir)
        result.handling = refusal_handling(var_dir)
    finally:
        cli(var_dir, "down")
        shutil.rmtree(var_dir, ignore_errors=True)
    text = report(result, args, started, load)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
