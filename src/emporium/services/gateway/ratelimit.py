"""Token-bucket rate limits: in memory for one gateway, or in Redis for many.

A :class:`Rule` is a refill ``rate`` (tokens per second) and a ``burst``
(bucket size). :meth:`take` spends one token from the bucket named ``key`` and
answers whether the request may pass and, if not, how long until it could.

:class:`RedisLimiter` keeps each bucket in a Redis hash updated by one Lua
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

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from emporium.chassis.redis import RedisConnection

__all__ = ["Decision", "Limiter", "MemoryLimiter", "RedisLimiter", "Rule"]

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


_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class RedisLimiter(RedisConnection):
    """Buckets shared by every gateway that uses the same Redis and ``prefix``."""

    def __init__(self, url: str, *, prefix: str = "emporium:ratelimit:") -> None:
        # A short timeout: a slow Redis must not slow every request at the edge.
        super().__init__(url, timeout=0.5, decode_responses=False)
        self.prefix = prefix
        self._fallback = MemoryLimiter()
        self._warned_at = float("-inf")

    def on_connect(self, client: aioredis.Redis) -> None:
        self._script = client.register_script(_TAKE)

    async def ready(self) -> bool:
        # Not a readiness condition: without Redis the limits fall back to local ones.
        return True

    async def take(self, key: str, rule: Rule) -> Decision:
        try:
            allowed, wait = await self._script(
                keys=[self.prefix + key], args=[rule.rate, rule.burst]
            )
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._warned_at > 10:
                self._warned_at = now
                logger.warning("rate limits fall back to this gateway's memory: %s", exc)
            return await self._fallback.take(key, rule)
        return Decision(bool(int(allowed)), float(wait))
