"""Capped exponential backoff: the one schedule behind every retry in Emporium.

Consumer retries, the outbox relay, the HTTP client's retries and the
launcher's restarts of crashed instances all wait ``Backoff.delay(attempt)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """``base * factor**(attempt-1)`` seconds, never more than ``cap``.

    ``jitter`` (0..1) takes up to that fraction off each delay, so that many
    relays retrying against one broker that is coming back do not knock in step.
    Consumer retries use no jitter so that RabbitMQ's retry queues (one per
    delay) stay a small, fixed set.
    """

    base: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.factor < 1:
            raise ValueError(f"invalid backoff {self!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """The delay before retry number ``attempt`` (1 is the first retry).

        ``rng`` returns a float in [0, 1) and only matters with ``jitter``;
        tests pass a fixed one.
        """
        exponent = max(attempt, 1) - 1
        # Compare exponents rather than computing factor**exponent, which
        # overflows a float for very large attempt counts.
        delay = self.cap
        if exponent < 64:
            delay = min(self.cap, self.base * self.factor**exponent)
        if self.jitter:
            delay -= delay * self.jitter * rng()
        return delay

    def delays(self, attempts: int) -> list[float]:
        """Distinct jitter-free delays for retries ``1..attempts``, in order."""
        seen: list[float] = []
        for attempt in range(1, attempts + 1):
            delay = Backoff(self.base, self.cap, self.factor).delay(attempt)
            if delay not in seen:
                seen.append(delay)
        return seen
