"""The open loop: requests start at a fixed rate whatever earlier ones are doing.

A closed loop (N users, each waiting for its answer) slows down with the system
and hides the wait it causes ("coordinated omission"). Here arrival ``i`` is
*intended* at ``start + i / rate``; ``send`` gets that intended time and measures
its latency from it, so a generator that falls behind, or a server that stalls,
shows up in the latency instead of silently lowering the rate. :attr:`max_lag`
says how late the generator itself was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["OpenLoop"]

T = TypeVar("T")


class OpenLoop(Generic[T]):
    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.max_lag = 0.0  # seconds the generator was late for an arrival, at worst

    def latency(self, intended: float) -> float:
        """Seconds from the intended send time until now."""
        return self.clock() - intended

    async def run(self, count: int, send: Callable[[int, float], Awaitable[T]]) -> list[T]:
        """Start ``send(index, intended_time)`` ``count`` times at the rate; return
        every result, in order, once all have finished."""
        began = self.clock()
        tasks: list[asyncio.Task[T]] = []
        for index in range(count):
            due = began + index / self.rate
            delay = due - self.clock()
            if delay > 0:
                await self.sleep(delay)
            self.max_lag = max(self.max_lag, self.clock() - due)
            tasks.append(asyncio.ensure_future(send(index, due)))
        return list(await asyncio.gather(*tasks))

    def count_for(self, duration: float) -> int:
        return max(1, round(self.rate * duration))
