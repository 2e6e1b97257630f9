"""A bulkhead: at most ``limit`` calls in progress to one upstream, the rest fail fast.

Without it, one slow upstream holds every connection and every waiting request
of its caller, and the caller stops answering for everything else too. With it,
the slow upstream costs at most ``limit`` requests; the next one is refused at
once (the caller answers 503) instead of queueing for a connection.

Pure bookkeeping (no asyncio): a counter checked and moved in one step of the
event loop.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Bulkhead"]


class Bulkhead:
    """Counts calls in progress to one upstream. ``on_change(in_flight)`` sees each move."""

    def __init__(self, limit: int, *, on_change: Callable[[int], None] | None = None) -> None:
        if limit < 1:
            raise ValueError("a bulkhead's limit must be at least 1")
        self.limit = limit
        self.in_flight = 0
        self.rejected = 0
        self._on_change = on_change

    def try_enter(self) -> bool:
        """True and one more call in progress, or False when full (call refused)."""
        if self.in_flight >= self.limit:
            self.rejected += 1
            return False
        self.in_flight += 1
        if self._on_change is not None:
            self._on_change(self.in_flight)
        return True

    def leave(self) -> None:
        """A call admitted by :meth:`try_enter` ended, however it ended."""
        if self.in_flight <= 0:
            raise RuntimeError("Bulkhead.leave() without a matching try_enter()")
        self.in_flight -= 1
        if self._on_change is not None:
            self._on_change(self.in_flight)
