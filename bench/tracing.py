"""What tracing costs: product-by-id through the gateway, tracing on vs off, side by side.

    .venv/bin/python -m bench.tracing [--rounds 5] [--duration 3] [--concurrency 16]

Starts three whole systems with ``emporium up --detach`` (each in its own var
dir and broker namespace): tracing on with every trace sampled
(``EMPORIUM_TRACE_SAMPLE_RATIO=1``, the worst case: gateway server and client
spans, catalog server span, database spans, all kept in the rings), tracing on
sampling one trace in ten, and ``EMPORIUM_TRACING=false``. Rounds rotate the
order so drift from other work on the machine hits all alike; reports medians
and the ratios, and writes bench/results/tracing.md. Not a test.
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
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench._load import run_load
from emporium.launcher.nats import free_port

EMPORIUM = str(Path(sys.executable).parent / "emporium")
RESULTS = Path(__file__).parent / "results" / "tracing.md"
BASE_ENV = {
    "EMPORIUM_LOG_LEVEL": "WARNING",
    "EMPORIUM_GATEWAY_ADDRESS_RATE": "1000000",
    "EMPORIUM_GATEWAY_ADDRESS_BURST": "1000000",
}
MODES = {
    "tracing on, every trace sampled (ratio 1.0)": {
        "EMPORIUM_TRACING": "true",
        "EMPORIUM_TRACE_SAMPLE_RATIO": "1",
    },
    "tracing on, ratio 0.1": {"EMPORIUM_TRACING": "true", "EMPORIUM_TRACE_SAMPLE_RATIO": "0.1"},
    "tracing off": {"EMPORIUM_TRACING": "false"},
}


def cli(var_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EMPORIUM, *args, "--var-dir", str(var_dir)],
        env={**os.environ, **BASE_ENV, **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def product_url(gateway: str) -> str:
    with urllib.request.urlopen(f"{gateway}/api/catalog/products?limit=100", timeout=10) as r:
        page = json.load(r)
    return f"{gateway}/api/catalog/products/{page['items'][len(page['items']) // 2]['id']}"


async def measure(
    urls: dict[str, str], rounds: int, duration: float, concurrency: int
) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
    for url in urls.values():
        await run_load(url, concurrency, 1.0)
    names = list(urls)
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(await run_load(urls[name], concurrency, duration))
    return runs


def report(runs: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> str:
    def med(name: str, key: str) -> float:
        return statistics.median(v[key] for v in runs[name])

    *on, off = list(MODES)
    lines = [
        "# Tracing cost: product by id through the gateway",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: nproc={os.cpu_count()}, {platform.machine()}, load average at start "
        f"{os.getloadavg()[0]:.2f} (shared with other work: expect noise)",
        "- three whole systems (`emporium up`, SQLite, embedded NATS), one catalog instance each,"
        " measured in alternating rounds",
        f"- workload: closed loop (bench/_load.py), concurrency {args.concurrency}, "
        f"{args.rounds} rounds of {args.duration:.0f} s per mode; medians over rounds",
        "- command: `.venv/bin/python -m bench.tracing`",
        "",
        "| mode | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in runs:
        errors = sum(v["errors"] for v in runs[name])
        lines.append(
            f"| {name} | {med(name, 'rps'):.0f} | {med(name, 'p50_ms'):.2f} "
            f"| {med(name, 'p99_ms'):.2f} | {errors:.0f} |"
        )
    lines.append("")
    for name in on:
        ratio = med(name, "rps") / med(off, "rps")
        lines.append(f"- {name} / tracing off: **{ratio:.3f}** of the throughput (target 0.9)")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--control",
        action="store_true",
        help="tracing off in the first and last system too: shows the bias of start order alone",
    )
    args = parser.parse_args()
    if args.control:
        MODES.clear()
        MODES.update(
            {
                "tracing off (first started)": {"EMPORIUM_TRACING": "false"},
                "tracing on, ratio 1.0 (second)": {
                    "EMPORIUM_TRACING": "true",
                    "EMPORIUM_TRACE_SAMPLE_RATIO": "1",
                },
                "tracing off": {"EMPORIUM_TRACING": "false"},
            }
        )
    systems: list[tuple[Path, dict[str, str]]] = []
    urls: dict[str, str] = {}
    try:
        for name, env in MODES.items():
            var_dir = Path(tempfile.mkdtemp(prefix="emp-trace-"))
            env = {**env, "EMPORIUM_BROKER_NAMESPACE": f"b{uuid.uuid4().hex[:8]}"}
            systems.append((var_dir, env))
            port = free_port()
            started = cli(var_dir, env, "up", "--detach", "--gateway-port", str(port))
            if started.returncode != 0:
                sys.exit(f"emporium up failed:\n{started.stdout}\n{started.stderr}")
            urls[name] = product_url(f"http://127.0.0.1:{port}")
        runs = asyncio.run(measure(urls, args.rounds, args.duration, args.concurrency))
    finally:
        for var_dir, env in systems:
            cli(var_dir, env, "down")
            shutil.rmtree(var_dir, ignore_errors=True)
    text = report(runs, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
