"""A frozen service: how soon its callers fail fast, and how soon they recover.

Usage: ``python -m bench.freeze [--freeze 10 --rate 40 --gateway-port 48090]``
(about a minute and a half). Writes bench/results/freeze.md and prints it.

Starts its own system (``emporium up --detach``, its own var dir, loopback
only) and signs in a few shoppers. Then an open loop (``emporium.loadgen``'s
``OpenLoop``, latencies from the intended send time) sends, at ``--rate`` per
second for each, two kinds of request through the gateway:

- ``GET /api/catalog/products/{id}``: the gateway is catalog's caller;
- ``PUT /api/cart/items/{id}``: cart is catalog's caller (it checks the product
  with its ``ServiceClient``, circuit breaker included);

and ``GET /api/cart`` as a control that never touches catalog. After a quiet
start the only catalog instance is frozen (SIGSTOP) for ``--freeze`` seconds,
then resumed (SIGCONT). Per route and per second it reports requests, errors
and p99; and, per route, when callers *failed fast* (from the freeze until the
first second from which every second of the freeze has p99 <= 100 ms), the p99
from then to the resume, and the recovery (from SIGCONT until the first second
from which every request succeeds, and until the first from which no error
names catalog). Every error's problem detail is kept and counted, so a
refusal by a layer short of capacity on a busy machine ("gateway is at
capacity (cart write)") is told apart from a caller still finding catalog
unavailable. The goals (issue "Resilience"): p99 <= 100 ms once failing fast,
recovery within seconds, the control unaffected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench import stop_on_sigterm
from bench.catalog import UNCACHED
from bench.checkout import PASSWORD, cli, load_average, processes, up
from emporium.loadgen import OpenLoop, percentile

RESULTS = Path(__file__).parent / "results" / "freeze.md"
ROUTES = ("GET /api/catalog/products/{id}", "PUT /api/cart/items/{id}", "GET /api/cart")
FAST_MS = 100.0


@dataclass
class Sample:
    route: str
    sent: float  # intended send time, seconds since the load began
    ms: float
    status: int  # 0: no answer (connection error or timeout)
    detail: str = ""  # an error's problem detail: which layer refused, and why

    @property
    def ok(self) -> bool:
        return 0 < self.status < 400


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    frozen_at: float = 0.0
    resumed_at: float = 0.0


async def shoppers(session: aiohttp.ClientSession, gateway: str, count: int) -> list[str]:
    tokens = []
    for _ in range(count):
        credentials = {"email": f"freeze-{os.urandom(6).hex()}@example.test", "password": PASSWORD}
        body = {**credentials, "name": "Freeze Bench"}
        async with session.post(f"{gateway}/api/identity/users", json=body) as r:
            r.raise_for_status()
        async with session.post(f"{gateway}/api/identity/token", json=credentials) as r:
            r.raise_for_status()
            tokens.append(str((await r.json())["access_token"]))
    return tokens


async def drive(gateway: str, catalog_pid: int, args: argparse.Namespace) -> Run:
    run = Run()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(f"{gateway}/api/catalog/products?limit=50") as r:
            products = [p["id"] for p in (await r.json())["items"]]
        tokens = await shoppers(session, gateway, 5)
        loop: OpenLoop[None] = OpenLoop(args.rate * len(ROUTES))
        began = loop.clock()
        rng = random.Random(7)

        async def send(index: int, intended: float) -> None:
            route = ROUTES[index % len(ROUTES)]
            headers = {"Authorization": f"Bearer {rng.choice(tokens)}"}
            product = rng.choice(products)
            method, url, body = {
                ROUTES[0]: ("GET", f"{gateway}/api/catalog/products/{product}", None),
                ROUTES[1]: ("PUT", f"{gateway}/api/cart/items/{product}", {"quantity": 1}),
                ROUTES[2]: ("GET", f"{gateway}/api/cart", None),
            }[route]
            detail = ""
            try:
                async with session.request(method, url, json=body, headers=headers) as r:
                    content = await r.read()
                    status = r.status
                    if status >= 400:
                        detail = problem_detail(content)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, detail = 0, type(exc).__name__
            run.samples.append(
                Sample(route, intended - began, loop.latency(intended) * 1000, status, detail)
            )

        async def fault() -> None:
            await asyncio.sleep(args.quiet)
            run.frozen_at = loop.clock() - began
            os.kill(catalog_pid, signal.SIGSTOP)
            try:
                await asyncio.sleep(args.freeze)
            finally:
                os.kill(catalog_pid, signal.SIGCONT)
                run.resumed_at = loop.clock() - began

        total = args.quiet + args.freeze + args.after
        faulting = asyncio.ensure_future(fault())
        await loop.run(loop.count_for(total), send)
        await faulting
    return run


def problem_detail(content: bytes) -> str:
    """An error body's problem ``detail`` (which layer answered, and why), ids left out."""
    try:
        detail = str(json.loads(content).get("detail", ""))
    except (ValueError, AttributeError):
        return content[:60].decode("utf-8", "replace")
    return re.sub(r"[0-9a-f-]{36}", "{id}", detail)


def seconds(run: Run, route: str) -> dict[int, list[Sample]]:
    by_second: dict[int, list[Sample]] = defaultdict(list)
    for sample in run.samples:
        if sample.route == route:
            by_second[int(sample.sent)].append(sample)
    return dict(sorted(by_second.items()))


def fail_fast_after(run: Run, route: str) -> float | None:
    """Seconds from the freeze until every later second of it has p99 <= FAST_MS."""
    frozen = [
        (second, samples)
        for second, samples in seconds(run, route).items()
        if run.frozen_at <= second and second + 1 <= run.resumed_at
    ]
    for index, (second, _) in enumerate(frozen):
        rest = frozen[index:]
        if all(percentile([s.ms for s in samples], 99) <= FAST_MS for _, samples in rest):
            return max(0.0, second - run.frozen_at)
    return None


def recovered_after(
    run: Run, route: str, failed: Callable[[Sample], bool] = lambda s: not s.ok
) -> float | None:
    """Seconds from SIGCONT until the first second from which no request ``failed``
    (by default: from which every request succeeds)."""
    after = [(s, xs) for s, xs in seconds(run, route).items() if s + 1 > run.resumed_at]
    for index, (second, _) in enumerate(after):
        if not any(failed(x) for _, xs in after[index:] for x in xs):
            return max(0.0, second - run.resumed_at)
    return None


def failed_for_catalog(sample: Sample) -> bool:
    """An error that names catalog: its caller still finds it unavailable (as opposed
    to a refusal by a layer short of capacity on a busy machine, which names another)."""
    return not sample.ok and "catalog" in sample.detail


def report(run: Run, args: argparse.Namespace, started: datetime, load: str) -> str:
    lines = [
        "# A frozen catalog: callers fail fast, then recover",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; command: `.venv/bin/python -m bench.freeze "
        f"--freeze {args.freeze:g} --rate {args.rate:g}`",
        f"- machine: nproc={os.cpu_count()}, load average {load}",
        f"- open loop, {args.rate:g}/s per route, latency from the intended send time; the only "
        f"catalog instance SIGSTOPped at {run.frozen_at:.1f} s for {args.freeze:g} s "
        f"(SIGCONT at {run.resumed_at:.1f} s)",
        "",
        "| route | caller of catalog | requests in the freeze | errors in it | fails fast "
        f"(p99 <= {FAST_MS:g} ms) after | p99 from then to SIGCONT | recovered after SIGCONT "
        "| no more errors naming catalog after SIGCONT |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    callers = {ROUTES[0]: "gateway", ROUTES[1]: "cart", ROUTES[2]: "none (control)"}
    for route in ROUTES:
        frozen = [s for s in run.samples if s.route == route and run.frozen_at <= s.sent]
        frozen = [s for s in frozen if s.sent < run.resumed_at]
        fast = fail_fast_after(run, route)
        tail = [s.ms for s in frozen if fast is not None and s.sent >= run.frozen_at + fast]
        recovered = recovered_after(run, route)
        found = recovered_after(run, route, failed_for_catalog)
        lines.append(
            f"| {route} | {callers[route]} | {len(frozen)} | {sum(not s.ok for s in frozen)} "
            f"| {'never' if fast is None else f'{fast:.0f} s'} "
            f"| {f'{percentile(tail, 99):.0f} ms' if tail else '-'} "
            f"| {'never' if recovered is None else f'{recovered:.0f} s'} "
            f"| {'never' if found is None else f'{found:.0f} s'} |"
        )
    lines += ["", "Errors by status (0: no answer), in the freeze and after SIGCONT:", ""]
    for route in ROUTES:
        during = Counter(
            s.status for s in run.samples
            if s.route == route and not s.ok and run.frozen_at <= s.sent < run.resumed_at
        )  # fmt: skip
        after = Counter(
            s.status for s in run.samples
            if s.route == route and not s.ok and s.sent >= run.resumed_at
        )  # fmt: skip
        lines.append(f"- {route}: in the freeze {dict(during) or '-'}; after {dict(after) or '-'}")
    lines += ["", "Who answered the errors (problem detail), in the freeze and after SIGCONT:", ""]
    for route in ROUTES:
        for label, since, until in (
            ("in the freeze", run.frozen_at, run.resumed_at),
            ("after", run.resumed_at, float("inf")),
        ):
            details = Counter(
                f"{s.status} {s.detail}" for s in run.samples
                if s.route == route and not s.ok and since <= s.sent < until
            )  # fmt: skip
            for detail, count in details.most_common():
                lines.append(f"- {route}, {label}: {count}: {detail}")
    lines += ["", "Per second (requests / errors / p99 ms):", ""]
    lines += ["| s | " + " | ".join(ROUTES) + " |", "|---:|" + "---|" * len(ROUTES)]
    per_route = {route: seconds(run, route) for route in ROUTES}
    for second in sorted({s for by in per_route.values() for s in by}):
        cells = []
        for route in ROUTES:
            samples = per_route[route].get(second, [])
            errors = sum(not s.ok for s in samples)
            p99 = percentile([s.ms for s in samples], 99) if samples else float("nan")
            cells.append(f"{len(samples)} / {errors} / {p99:.0f}")
        mark = " (frozen)" if run.frozen_at <= second < run.resumed_at else ""
        lines.append(f"| {second}{mark} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--freeze", type=float, default=10.0, help="seconds catalog is frozen")
    parser.add_argument("--rate", type=float, default=40.0, help="requests/s per route")
    parser.add_argument("--quiet", type=float, default=5.0, help="seconds before the freeze")
    parser.add_argument("--after", type=float, default=15.0, help="seconds after SIGCONT")
    parser.add_argument("--gateway-port", type=int, default=48090)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="emp-freeze-"))
    started = datetime.now(UTC)
    try:
        up(var_dir, args.gateway_port, UNCACHED)  # every product read reaches catalog
        [catalog] = [pid for pid, name in processes(var_dir).items() if name == "catalog"]
        time.sleep(1)
        run = asyncio.run(drive(f"http://127.0.0.1:{args.gateway_port}", catalog, args))
    finally:
        cli(var_dir, "down")
        shutil.rmtree(var_dir, ignore_errors=True)
    text = report(run, args, started, load_average())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
