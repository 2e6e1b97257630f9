"""Waiting for something that happens eventually: the one polling helper of the tests.

Call ``probe`` every ``interval`` seconds until ``until(value)`` holds (by default:
until the value is truthy) and return that value. After ``timeout`` seconds the
test fails with ``message``, the last value and, when the last attempt raised
one of the ``ignoring`` exceptions, that exception as the cause.

Exceptions not listed in ``ignoring`` are not retried: they fail the test at once,
so an assertion inside a probe keeps meaning "never", not "eventually".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["eventually", "eventually_async"]

T = TypeVar("T")

_NOTHING = object()


def _timed_out(
    message: str, timeout: float, last: object, error: BaseException | None
) -> AssertionError:
    if error is not None:
        seen = f"the last attempt raised {error!r}"
    elif last is _NOTHING:
        seen = "no attempt finished"
    else:
        seen = f"the last value was {last!r}"
    failure = AssertionError(f"{message} (not within {timeout} s; {seen})")
    failure.__cause__ = error
    return failure


def eventually(
    probe: Callable[[], T],
    until: Callable[[T], object] = bool,
    *,
    timeout: float,
    interval: float = 0.1,
    message: str,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``probe`` until ``until`` holds for its value; return that value."""
    deadline = time.monotonic() + timeout
    last: object = _NOTHING
    while True:
        error: BaseException | None = None
        try:
            value = probe()
        except ignoring as raised:
            error = raised
        else:
            if until(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            raise _timed_out(message, timeout, last, error)
        time.sleep(interval)


async def eventually_async(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], object] = bool,
    *,
    # Not asyncio.timeout: on expiry the failure must carry the last value seen.
    timeout: float,  # noqa: ASYNC109
    interval: float = 0.05,
    message: str,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """:func:`eventually` for a coroutine ``probe``, sleeping without blocking the loop."""
    deadline = time.monotonic() + timeout
    last: object = _NOTHING
    while True:
        error: BaseException | None = None
        try:
            value = await probe()
        except ignoring as raised:
            error = raised
        else:
            if until(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            raise _timed_out(message, timeout, last, error)
        await asyncio.sleep(interval)
