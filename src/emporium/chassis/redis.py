"""A Redis connection as a chassis component, for stores and limits kept in Redis.

Lifecycle: :meth:`RedisConnection.start` makes the client (lazily connecting,
with short timeouts so a dead Redis fails a call fast instead of hanging it)
and calls :meth:`RedisConnection.on_connect`, where a subclass registers its
Lua scripts; :meth:`ready` pings; :meth:`stop` closes. A subclass adds the
operations; the chassis starts and stops it like any component.
"""

from __future__ import annotations

import redis.asyncio as redis

__all__ = ["RedisConnection"]


class RedisConnection:
    """Owns one ``redis.asyncio`` client from ``url``; see the module docstring."""

    def __init__(self, url: str, *, timeout: float = 2.0, decode_responses: bool = True) -> None:
        self.url = url
        self.timeout = timeout
        self.decode_responses = decode_responses
        self._client: redis.Redis | None = None

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._client

    def on_connect(self, client: redis.Redis) -> None:
        """Register scripts on a new client (nothing by default)."""

    async def start(self) -> None:
        self._client = redis.Redis.from_url(
            self.url,
            decode_responses=self.decode_responses,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
        )
        self.on_connect(self._client)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ready(self) -> bool:
        return bool(await self.client.ping())
