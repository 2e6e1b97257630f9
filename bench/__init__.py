"""Load scenarios and benchmarks; results are written under bench/results/."""

from __future__ import annotations

import signal
import sys
from types import FrameType

__all__ = ["stop_on_sigterm"]


def stop_on_sigterm() -> None:
    """Let SIGTERM end a benchmark the way Ctrl-C does: it raises in the main
    thread, so the ``finally`` blocks run and stop the systems, brokers and
    children the benchmark started (killed, they went on running and loading
    the machine). Called by each benchmark's ``__main__`` block only."""
    signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, _frame: FrameType | None) -> None:
    sys.exit(128 + signum)
