"""Token-bucket rate limits: in memory for one gateway, or in Redis for many.

A :class:`Rule` is a refill ``rate`` (tokens per second) and a ``burst``
(bucket size). :meth:`take` spends one token from the bucket named ``key`` and
answers whether the request may pass and, if not, how long until it could.

:class:`~emporium.services.gateway.ratelimit_redis.RedisLimiter` (imported
only when a Redis URL is set) keeps each bucket in a Redis hash updated by one Lua
script (atomic, using the Redis server's clock so gateways with skewed clocks
agree) with an expiry of a full refill, so idle buckets cost nothing. If Redis
is unreachable it falls back to a local bucket rather than refusing traffic: a
limiter outage must not become a site outage.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Decision", "Limiter", "MemoryLimiter", "Rule"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    rate: float
    burst: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class Limiter(Protocol):
    async def take(self, key: str, rule: Rule) -> Decision: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...


class MemoryLimiter:
    """Buckets in this process; full (idle) buckets are forgotten as it goes."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, sweep_at: int = 10_000):
        self.clock = clock
        self._buckets: dict[str, tuple[float, float, float]] = {}  # tokens, stamp, refill time
        self._sweep_at = sweep_at

    async def take(self, key: str, rule: Rule) -> Decision:
        now = self.clock()
        tokens, stamp, _ = self._buckets.get(key, (float(rule.burst), now, 0.0))
        tokens = min(float(rule.burst), tokens + (now - stamp) * rule.rate)
        refill = rule.burst / rule.rate
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now, refill)
            decision = Decision(True)
        else:
            self._buckets[key] = (tokens, now, refill)
            decision = Decision(False, (1.0 - tokens) / rule.rate)
        if len(self._buckets) > self._sweep_at:
            self._sweep(now)
        return decision

    def _sweep(self, now: float) -> None:
        self._buckets = {
            key: value for key, value in self._buckets.items() if now - value[1] < value[2]
        }

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        return True
