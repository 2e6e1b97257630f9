"""Catalog browse throughput through the gateway: list, search, one product, 304.

    .venv/bin/python -m bench.catalog [--rounds 5] [--duration 2.5] [--concurrency 16]

Starts a whole system with the launcher's CLI (``emporium up --detach``) in a
temporary var dir on a free gateway port, then runs the scenarios side by side
in alternating rounds (the order rotates each round, so drift from other work
on the machine spreads over all of them) with the closed-loop generator of
:mod:`bench._load`; reports medians over rounds and writes
bench/results/catalog.md. Loopback only; about 1.5 minutes; stops by itself.
Not a test: nothing here asserts a speed.

The gateway's per-address rate limit is raised for the run: every request
comes from 127.0.0.1, and the point is the catalog's cost, not the limiter's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bench._load import run_load
from emporium.launcher.nats import free_port

EMPORIUM = str(Path(sys.executable).parent / "emporium")
RESULTS = Path(__file__).parent / "results" / "catalog.md"
WARMUP_SECONDS = 1.0
ENV = {
    "EMPORIUM_LOG_LEVEL": "WARNING",
    "EMPORIUM_GATEWAY_ADDRESS_RATE": "1000000",
    "EMPORIUM_GATEWAY_ADDRESS_BURST": "1000000",
}


def cli(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EMPORIUM, *args, "--var-dir", str(var_dir)],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def get_json(url: str) -> tuple[object, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response), response.headers["ETag"]


def scenarios(gateway: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Name → (URL, headers). The product is one from the middle of the list."""
    page, _ = get_json(f"{gateway}/api/catalog/products?limit=100")
    assert isinstance(page, dict)
    product = page["items"][len(page["items"]) // 2]["id"]
    one = f"{gateway}/api/catalog/products/{product}"
    _, etag = get_json(one)
    return {
        "list `?limit=20`": (f"{gateway}/api/catalog/products?limit=20", {}),
        "list `?category=audio`": (f"{gateway}/api/catalog/products?category=audio", {}),
        "search `?q=wool`": (f"{gateway}/api/catalog/products?q=wool", {}),
        "search `?q=c` (prefix, 12 hits)": (f"{gateway}/api/catalog/products?q=c", {}),
        "product `/{id}`": (one, {}),
        "product `/{id}` + If-None-Match (304)": (one, {"If-None-Match": etag}),
    }


async def measure(
    targets: dict[str, tuple[str, dict[str, str]]], rounds: int, duration: float, concurrency: int
) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    names = list(targets)
    for name in names:
        url, headers = targets[name]
        await run_load(url, concurrency, WARMUP_SECONDS, headers=headers)
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            url, headers = targets[name]
            runs[name].append(await run_load(url, concurrency, duration, headers=headers))
    return runs


def report(runs: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> str:
    def med(values: list[dict[str, float]], key: str) -> float:
        return statistics.median(v[key] for v in values)

    load = os.getloadavg()[0]
    lines = [
        "# Catalog browse throughput through the gateway",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: nproc={os.cpu_count()}, {platform.machine()}, load average at start "
        f"{load:.2f} (other work shares this machine: expect noise)",
        f"- python {platform.python_version()}; whole system started by `emporium up` "
        "(SQLite + FTS5, embedded NATS), one catalog instance, 30 seeded products",
        f"- workload: closed loop (bench/_load.py), concurrency {args.concurrency}, "
        f"{args.rounds} rounds of {args.duration:.0f} s per scenario in rotating order "
        f"after {WARMUP_SECONDS:.0f} s warm-up each; medians over rounds; the load generator "
        "runs on the same cores as the system",
        "- command: `.venv/bin/python -m bench.catalog`",
        "",
        "| scenario | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    causes: dict[str, float] = {}
    for name, values in runs.items():
        errors = sum(v["errors"] for v in values)
        lines.append(
            f"| {name} | {med(values, 'rps'):.0f} | {med(values, 'p50_ms'):.2f} "
            f"| {med(values, 'p99_ms'):.2f} | {errors:.0f} |"
        )
        for run in values:
            for key, count in run.items():
                if key.startswith("errors_"):
                    causes[key.removeprefix("errors_")] = causes.get(key[7:], 0) + count
    if causes:
        listed = ", ".join(f"{cause}: {count:.0f}" for cause, count in sorted(causes.items()))
        lines += ["", f"Errors by cause (all scenarios and rounds): {listed}."]
    if "503" in causes:
        lines += [
            "",
            "A 503 comes from the gateway while it holds the single catalog instance "
            "unready: under saturation the instance's `/health/ready` waits in the same "
            "event loop as the queued requests and can miss the gateway's 1 s health "
            "timeout. More replicas (`--replicas catalog=2`) or a lower load avoid it.",
        ]
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="emp-bench-"))  # short: Unix socket paths
    port = free_port()
    try:
        started = cli(var_dir, "up", "--detach", "--gateway-port", str(port))
        if started.returncode != 0:
            sys.exit(f"emporium up failed:\n{started.stdout}\n{started.stderr}")
        targets = scenarios(f"http://127.0.0.1:{port}")
        runs = asyncio.run(measure(targets, args.rounds, args.duration, args.concurrency))
    finally:
        cli(var_dir, "down")
        shutil.rmtree(var_dir, ignore_errors=True)
    text = report(runs, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
