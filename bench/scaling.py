"""How cost grows with replicas: catalog reads at 1-3 catalogs, checkout at 1-3 of
orders, inventory and payments together (issue 14).

    .venv/bin/python -m bench.scaling [--rounds 2 --duration 4 --connections 32
        --rate 8 --seconds 10 --checkout-rounds 1]

One system (``emporium up --detach``, own temporary var dir, gateway on
``EMPORIUM_GATEWAY_PORT`` or a free port), scaled in place with ``emporium
scale`` between cells, so no cell pays a restart. Cells run in rounds whose
replica order rotates, so drift from other work on the machine spreads over all
of them; the tables give medians over rounds.

- Catalog reads: ``GET /api/catalog/products/{id}`` and ``?limit=20`` through
  the gateway, closed loop (``wrk``, bench.catalog's runner and its per-process
  CPU accounting from /proc).
- Checkout: ``--rate`` checkouts/s for ``--seconds`` s, open loop
  (:class:`emporium.loadgen.OpenLoop`, bench.overload's request), each from its
  own prepared user and cart (bench.checkout's helpers); no polling during the
  load; the orders are read once they settle. Throughput is confirmed orders per
  second from the orders' own history (first PENDING to last CONFIRMED); the
  rate offered is above what one replica confirms, so overload control refuses
  the excess with 503s and the confirmed rate is the capacity.

Beside throughput, every cell gives the CPU time each service's processes spent
per request (per confirmed order for checkout), and each process's busy share of
one core during the load: that, not a guess, says what serialises a curve that
stays flat. Writes bench/results/scaling.md and scaling.png. Loopback only;
about five minutes at the defaults on the shared 2-core machine; stops what it
started. Not a test.
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
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench import stop_on_sigterm
from bench._scaling_report import REPLICAS, SAGA, Cell, chart, report
from bench.catalog import ENV as READ_ENV
from bench.catalog import UNCACHED, ensure_tools, measure
from bench.checkout import (
    CpuWindow,
    admin_restock,
    cli,
    load_average,
    prepare_users,
    processes,
    products,
    run_audit,
    saga_seconds,
    up,
)
from bench.overload import Attempt, admin_headers, all_orders, attempt
from emporium.launcher.nats import free_port
from emporium.loadgen import OpenLoop, percentile

RESULTS = Path(__file__).parent / "results" / "scaling.md"
READS = {
    "product `/{id}`": "/api/catalog/products/{id}",
    "list `?limit=20`": "/api/catalog/products?limit=20",
}
NOT_SYSTEM = {"load generator", "other processes", "machine (all)", "wall"}


def scale(var_dir: Path, services: list[str], count: int) -> None:
    result = cli(var_dir, "scale", *(f"{name}={count}" for name in services), timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"emporium scale failed:\n{result.stdout}\n{result.stderr}")
    time.sleep(2.0)  # the gateway re-reads the registry and probes the new instances


def instance_pids(var_dir: Path, services: set[str] | None = None) -> dict[str, int]:
    """'catalog-2' -> pid for every instance of ``services`` and the gateway (of every
    process of the system, launcher and broker too, for None)."""
    found: dict[str, int] = {}
    counters: dict[str, int] = defaultdict(int)
    for pid, service in sorted(processes(var_dir).items()):
        if service == "load generator":
            continue
        if services is None or service in services | {"gateway"}:
            counters[service] += 1
            found[f"{service}-{counters[service]}"] = pid
    return found


def rotated(round_: int) -> list[int]:
    shift = round_ % len(REPLICAS)
    return REPLICAS[shift:] + REPLICAS[:shift]


# ------------------------------------------------------------------------ catalog


def catalog_cells(var_dir: Path, gateway: str, args: argparse.Namespace) -> list[Cell]:
    with urllib.request.urlopen(f"{gateway}/api/catalog/products?limit=100", timeout=10) as r:
        items = json.load(r)["items"]
    product = items[len(items) // 2]["id"]
    chosen = {(name, "gateway"): gateway + path.format(id=product) for name, path in READS.items()}
    cells: list[Cell] = []
    for round_ in range(args.rounds):
        for count in rotated(round_):
            scale(var_dir, ["catalog"], count)
            pids = instance_pids(var_dir, {"catalog"})
            window = CpuWindow({pid: name for name, pid in pids.items()})
            runs = measure(chosen, 1, args.duration, args.connections, pids)
            # over both scenarios and their warm-ups
            shares = window.close()
            ours = sum(v for n, v in shares.items() if n not in NOT_SYSTEM)
            for (scenario, _), [run] in runs.items():
                per_instance = {n: run[f"cpu_us_{n}"] / 1000 for n in pids}
                cells.append(
                    Cell(
                        f"catalog {scenario}",
                        count,
                        run["rps"],
                        run["p50_ms"],
                        run["p99_ms"],
                        run["errors"],
                        by_service(per_instance),
                        # busy share = CPU per request x requests per second
                        {
                            n: ms * run["requests"] / args.duration / 10
                            for n, ms in per_instance.items()
                        },
                        shares["machine (all)"],
                        ours,
                    )
                )
            print(
                f"catalog x{count} round {round_ + 1}: {[round(c.rps) for c in cells[-2:]]} req/s",
                file=sys.stderr,
            )
    return cells


def by_service(per_instance: dict[str, float]) -> dict[str, float]:
    summed: dict[str, float] = defaultdict(float)
    for name, value in per_instance.items():
        summed[name.rsplit("-", 1)[0]] += value
    return dict(summed)


# ----------------------------------------------------------------------- checkout


async def checkout_cells(var_dir: Path, gateway: str, args: argparse.Namespace) -> list[Cell]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    cells: list[Cell] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await admin_restock(session, gateway, 10_000_000)
        product_ids = await products(session, gateway)
        admin = await admin_headers(session, gateway)  # once: admin logins are rate limited
        for round_ in range(args.checkout_rounds):
            for count in rotated(round_):
                await asyncio.to_thread(scale, var_dir, SAGA, count)
                cell = await checkout_cell(
                    session, gateway, var_dir, product_ids, admin, args, count
                )
                cells.append(cell)
                print(f"checkout x{count}: {cell.rps:.1f} confirmed/s", file=sys.stderr)
    return cells


async def checkout_cell(
    session: aiohttp.ClientSession,
    gateway: str,
    var_dir: Path,
    product_ids: list[str],
    admin: dict[str, str],
    args: argparse.Namespace,
    count: int,
) -> Cell:
    total = max(1, round(args.rate * args.seconds))
    users = await prepare_users(session, gateway, product_ids, total, 4)
    await asyncio.sleep(2.0)
    pids = processes(var_dir)
    names = {pid: name for name, pid in instance_pids(var_dir).items()}
    whole, during = CpuWindow(pids), CpuWindow(names)

    async def send(index: int, due: float) -> Attempt:
        sent = Attempt(users[index], due)
        await attempt(session, gateway, sent)
        return sent

    attempts = await OpenLoop[Attempt](args.rate).run(total, send)
    busy = during.close()
    accepted = {a.order_id for a in attempts if a.order_id}
    orders = await settled(session, gateway, admin, accepted, args.bound)
    cpu = whole.close()
    history = [h for o in orders.values() for h in o.get("history", [])]
    pending = [h["at"] for h in history if h["status"] == "PENDING"]
    confirmed = [h["at"] for h in history if h["status"] == "CONFIRMED"]
    span = (
        (
            datetime.fromisoformat(max(confirmed)) - datetime.fromisoformat(min(pending))
        ).total_seconds()
        if confirmed
        else float("nan")
    )
    sagas = [s for o in orders.values() if (s := saga_seconds(o)) is not None]
    timeouts = sum(1 for o in orders.values() if o.get("reason") == "TIMEOUT")
    posts = [a.latency for a in attempts if a.status == 202]
    per_order = {
        name: pct / 100 * cpu["wall"] * 1000 / max(1, len(confirmed))
        for name, pct in cpu.items()
        if name not in NOT_SYSTEM
    }
    return Cell(
        "checkout",
        count,
        len(confirmed) / span if span > 0 else 0.0,
        percentile(sagas, 50) * 1000,
        percentile(sagas, 99) * 1000,
        float(sum(1 for a in attempts if a.status != 202)),
        per_order,
        {n: v for n, v in busy.items() if n not in NOT_SYSTEM},
        busy["machine (all)"],
        sum(v for n, v in busy.items() if n not in NOT_SYSTEM),
        {
            "sent": float(total),
            "accepted": float(len(accepted)),
            "confirmed": float(len(confirmed)),
            "timeout": float(timeouts),
            "post_p50_ms": percentile(posts, 50) * 1000,
            "post_p99_ms": percentile(posts, 99) * 1000,
        },
    )


async def settled(
    session: aiohttp.ClientSession,
    gateway: str,
    admin: dict[str, str],
    ids: set[str],
    bound: float,
) -> dict[str, dict[str, Any]]:
    """The orders ``ids`` once none is PENDING (or after ``bound`` s)."""
    give_up = time.monotonic() + bound
    while True:
        found = await all_orders(session, gateway, admin)
        orders = {i: o for i, o in found.items() if i in ids}
        if time.monotonic() > give_up or all(o["status"] != "PENDING" for o in orders.values()):
            return orders
        await asyncio.sleep(1.0)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="catalog rounds")
    parser.add_argument("--duration", type=float, default=4.0, help="s per catalog cell")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=8.0, help="checkouts/s offered")
    parser.add_argument("--seconds", type=float, default=10.0, help="s of checkout load per cell")
    parser.add_argument("--checkout-rounds", type=int, default=1)
    parser.add_argument("--bound", type=float, default=60.0, help="wait for sagas (s)")
    parser.add_argument("--skip", choices=["catalog", "checkout"], help="leave a part out")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    ensure_tools()
    started, loads = datetime.now(UTC), [load_average()]
    var_dir = Path(tempfile.mkdtemp(prefix="emp-scale-"))  # short: Unix socket paths
    port = int(os.environ.get("EMPORIUM_GATEWAY_PORT") or free_port())
    gateway = f"http://127.0.0.1:{port}"
    cells: list[Cell] = []
    audit: dict[str, Any] = {}
    try:
        # With bench.checkout's cheap argon2 and lifted budgets; the gateway keeps
        # no catalog answer, or catalog's replicas would not be what is measured.
        up(var_dir, port, {**READ_ENV, **UNCACHED})
        if args.skip != "catalog":
            cells += catalog_cells(var_dir, gateway, args)
        if args.skip != "checkout":
            cells += asyncio.run(checkout_cells(var_dir, gateway, args))
            audit = run_audit(var_dir)
    finally:
        loads.append(load_average())
        cli(var_dir, "down")
        shutil.rmtree(var_dir, ignore_errors=True)
    text = report(cells, args, started, loads)
    if audit:
        text += f"\nAudit after the checkout cells: {audit.get('summary')}.\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    chart(
        cells,
        args.output.with_suffix(".png"),
        f"Emporium on {os.cpu_count()} shared cores, {started:%Y-%m-%d}",
    )
    print(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
