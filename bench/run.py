"""Run every benchmark in turn (``make bench``); each writes bench/results/<name>.md.

``python -m bench.run skeleton catalog`` runs only those.
"""

from __future__ import annotations

import subprocess
import sys

from bench import stop_on_sigterm

BENCHMARKS = [
    "skeleton",
    "startup",
    "http_clients",
    "catalog",
    "inventory",
    "identity",
    "checkout",
    "outbox",
    "sqlite_driver",
    "saga_load",
    "hop_cost",
    "relay_claim",
    "log_lines",
    "overload",
    "scaling",
    "freeze",
    "tracing",
]


def main() -> None:
    chosen = sys.argv[1:] or BENCHMARKS
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    failed = [name for name in chosen if run_one(name) != 0]
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


def run_one(name: str) -> int:
    """Run one benchmark; on SIGTERM, pass it on and wait while it stops what it started."""
    child = subprocess.Popen([sys.executable, "-m", f"bench.{name}"])
    try:
        return child.wait()
    except SystemExit:
        child.terminate()
        child.wait(timeout=120)
        raise


if __name__ == "__main__":
    stop_on_sigterm()
    main()
