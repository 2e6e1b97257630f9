"""Start-up time and memory of the whole local system: fork server vs new interpreters.

``.venv/bin/python -m bench.startup`` (about four minutes). Writes
bench/results/startup.md. Everything runs on loopback and stops by itself.

Modes, measured side by side in interleaved rounds:

- ``fork``: the launcher forks every instance from its pre-imported fork server
  (the default);
- ``exec``: ``EMPORIUM_LAUNCHER_FORK=false``, a new interpreter per instance;
- ``before`` (with ``--before SRC``): another checkout's ``src`` on
  ``PYTHONPATH``, e.g. the commit before the fork server.

1. Cold start: ``emporium up --detach`` on a fresh var dir until every instance
   is ready (broker, seed, every service), wall clock as a user sees it; median.
2. Memory after warm-up: the system serves reads through the gateway for a few
   seconds, then the proportional set size (PSS, ``/proc/PID/smaps_rollup``: a
   shared page counts 1/n in each of its n processes, so the sum is what the
   system really holds) and RSS of every process: launcher, broker, fork
   server, each instance.
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
from emporium.launcher.nats import free_port

EMPORIUM = str(Path(sys.executable).parent / "emporium")
RESULTS = Path(__file__).parent / "results" / "startup.md"


def environment(mode: str, before: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if mode == "exec":
        env["EMPORIUM_LAUNCHER_FORK"] = "false"
    elif mode == "before":
        assert before is not None
        env["PYTHONPATH"] = before
    return env


def cli(var_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emporium.cli", *args, "--var-dir", str(var_dir)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )


def up(var_dir: Path, env: dict[str, str]) -> float:
    started = time.monotonic()
    result = cli(var_dir, env, "up", "--detach", "--gateway-port", str(free_port()))
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"emporium up failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def smaps(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in KiB."""
    values = {"Pss:": 0, "Rss:": 0}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(" ")
        if key in values:
            values[key] = int(rest.split()[0])
    return values["Pss:"], values["Rss:"]


def processes(var_dir: Path, env: dict[str, str]) -> dict[str, int]:
    status = json.loads(cli(var_dir, env, "status", "--json").stdout)
    pids = {i["instance"]: i["pid"] for i in status}
    launcher = int((var_dir / "run" / "launcher.pid").read_text().split()[0])
    pids["launcher"] = launcher
    nats = var_dir / "nats" / "nats-server.pid"
    if nats.exists():
        pids["nats-server"] = int(nats.read_text())
    children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    instance_pids = set(pids.values())
    for child in map(int, children):
        if child not in instance_pids:  # the fork server (the parent of the instances)
            pids["fork server"] = child
    return pids


def warm_up(gateway: str, seconds: float) -> None:
    with urllib.request.urlopen(f"{gateway}/api/catalog/products?limit=1") as response:
        product = json.load(response)["items"][0]["id"]
    for path in ("/api/catalog/products?limit=20", f"/api/catalog/products/{product}", "/"):
        asyncio.run(run_load(f"{gateway}{path}", 8, seconds / 3))


def memory(mode: str, env: dict[str, str], settle: float) -> dict[str, tuple[int, int]]:
    var_dir = Path(tempfile.mkdtemp(prefix="emp-bench-"))
    try:
        up(var_dir, env)
        state = json.loads((var_dir / "run" / "state").read_text())
        warm_up(state["summary"]["gateway_url"], 6.0)
        time.sleep(settle)
        return {name: smaps(pid) for name, pid in processes(var_dir, env).items()}
    finally:
        cli(var_dir, env, "down")
        shutil.rmtree(var_dir, ignore_errors=True)


def cold_starts(modes: list[str], rounds: int, before: str | None) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    for round_ in range(rounds):
        order = modes if round_ % 2 == 0 else list(reversed(modes))
        for mode in order:
            env = environment(mode, before)
            var_dir = Path(tempfile.mkdtemp(prefix="emp-bench-"))
            try:
                seconds[mode].append(up(var_dir, env))
            finally:
                cli(var_dir, env, "down")
                shutil.rmtree(var_dir, ignore_errors=True)
    return seconds


def report(
    starts: dict[str, list[float]],
    memories: dict[str, dict[str, tuple[int, int]]],
    args: argparse.Namespace,
    load: tuple[float, float, float],
) -> str:
    lines = [
        "# Start-up and memory: fork server vs new interpreters",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the start "
        f"(`python -m bench.startup{' --before ' + args.before if args.before else ''}`).",
        "",
        f"## `emporium up --detach` until every instance is ready ({args.rounds} interleaved "
        "rounds, fresh var dir each)",
        "",
        "| mode | median s | runs (s) |",
        "|---|---:|---|",
    ]
    for mode, seconds in starts.items():
        runs = ", ".join(f"{v:.2f}" for v in seconds)
        lines.append(f"| {mode} | {statistics.median(seconds):.2f} | {runs} |")
    lines += [
        "",
        "## Memory after warm-up (every process of the system)",
        "",
        "| process | " + " | ".join(f"{m} PSS MiB | {m} RSS MiB" for m in memories) + " |",
        "|---|" + "---:|---:|" * len(memories),
    ]
    names = sorted({name for rows in memories.values() for name in rows})
    for name in names:
        cells = []
        for rows in memories.values():
            pss, rss = rows.get(name, (0, 0))
            cells.append(f"{pss / 1024:.1f} | {rss / 1024:.1f}" if name in rows else "- | -")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = []
    for rows in memories.values():
        pss_mib = sum(p for p, _ in rows.values()) / 1024
        rss_mib = sum(r for _, r in rows.values()) / 1024
        totals.append(f"**{pss_mib:.0f}** | {rss_mib:.0f}")
    lines.append("| **total** | " + " | ".join(totals) + " |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after warm-up")
    parser.add_argument("--before", help="a source tree (its src/) to compare with")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    modes = ["fork", "exec"] + (["before"] if args.before else [])
    load = os.getloadavg()
    starts = cold_starts(modes, args.rounds, args.before)
    memories = {mode: memory(mode, environment(mode, args.before), args.settle) for mode in modes}
    text = report(starts, memories, args, load)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
