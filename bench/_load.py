"""A small closed-loop HTTP load generator (aiohttp), shared by the benchmarks.

(The open loop, timed from each request's intended send time, and the
percentiles are :mod:`emporium.loadgen`'s, shared with ``emporium load``.)

``concurrency`` workers each send the next request as soon as the previous one
answered, for ``duration`` seconds, against loopback only. The generator runs
on the same two cores as the system under test, so absolute numbers are lower
than a separate load machine would see; compare runs side by side.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import aiohttp

from emporium.loadgen import percentile

__all__ = ["percentile", "run_load"]


async def run_load(
    url: str,
    concurrency: int = 32,
    duration: float = 5.0,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    json: Any = None,
) -> dict[str, float]:
    """Hammer ``url`` and return rps, p50/p99 latency (ms) and the error count
    (also by cause: ``errors_503``, ``errors_ServerDisconnectedError``, ...)."""
    latencies: list[float] = []
    errors = 0
    # Why requests failed: HTTP status, or the exception's name.
    causes: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    async with session.request(method, url, headers=headers, json=json) as r:
                        await r.read()
                        ok, cause = r.status < 400, str(r.status)
                except aiohttp.ClientError as exc:
                    ok, cause = False, type(exc).__name__
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
                    causes[cause] = causes.get(cause, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "requests": float(len(latencies)),
        "errors": float(errors),
        **{f"errors_{cause}": float(count) for cause, count in causes.items()},
    }
