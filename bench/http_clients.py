"""Outbound HTTP clients side by side: raw aiohttp, ServiceClient, httpx.AsyncClient.

    .venv/bin/python -m bench.http_clients [--requests 5000] [--httpx-requests 1000]
                                           [--concurrency 64] [--rounds 3]

Starts a hello-world JSON aiohttp server in a subprocess on a free loopback
port, then, in alternating rounds, sends the same number of GETs through each
client with a fixed number of concurrent workers, reading every body. Prints
requests/second and p50/p99 latency (medians over rounds) and writes the table
to bench/results/http_clients.md. Not a test: nothing here asserts a speed.

httpx gets fewer requests per round (``--httpx-requests``): at the rate it
manages under this concurrency, 5,000 per round would take minutes, and its
rate and percentiles are already stable over 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web

from bench import stop_on_sigterm
from emporium.chassis.http import ServiceClient

RESULTS = Path(__file__).parent / "results" / "http_clients.md"
WARMUP_REQUESTS = 200
RAW = "aiohttp ClientSession (raw)"
HTTPX = "httpx AsyncClient"

Fetch = Callable[[], Awaitable[None]]
ClientFactory = Callable[[str], AbstractAsyncContextManager[Fetch]]


@asynccontextmanager
async def raw_aiohttp(url: str) -> AsyncIterator[Fetch]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def fetch() -> None:
            async with session.get(url) as response:
                await response.read()
                response.raise_for_status()

        yield fetch


@asynccontextmanager
async def service_client(url: str) -> AsyncIterator[Fetch]:
    async with ServiceClient(url, name="bench") as client:

        async def fetch() -> None:
            await client.get("/")

        yield fetch


@asynccontextmanager
async def httpx_client(url: str) -> AsyncIterator[Fetch]:
    # Same pool size as aiohttp's default, all kept alive (httpx keeps 20 by default).
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits) as client:

        async def fetch() -> None:
            response = await client.get(url)
            response.raise_for_status()

        yield fetch


CLIENTS: dict[str, ClientFactory] = {
    RAW: raw_aiohttp,
    "emporium ServiceClient": service_client,
    HTTPX: httpx_client,
}


@dataclass(frozen=True)
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # this process's CPU time per request: client overhead, robust to load


async def measure(fetch: Fetch, requests: int, concurrency: int) -> Run:
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await fetch()
            latencies.append(time.perf_counter() - started)

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    cuts = statistics.quantiles(latencies, n=100)
    return Run(
        rps=len(latencies) / elapsed,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        cpu_us=cpu / len(latencies) * 1e6,
    )


async def bench(
    url: str, requests: int, httpx_requests: int, concurrency: int, rounds: int
) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {name: [] for name in CLIENTS}
    names = list(CLIENTS)
    for round_number in range(rounds):
        # Rotate the order each round so no client always runs first or last.
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            async with CLIENTS[name](url) as fetch:
                await measure(fetch, WARMUP_REQUESTS, concurrency)
                count = httpx_requests if name == HTTPX else requests
                run = await measure(fetch, count, concurrency)
            runs[name].append(run)
            print(
                f"round {round_number + 1} {name:28} {count:5} req {run.rps:8.0f} req/s  "
                f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms  cpu {run.cpu_us:5.0f} us/req",
                flush=True,
            )
    return runs


def table(runs: dict[str, list[Run]]) -> str:
    base = statistics.median(run.rps for run in runs[RAW])
    lines = [
        "| client | req/s | p50 ms | p99 ms | req/s vs raw aiohttp | client CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, client_runs in runs.items():
        rps = statistics.median(run.rps for run in client_runs)
        p50 = statistics.median(run.p50_ms for run in client_runs)
        p99 = statistics.median(run.p99_ms for run in client_runs)
        cpu = statistics.median(run.cpu_us for run in client_runs)
        lines.append(
            f"| {name} | {rps:.0f} | {p50:.2f} | {p99:.2f} | {rps / base:.2f}x | {cpu:.0f} |"
        )
    return "\n".join(lines)


def report(runs: dict[str, list[Run]], args: argparse.Namespace) -> str:
    return "\n".join(
        [
            "# Outbound HTTP clients: raw aiohttp vs ServiceClient vs httpx",
            "",
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: nproc={os.cpu_count()}, {platform.machine()}, "
            f"{platform.system()} {platform.release()}, load average at start "
            f"{args.load_at_start:.2f} (other work shares this machine: expect noise)",
            f"- python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
            f"httpx {httpx.__version__}, default asyncio event loop",
            f"- workload: GET of a small JSON body from a local aiohttp server (own process), "
            f"{args.requests} requests per client per round ({args.httpx_requests} for httpx) "
            f"after {WARMUP_REQUESTS} warm-up, "
            f"concurrency {args.concurrency}, {args.rounds} rounds in rotating order; "
            "medians over rounds",
            "- command: `.venv/bin/python -m bench.http_clients`",
            "",
            table(runs),
            "",
        ]
    )


async def serve() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()  # until the parent kills us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--httpx-requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return

    args.load_at_start = os.getloadavg()[0]
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.http_clients", "--serve"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        runs = asyncio.run(
            bench(
                f"http://127.0.0.1:{port}/",
                args.requests,
                args.httpx_requests,
                args.concurrency,
                args.rounds,
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = report(runs, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print()
    print(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
