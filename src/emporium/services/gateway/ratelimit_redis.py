"""Rate limit buckets in Redis, shared by every gateway (see :mod:`.ratelimit`).

A module of its own so that a gateway without Redis never imports the client.
Each bucket is a Redis hash updated by one Lua script (atomic, on the Redis
server's clock, so gateways with skewed clocks agree), expiring after a full
refill. If Redis is unreachable the limits fall back to this gateway's memory
rather than refusing traffic: a limiter outage must not become a site outage.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from emporium.chassis.redis import RedisConnection
from emporium.services.gateway.ratelimit import Decision, MemoryLimiter, Rule

__all__ = ["RedisLimiter"]

logger = logging.getLogger(__name__)


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
