"""The caller's deadline, carried with every call so no one works past it.

A request's remaining time travels in the ``X-Emporium-Deadline-Ms`` header as
whole milliseconds left (like gRPC's ``grpc-timeout``: a duration, so the two
hosts' clocks need not agree). The gateway starts it from its own timeout for
the service; the chassis middleware reads it into :data:`current` as an
absolute time on this process's monotonic clock; the outbound client sends
what is left (and never waits longer); the middleware answers 504 once it is
spent.

Work that must not be cut in half (a transaction about to commit) runs under
:func:`finishing`: the middleware's timer is disarmed there, so the work
completes and its answer is sent, late or not.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = [
    "HEADER",
    "DeadlineExceededError",
    "current",
    "finishing",
    "format_remaining",
    "parse_remaining",
    "remaining",
]

HEADER = "x-emporium-deadline-ms"
# A caller may not ask us to hold work longer than this, whatever it sends.
_MAX_MS = 3_600_000

# Absolute time (time.monotonic()) by which the current request must be answered.
current: ContextVar[float | None] = ContextVar("deadline", default=None)
# The middleware's timer for the current request, so finishing() can disarm it.
timer: ContextVar[asyncio.Timeout | None] = ContextVar("deadline_timer", default=None)


class DeadlineExceededError(Exception):
    """The caller's deadline has passed: whatever is left would be answered too late."""


def parse_remaining(value: str | None) -> float | None:
    """Seconds left from a header value; None when absent or unreadable (no deadline).

    Negative or zero means already spent; absurdly large values are capped.
    """
    if value is None:
        return None
    text = value.strip()
    if not text or not text.lstrip("-").isdigit():
        return None
    return min(int(text), _MAX_MS) / 1000


def format_remaining(seconds: float) -> str:
    """The header value for ``seconds`` left (rounded down, never below 0)."""
    return str(max(0, math.floor(seconds * 1000)))


def remaining(now: float | None = None) -> float | None:
    """Seconds left before the current request's deadline; None without one."""
    deadline = current.get()
    if deadline is None:
        return None
    return deadline - (time.monotonic() if now is None else now)


@contextmanager
def finishing() -> Iterator[None]:
    """Let the work inside complete even if the deadline passes meanwhile.

    For the step that makes a request's effect real (a commit): cancelling it
    halfway would answer 504 for work that happened. Check :func:`remaining`
    before entering; the timer stays disarmed for the rest of the request.
    """
    armed = timer.get()
    if armed is not None and not armed.expired():
        armed.reschedule(None)
    yield
