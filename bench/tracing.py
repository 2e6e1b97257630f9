"""What tracing costs: product-by-id through the gateway, tracing on vs off, on ONE system.

    .venv/bin/python -m bench.tracing [--pairs 5] [--duration 5] [--concurrency 16]
                                      [--read-ratio 0.1] [--control]

Starts one whole system with ``emporium up --detach`` (its own var dir and
broker namespace, loopback only). Before each round it restarts only the
instances the route passes through, the gateway and the catalog, through the
launcher's control API (``POST /restart``) with tracing on, sampling
``--read-ratio`` of the traces a GET starts (default 0.1, as shipped; 1 is the
worst case, every request with gateway server and client spans, catalog server
and database spans) or off.
Every other process, the database file and the machine stay the same, so the
two modes differ in tracing alone. Rounds interleave A B A B ...; reports each
mode's median, the ratio of medians, the spread (min-max, and the ratio within
each adjacent A/B pair), and writes bench/results/tracing.md. ``--control``
runs tracing off in both A and B: the ratio it reports is what the method
shows when nothing differs. It stops the system itself. Not a test.
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
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench import stop_on_sigterm
from bench._load import run_load
from bench.catalog import UNCACHED
from emporium.chassis.settings import ChassisSettings
from emporium.launcher.control import ControlClient
from emporium.launcher.nats import free_port
from emporium.launcher.settings import VarLayout

EMPORIUM = str(Path(sys.executable).parent / "emporium")
RESULTS = Path(__file__).parent / "results" / "tracing.md"
BASE_ENV = {
    "EMPORIUM_LOG_LEVEL": "WARNING",
    "EMPORIUM_GATEWAY_ADDRESS_RATE": "1000000",
    "EMPORIUM_GATEWAY_ADDRESS_BURST": "1000000",
    **UNCACHED,  # every read passes both processes, as the spans it measures do
}
OFF = {"EMPORIUM_TRACING": "false"}
DEFAULT_READ_RATIO = ChassisSettings.model_fields["trace_read_sample_ratio"].default
ROUTE = ("catalog", "gateway")  # the processes a product-by-id request passes through


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


def answers(url: str, within: float = 30.0) -> None:
    """Until ``url`` answers 200 five times in a row: the gateway has the new catalog."""
    deadline, streak = time.monotonic() + within, 0
    while streak < 5:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                streak = streak + 1 if response.status == 200 else 0
        except OSError:
            streak = 0
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within {within:.0f} s") from None
            time.sleep(0.2)


async def switch(control: ControlClient, env: dict[str, str], url: str) -> None:
    for service in ROUTE:
        code, body = await control.restart(service, env, ready_timeout=90)
        if code != 200 or body["not_ready"]:
            raise SystemExit(f"restarting {service} failed: {code} {body}")
    await asyncio.to_thread(answers, url)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


async def route_pids(control: ControlClient) -> list[int]:
    instances = (await control.status())["instances"]
    return [int(i["pid"]) for i in instances if i["service"] in ROUTE and i["pid"]]


async def measure(
    control: ControlClient,
    url: str,
    modes: dict[str, dict[str, str]],
    pairs: int,
    duration: float,
    concurrency: int,
) -> dict[str, list[dict[str, float]]]:
    """Each round's load figures, plus ``cpu_ms``: gateway + catalog CPU per request.

    CPU per request barely moves with what else runs on the machine, where
    req/s does, so it is the steadier of the two measures of tracing's cost.
    """
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in modes}
    for _ in range(pairs):
        for name, env in modes.items():  # A B A B ...
            await switch(control, env, url)
            await run_load(url, concurrency, 1.0)  # warm-up, not counted
            pids = await route_pids(control)
            before = cpu_seconds(pids)
            result = await run_load(url, concurrency, duration)
            requests = max(result["rps"] * duration, 1.0)
            result["cpu_ms"] = (cpu_seconds(pids) - before) / requests * 1000
            runs[name].append(result)
            print(
                f"{name}: {result['rps']:.0f} req/s, {result['cpu_ms']:.3f} ms CPU/request",
                file=sys.stderr,
            )
    return runs


def report(
    runs: dict[str, list[dict[str, float]]], args: argparse.Namespace, load: tuple[float, float]
) -> str:
    (a, b) = list(runs)
    rps = {name: [v["rps"] for v in runs[name]] for name in runs}
    med = {name: statistics.median(values) for name, values in rps.items()}
    ratio = med[a] / med[b]
    pair_ratios = [x / y for x, y in zip(rps[a], rps[b], strict=True)]
    command = "`.venv/bin/python -m bench.tracing" + (" --control" if args.control else "")
    shipped = args.read_ratio == DEFAULT_READ_RATIO
    command += f" --read-ratio {args.read_ratio:g}" if not shipped and not args.control else ""
    command += f" --pairs {args.pairs} --duration {args.duration:g}`"
    lines = [
        "# Tracing cost: product by id through the gateway, on one system",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: {command}",
        f"- machine: nproc={os.cpu_count()}, {platform.machine()}, load average "
        f"{load[0]:.2f} at start, {load[1]:.2f} at end (shared with other work)",
        "- one system (`emporium up`, SQLite, embedded NATS, one catalog instance); before "
        "each round the gateway and the catalog are restarted through the launcher's "
        "control API with the round's tracing setting; nothing else changes",
        f"- workload: closed loop (bench/_load.py), concurrency {args.concurrency}, "
        f"{args.pairs} rounds of {args.duration:g} s per mode, interleaved A B A B ...,"
        " each after a 1 s warm-up",
        "",
        "| mode | median req/s | min-max req/s | median p50 ms | median p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in runs:
        errors = sum(v["errors"] for v in runs[name])
        p50 = statistics.median(v["p50_ms"] for v in runs[name])
        p99 = statistics.median(v["p99_ms"] for v in runs[name])
        lines.append(
            f"| {name} | {med[name]:.0f} | {min(rps[name]):.0f}-{max(rps[name]):.0f} "
            f"| {p50:.2f} | {p99:.2f} | {errors:.0f} |"
        )
    cpu = {name: [v["cpu_ms"] for v in runs[name]] for name in runs}
    cpu_med = {name: statistics.median(values) for name, values in cpu.items()}
    lines += [
        "",
        "CPU of the gateway and the catalog per request (user + system, from /proc):",
        "",
        "| mode | median ms CPU / request | min-max |",
        "|---|---:|---:|",
        *(
            f"| {name} | {cpu_med[name]:.3f} | {min(cpu[name]):.3f}-{max(cpu[name]):.3f} |"
            for name in runs
        ),
        "",
        f"- throughput the CPU cost allows, A / B (B's CPU per request over A's): "
        f"**{cpu_med[b] / cpu_med[a]:.3f}** (target ≥ 0.9)",
        "",
        f"- rounds, req/s: A = {', '.join(f'{v:.0f}' for v in rps[a])}; "
        f"B = {', '.join(f'{v:.0f}' for v in rps[b])}",
        f"- ratio of medians A / B: **{ratio:.3f}** (target ≥ 0.9)",
        f"- ratio within each adjacent pair: {', '.join(f'{r:.3f}' for r in pair_ratios)} "
        f"(median {statistics.median(pair_ratios):.3f}, "
        f"min {min(pair_ratios):.3f}, max {max(pair_ratios):.3f})",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=5, help="rounds per mode (at least 3)")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--read-ratio",
        type=float,
        default=DEFAULT_READ_RATIO,
        help="sample ratio of traces a read starts",
    )
    parser.add_argument(
        "--control", action="store_true", help="tracing off in A and B: the method's own bias"
    )
    args = parser.parse_args()
    if args.pairs < 3:
        parser.error("--pairs must be at least 3")
    on = {"EMPORIUM_TRACING": "true", "EMPORIUM_TRACE_READ_SAMPLE_RATIO": f"{args.read_ratio:g}"}
    modes = (
        {"A: tracing off": OFF, "B: tracing off": OFF}
        if args.control
        else {f"A: tracing on, read sample ratio {args.read_ratio:g}": on, "B: tracing off": OFF}
    )
    var_dir = Path(tempfile.mkdtemp(prefix="emp-trace-"))
    env = {"EMPORIUM_BROKER_NAMESPACE": f"b{uuid.uuid4().hex[:8]}"}
    load_start = os.getloadavg()[0]
    try:
        port = free_port()
        started = cli(var_dir, env, "up", "--detach", "--gateway-port", str(port))
        if started.returncode != 0:
            sys.exit(f"emporium up failed:\n{started.stdout}\n{started.stderr}")
        url = product_url(f"http://127.0.0.1:{port}")
        control = ControlClient(VarLayout.at(var_dir).socket)
        runs = asyncio.run(
            measure(control, url, modes, args.pairs, args.duration, args.concurrency)
        )
    finally:
        cli(var_dir, env, "down")
        shutil.rmtree(var_dir, ignore_errors=True)
    text = report(runs, args, (load_start, os.getloadavg()[0]))
    target = (
        RESULTS.with_name("tracing-control.md")
        if args.control
        else RESULTS.with_name(f"tracing-read-ratio-{args.read_ratio:g}.md")
        if args.read_ratio != DEFAULT_READ_RATIO
        else RESULTS
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
