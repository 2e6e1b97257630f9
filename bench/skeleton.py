"""Walking-skeleton benchmarks: cold start, memory, and the gateway's cost.

``.venv/bin/python -m bench.skeleton`` (about two minutes). Writes
bench/results/skeleton.md. Everything runs on loopback and stops by itself.

1. Cold start: ``emporium up --detach`` on a fresh var dir until every instance
   is ready (seed included), five times; median. Warm start on an existing var
   dir too.
2. RSS of every process of a running system (launcher, NATS, each instance).
3. ``GET /api/catalog/products/{id}``: directly to the catalog instance and
   through the gateway, alternating rounds in one run; medians and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bench import stop_on_sigterm
from bench._load import run_load
from bench.catalog import UNCACHED
from emporium.launcher.nats import free_port

EMPORIUM = str(Path(sys.executable).parent / "emporium")
RESULTS = Path(__file__).parent / "results" / "skeleton.md"


def cli(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EMPORIUM, *args, "--var-dir", str(var_dir)],
        # The gateway's cost is what is measured: it passes every read on.
        env={**os.environ, **UNCACHED},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def up(var_dir: Path, port: int, *extra: str) -> float:
    started = time.monotonic()
    result = cli(var_dir, "up", "--detach", "--gateway-port", str(port), *extra)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"emporium up failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def down(var_dir: Path) -> None:
    cli(var_dir, "down")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cold_starts(rounds: int) -> dict[str, list[float]]:
    cold, warm = [], []
    for _ in range(rounds):
        var_dir = Path(tempfile.mkdtemp(prefix="emp-bench-"))
        port = free_port()
        try:
            cold.append(up(var_dir, port))
            down(var_dir)
            warm.append(up(var_dir, port))
            down(var_dir)
        finally:
            shutil.rmtree(var_dir, ignore_errors=True)
    return {"cold": cold, "warm": warm}


def memory(var_dir: Path) -> list[tuple[str, int]]:
    status = json.loads(cli(var_dir, "status", "--json").stdout)
    rows = [(i["instance"], rss_kib(i["pid"])) for i in status]
    rows.append(
        ("launcher", rss_kib(int((var_dir / "run" / "launcher.pid").read_text().split()[0])))
    )
    nats_pid = var_dir / "nats" / "nats-server.pid"
    if nats_pid.exists():
        rows.append(("nats-server", rss_kib(int(nats_pid.read_text()))))
    return rows


def throughput(
    var_dir: Path, port: int, rounds: int, duration: float, concurrency: int
) -> dict[str, list[dict[str, float]]]:
    status = json.loads(cli(var_dir, "status", "--json").stdout)
    catalog = next(i for i in status if i["service"] == "catalog")
    gateway = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{gateway}/api/catalog/products?limit=1") as response:
        product_id = json.load(response)["items"][0]["id"]
    path = f"/api/catalog/products/{product_id}"
    targets = {"direct": f"{catalog['url']}{path}", "gateway": f"{gateway}{path}"}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for round_ in range(rounds):
        order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
        for name in order:
            runs[name].append(asyncio.run(run_load(targets[name], concurrency, duration)))
    return runs


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def report(
    starts: dict[str, list[float]],
    rss: list[tuple[str, int]],
    runs: dict[str, list[dict[str, float]]],
    args: argparse.Namespace,
) -> str:
    lines = [
        "# Walking skeleton benchmarks",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
        f"(`python -m bench.skeleton`); load generator on the same machine.",
        "",
        "## Start-up: `emporium up --detach` until every instance is ready",
        "",
        "| start | median s | runs (s) |",
        "|---|---:|---|",
    ]
    for kind, seconds in starts.items():
        rounded = ", ".join(f"{v:.2f}" for v in seconds)
        lines.append(f"| {kind} | {statistics.median(seconds):.2f} | {rounded} |")
    lines += [
        "",
        "Cold: fresh var dir (NATS store created, seed runs, tables created). "
        "Warm: the same var dir again.",
        "",
        "## Memory (RSS) of a running system",
        "",
        "| process | RSS MiB |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {kib / 1024:.1f} |" for name, kib in rss]
    lines.append(f"| **total** | {sum(k for _, k in rss) / 1024:.1f} |")
    lines += [
        "",
        "## `GET /api/catalog/products/{id}`: direct vs through the gateway",
        "",
        f"{args.rounds} alternating rounds of {args.duration:.0f} s each, "
        f"concurrency {args.concurrency}, one catalog instance; medians.",
        "",
        "| path | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in runs.items():
        lines.append(
            f"| {name} | {median(values, 'rps'):.0f} | {median(values, 'p50_ms'):.2f} "
            f"| {median(values, 'p99_ms'):.2f} | {sum(v['errors'] for v in values):.0f} |"
        )
    ratio = median(runs["gateway"], "rps") / median(runs["direct"], "rps")
    lines += ["", f"Gateway throughput / direct throughput: **{ratio:.2f}**", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    starts = cold_starts(args.starts)
    var_dir = Path(tempfile.mkdtemp(prefix="emp-bench-"))
    port = free_port()
    try:
        up(var_dir, port)
        rss = memory(var_dir)
        runs = throughput(var_dir, port, args.rounds, args.duration, args.concurrency)
    finally:
        down(var_dir)
        shutil.rmtree(var_dir, ignore_errors=True)
    text = report(starts, rss, runs, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
