"""Catalog read throughput, side by side: gateway→catalog, direct, nginx→catalog.

    .venv/bin/python -m bench.catalog [--rounds 3] [--duration 5] [--connections 32] [--profile]

Starts a whole system with the launcher's CLI (``emporium up --detach``) in a
temporary var dir (gateway on ``EMPORIUM_GATEWAY_PORT``, else a free port),
and an nginx (Debian ``nginx-light``, one worker, keep-alive to the catalog)
proxying the same catalog instance; both nginx and ``wrk`` are installed with
apt-get when missing. Then, for product by id, listing, search and the
storefront product page, it measures each path (through the gateway as a
client sees it, which answers repeated catalog reads from what it keeps;
through the gateway with ``Cache-Control: no-cache``, which passes every read
on to catalog; straight to the service; through nginx) with ``wrk`` (closed loop, ``--connections``
connections, one thread) in interleaved rounds whose order rotates, so drift
from other work on the machine spreads over all of them; reports medians of
req/s, p50 and p99, the ratios, and writes bench/results/catalog.md. While
a storefront page is loaded, the page is also read every 100 ms to count the
pages that kept their recommendations panel (one that missed its panel
timeout is still a 200).

``--profile`` adds one more gateway product-by-id run with py-spy sampling the
gateway and the catalog, and lists their top frames. Loopback only; bounded
(about 4.5 minutes at the defaults); stops everything it started. Not a test:
nothing here asserts a speed.

The gateway's per-address rate limit is raised for the run: every request
comes from 127.0.0.1, and the point is the read path's cost, not the limiter's.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import stop_on_sigterm
from emporium.launcher.nats import free_port

BIN = Path(sys.executable).parent
EMPORIUM = str(BIN / "emporium")
RESULTS = Path(__file__).parent / "results" / "catalog.md"
ENV = {
    "EMPORIUM_LOG_LEVEL": "WARNING",
    "EMPORIUM_GATEWAY_ADDRESS_RATE": "1000000",
    "EMPORIUM_GATEWAY_ADDRESS_BURST": "1000000",
}
# For benches that measure catalog's own path (its replicas' scaling, a frozen
# catalog, tracing's cost, the proxy's cost): the gateway keeps no catalog
# answer, so every read reaches a catalog instance (decision 0031).
UNCACHED = {"EMPORIUM_GATEWAY_CACHE_SECONDS": "0"}
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream catalog {{ server 127.0.0.1:{catalog}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://catalog;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def ensure_tools() -> None:
    """nginx and wrk from Debian's packages, installed if missing (the bench needs root)."""
    missing = [pkg for pkg, tool in (("nginx-light", "nginx"), ("wrk", "wrk")) if not _which(tool)]
    if missing:
        print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True)


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin")


def cli(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EMPORIUM, *args, "--var-dir", str(var_dir)],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def instances(var_dir: Path) -> dict[str, dict[str, Any]]:
    listed = json.loads(cli(var_dir, "status", "--json").stdout)
    return {entry["service"]: entry for entry in listed}


def start_nginx(workdir: Path, catalog_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=workdir, catalog=catalog_port, port=port))
    nginx = _which("nginx") or "nginx"
    process = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(conf)])
    for _ in range(50):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"nginx did not start: {(workdir / 'error.log').read_text()}")


# The path through the gateway with every read passed on to catalog: a
# request header a kept answer cannot serve (decision 0031), so the gateway's
# cost of proxying stays measured next to what a client sees.
PASSED_ON = "gateway, passed on"
NO_CACHE = ("-H", "Cache-Control: no-cache")


def wrk(url: str, connections: int, duration: float, *extra: str) -> dict[str, float]:
    """One closed-loop run: req/s, p50 and p99 in ms, non-2xx/3xx and socket errors."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", *extra, url],
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if match is None:
            return float("nan")
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    requests = float(done[1]) if done else 0.0
    failed = float(bad[1]) if bad else 0.0
    # Only answers that succeeded count: a gateway that has ejected its upstream
    # answers 503 fast, and wrk's own req/s would count those too. (wrk's
    # latency percentiles do include them; the errors column says how many.)
    ok = (requests - failed) / requests if requests else 0.0
    return {
        "rps": (float(rps[1]) if rps else 0.0) * ok,
        "requests": requests,
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "errors": failed + (sum(map(float, sock.groups())) if sock else 0),
    }


def targets(var_dir: Path, gateway: str, nginx: str) -> dict[tuple[str, str], str]:
    """(scenario, path) → URL. The product is one from the middle of the list."""
    found = instances(var_dir)
    catalog, storefront = found["catalog"]["url"], found["storefront"]["url"]
    with urllib.request.urlopen(f"{gateway}/api/catalog/products?limit=100", timeout=10) as r:
        items = json.load(r)["items"]
    product = items[len(items) // 2]["id"]
    reads = {
        "product `/{id}`": f"/api/catalog/products/{product}",
        "list `?limit=20`": "/api/catalog/products?limit=20",
        "search `?q=wool`": "/api/catalog/products?q=wool",
    }
    chosen: dict[tuple[str, str], str] = {}
    for name, path in reads.items():
        for via, base in (
            ("gateway", gateway),
            (PASSED_ON, gateway),
            ("direct", catalog),
            ("nginx", nginx),
        ):
            chosen[(name, via)] = base + path
    page = f"/products/{product}"
    chosen[("storefront page", "gateway")] = gateway + page
    chosen[("storefront page", "direct")] = storefront + page
    return chosen


# The storefront renders a product page without a panel whose service did not
# answer within its panel timeout: a page that lost its recommendations is a
# 200 too, so the page rows also say how many pages were whole.
PANEL_MARK = b'id="recs-heading"'


class PageSampler(threading.Thread):
    """Reads the page every 100 ms while wrk loads it; counts pages with the panel."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.whole = self.read = 0

    def run(self) -> None:
        while not self.stopping.wait(0.1):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    body = response.read()
            except OSError:
                continue
            self.read += 1
            self.whole += PANEL_MARK in body

    def stop(self) -> float:
        """The share of pages read that had the panel, in %."""
        self.stopping.set()
        self.join()
        return 100.0 * self.whole / self.read if self.read else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    chosen: dict[tuple[str, str], str],
    rounds: int,
    duration: float,
    connections: int,
    pids: dict[str, int],
) -> dict[tuple[str, str], list[dict[str, float]]]:
    """wrk per cell in rotating rounds; with each run, the CPU time each process in
    ``pids`` spent per request: unlike req/s, it hardly depends on what else runs."""
    runs: dict[tuple[str, str], list[dict[str, float]]] = {key: [] for key in chosen}
    keys = list(chosen)

    def extra(key: tuple[str, str]) -> tuple[str, ...]:
        return NO_CACHE if key[1] == PASSED_ON else ()

    for key in keys:  # warm-up: read models, connection pools, JIT-less caches
        wrk(chosen[key], connections, 1, *extra(key))
    for round_ in range(rounds):
        shift = (round_ * len(keys)) // max(rounds, 1)
        for key in keys[shift:] + keys[:shift]:
            sampler = PageSampler(chosen[key]) if key[0] == "storefront page" else None
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            if sampler is not None:
                sampler.start()
            run = wrk(chosen[key], connections, duration, *extra(key))
            served = run["requests"]
            if sampler is not None:
                run["whole_pct"] = sampler.stop()
                served += sampler.read  # its pages cost CPU too
            for name, pid in pids.items():
                spent = cpu_seconds(pid) - before[name]
                run[f"cpu_us_{name}"] = 1e6 * spent / max(served, 1.0)
            runs[key].append(run)
        print(f"round {round_ + 1}/{rounds} done", file=sys.stderr)
    return runs


PROCESSES = ["gateway", "catalog", "nginx", "storefront", "inventory", "recommendations"]


def path_processes(scenario: str, via: str) -> list[str]:
    """The processes a request of the cell passes through."""
    if scenario == "storefront page":  # the storefront calls back through the gateway
        return ["gateway", "storefront", "catalog", "inventory", "recommendations"]
    if via in ("gateway", PASSED_ON):
        return ["gateway", "catalog"]
    return ["nginx", "catalog"] if via == "nginx" else ["catalog"]


def nginx_worker(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def profile(
    url: str, pids: dict[str, int], connections: int, seconds: float, out: Path
) -> dict[str, list[tuple[float, str]]]:
    """Top frames (inclusive share of samples) of each process while ``url`` is loaded."""
    spy = [str(BIN / "py-spy"), "record", "-d", f"{seconds:g}", "-r", "200", "--nonblocking"]
    recorders = {
        name: subprocess.Popen(
            [*spy, "-p", str(pid), "-f", "raw", "-o", str(out / f"{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    }
    wrk(url, connections, seconds + 1)
    for recorder in recorders.values():
        recorder.wait(timeout=60)
    return {name: top_frames(out / f"{name}.txt") for name in pids}


def top_frames(path: Path, count: int = 12) -> list[tuple[float, str]]:
    """Self time per function from py-spy's collapsed stacks, then the inclusive time of
    Emporium's own functions and the libraries' entry points; idle waits left out."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    if not path.exists():
        return []
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        frames = [re.sub(r" \(.*?(site-packages/|src/)", " (", f) for f in frames]
        if "_connection_worker_thread" in frames[-1]:  # aiosqlite's thread waiting for work
            continue
        own[frames[-1]] += int(samples)
        for frame in set(frames):
            if "emporium/" in frame or "Session.get" in frame or "aiohttp/client.py" in frame:
                inclusive[frame] += int(samples)
        total += int(samples)
    if not total:
        return []
    top = [(100 * n / total, name) for name, n in own.most_common(count)]
    top += [(100 * n / total, f"{name} [inclusive]") for name, n in inclusive.most_common(count)]
    return top


def report(
    runs: dict[tuple[str, str], list[dict[str, float]]],
    args: argparse.Namespace,
    load: float,
    frames: dict[str, list[tuple[float, str]]],
) -> str:
    def med(key: tuple[str, str], field: str) -> float:
        values = runs.get(key)
        return statistics.median(v[field] for v in values) if values else float("nan")

    lines = [
        "# Catalog reads: gateway, direct and nginx, side by side",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: nproc={os.cpu_count()}, {platform.machine()}, load average at start "
        f"{load:.2f} (other engineers' work shares these cores: expect noise)",
        f"- python {platform.python_version()}; whole system started by `emporium up` "
        "(SQLite + FTS5, embedded NATS), one instance per service; nginx 1 worker, "
        "keep-alive to the same catalog instance",
        f"- load: `wrk -t1 -c{args.connections}` on loopback, {args.rounds} interleaved "
        f"rounds of {args.duration:g} s per cell (order rotates per round), after a 1 s "
        "warm-up each; medians over rounds; wrk shares the two cores with the system",
        f"- command: `.venv/bin/python -m bench.catalog --rounds {args.rounds} "
        f"--duration {args.duration:g} --connections {args.connections}"
        + (" --profile`" if args.profile else "`"),
        "",
        "| scenario | path | req/s (2xx/3xx) | p50 ms | p99 ms | errors | whole pages % |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, values in runs.items():
        errors = sum(v["errors"] for v in values)
        whole = f"{med(key, 'whole_pct'):.0f}" if "whole_pct" in values[0] else ""
        lines.append(
            f"| {key[0]} | {key[1]} | {med(key, 'rps'):.0f} | {med(key, 'p50_ms'):.2f} "
            f"| {med(key, 'p99_ms'):.2f} | {errors:.0f} | {whole} |"
        )
    lines += [
        "",
        "CPU time per request, µs (median over rounds), of each process on the path; the "
        "last column is the requests per second one core could serve at that cost (wrk "
        "not counted):",
        "",
        "| scenario | path | " + " | ".join(PROCESSES) + " | req/s per core |",
        "|---|---|" + "---:|" * (len(PROCESSES) + 1),
    ]
    for key in runs:
        on_path = path_processes(*key)
        costs = {name: med(key, f"cpu_us_{name}") for name in on_path}
        shown = [f"{costs[name]:.0f}" if name in costs else "" for name in PROCESSES]
        capacity = 1e6 / sum(costs.values())
        lines.append(f"| {key[0]} | {key[1]} | {' | '.join(shown)} | {capacity:.0f} |")
    lines += [
        "",
        "| scenario | gateway / direct | gateway / nginx | passed on / nginx |",
        "|---|---:|---:|---:|",
    ]
    for scenario in dict.fromkeys(key[0] for key in runs):
        gateway = med((scenario, "gateway"), "rps")
        direct = med((scenario, "direct"), "rps")
        nginx = med((scenario, "nginx"), "rps")
        passed_on = med((scenario, PASSED_ON), "rps")
        by_nginx = [_ratio(rps, nginx) for rps in (gateway, passed_on)]
        lines.append(f"| {scenario} | {gateway / direct:.2f} | {' | '.join(by_nginx)} |")
    if frames:
        lines += ["", "## Where the time goes (py-spy, gateway product-by-id run)", ""]
        for name, top in frames.items():
            lines += [f"{name}, share of samples (self time, then inclusive):", ""]
            lines += [f"- {share:.1f}% `{frame}`" for share, frame in top]
            lines.append("")
    return "\n".join([*lines, ""])


def _ratio(rps: float, nginx: float) -> str:
    return "n/a" if rps != rps or nginx != nginx else f"{rps / nginx:.2f}"  # NaN: not measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    ensure_tools()
    var_dir = Path(tempfile.mkdtemp(prefix="emp-bench-"))  # short: Unix socket paths
    port = int(os.environ.get("EMPORIUM_GATEWAY_PORT") or free_port())
    nginx: subprocess.Popen[bytes] | None = None
    load = os.getloadavg()[0]
    frames: dict[str, list[tuple[float, str]]] = {}
    try:
        started = cli(var_dir, "up", "--detach", "--gateway-port", str(port))
        if started.returncode != 0:
            sys.exit(f"emporium up failed:\n{started.stdout}\n{started.stderr}")
        found = instances(var_dir)
        nginx, nginx_port = start_nginx(var_dir / "nginx", found["catalog"]["port"])
        gateway = f"http://127.0.0.1:{port}"
        chosen = targets(var_dir, gateway, f"http://127.0.0.1:{nginx_port}")
        pids = {name: found[name]["pid"] for name in PROCESSES if name != "nginx"}
        pids["nginx"] = nginx_worker(nginx.pid)
        runs = measure(chosen, args.rounds, args.duration, args.connections, pids)
        if args.profile:
            url = chosen[("product `/{id}`", "gateway")]
            frames = profile(
                url, {n: pids[n] for n in ("gateway", "catalog")}, args.connections, 8.0, var_dir
            )
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        cli(var_dir, "down")
        shutil.rmtree(var_dir, ignore_errors=True)
    text = report(runs, args, load, frames)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
