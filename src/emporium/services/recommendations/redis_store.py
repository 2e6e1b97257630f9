"""The recommendations store in Redis (production): sorted sets, Lua for atomicity.

Keys (``<p>`` is the configured prefix):

- ``<p>:together:<product_id>`` sorted set: other product id -> orders holding both;
- ``<p>:product:<product_id>`` hash: ``as_of``, ``deleted`` (0/1), ``categories`` (JSON);
- ``<p>:category:<slug>`` set: live product ids in that category;
- ``<p>:orders`` set: order ids already counted (the seen-marker, by order id);
- ``<p>:backfilled``: present once a backfill has completed.

Each write is one Lua script, so an order's seen-marker and all its increments,
or a product's facts and its category sets, move together. Scripts build key
names themselves, which ties this store to one Redis node (not Redis Cluster),
as cart's does (docs/decisions/0010-cart.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

import redis.asyncio as redis

from emporium.chassis import UnitOfWork
from emporium.chassis.redis import RedisConnection
from emporium.services.recommendations.graph import co_purchases
from emporium.services.recommendations.repository import ProductFacts

__all__ = ["RedisRecommendationStore"]

# KEYS: orders set. ARGV: order id, together key prefix, then pairs (a, b)...
_ADD_ORDER = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = 3, #ARGV, 2 do
  redis.call('ZINCRBY', ARGV[2] .. ARGV[i], 1, ARGV[i + 1])
end
return 1
"""

# KEYS: product hash. ARGV: product id, as_of, category key prefix, categories json.
_LEARN = """
local current = redis.call('HMGET', KEYS[1], 'as_of', 'deleted', 'categories')
if current[2] == '1' then return 0 end
if current[1] and tonumber(current[1]) > tonumber(ARGV[2]) then return 0 end
if current[3] then
  for _, category in ipairs(cjson.decode(current[3])) do
    redis.call('SREM', ARGV[3] .. category, ARGV[1])
  end
end
for _, category in ipairs(cjson.decode(ARGV[4])) do
  redis.call('SADD', ARGV[3] .. category, ARGV[1])
end
redis.call('HSET', KEYS[1], 'as_of', ARGV[2], 'deleted', '0', 'categories', ARGV[4])
return 1
"""

# KEYS: product hash. ARGV: product id, as_of, category key prefix.
_FORGET = """
local known = redis.call('HGET', KEYS[1], 'categories')
if known then
  for _, category in ipairs(cjson.decode(known)) do
    redis.call('SREM', ARGV[3] .. category, ARGV[1])
  end
end
if redis.call('HEXISTS', KEYS[1], 'as_of') == 0 then
  redis.call('HSET', KEYS[1], 'as_of', ARGV[2])
end
redis.call('HSET', KEYS[1], 'deleted', '1', 'categories', '[]')
return 1
"""


def _categories_json(names: Sequence[str]) -> str:
    # cjson encodes an empty Lua table as {}, so the empty list is written here.
    return json.dumps(sorted(set(names)))


class RedisRecommendationStore(RedisConnection):
    """:class:`~emporium.services.recommendations.repository.RecommendationStore` on Redis.

    The ``uow`` argument is not used: effects are atomic scripts in Redis, and
    the order seen-marker is set in the same script as the increments, so a
    message handled twice, or an order read again by a backfill, counts once.
    Catalog facts need no marker: applying one twice leaves the same state.
    """

    def __init__(self, url: str, *, prefix: str = "emporium:recommendations") -> None:
        super().__init__(url)
        self.prefix = prefix

    def _product(self, product_id: UUID | str) -> str:
        return f"{self.prefix}:product:{product_id}"

    def _together(self, product_id: UUID | str) -> str:
        return f"{self.prefix}:together:{product_id}"

    def _category(self, category: str) -> str:
        return f"{self.prefix}:category:{category}"

    def on_connect(self, client: redis.Redis) -> None:
        self._add_order = client.register_script(_ADD_ORDER)
        self._learn = client.register_script(_LEARN)
        self._forget = client.register_script(_FORGET)

    async def add_order(self, uow: UnitOfWork, order_id: UUID, product_ids: Sequence[UUID]) -> bool:
        args: list[str] = [str(order_id), self._together("")]
        for a, b in co_purchases(product_ids):
            args += [str(a), str(b)]
        return bool(await self._add_order(keys=[f"{self.prefix}:orders"], args=args))

    async def learn_product(self, uow: UnitOfWork, facts: ProductFacts) -> bool:
        args: list[str | int] = [str(facts.product_id), facts.as_of, self._category("")]
        args.append(_categories_json(facts.categories))
        return bool(await self._learn(keys=[self._product(facts.product_id)], args=args))

    async def forget_product(self, uow: UnitOfWork, product_id: UUID, as_of: int) -> None:
        args: list[str | int] = [str(product_id), as_of, self._category("")]
        await self._forget(keys=[self._product(product_id)], args=args)

    async def product(self, product_id: UUID) -> ProductFacts | None:
        as_of, deleted, names = await self.client.hmget(
            self._product(product_id), ["as_of", "deleted", "categories"]
        )
        if as_of is None:
            return None
        return ProductFacts(
            product_id, tuple(json.loads(names or "[]")), int(as_of), deleted == "1"
        )

    async def _live(self, candidates: Sequence[str]) -> list[str]:
        async with self.client.pipeline(transaction=False) as pipe:
            for candidate in candidates:
                pipe.hmget(self._product(candidate), ["as_of", "deleted"])
            facts = await pipe.execute()
        return [
            candidate
            for candidate, (as_of, deleted) in zip(candidates, facts, strict=True)
            if as_of is not None and deleted != "1"
        ]

    async def together(self, product_id: UUID) -> dict[UUID, int]:
        # The whole set: a product's neighbours are at most the catalog, and the
        # ranking (with its tie-break) is the domain's, shared with the SQL store.
        scored = await self.client.zrange(self._together(product_id), 0, -1, withscores=True)
        scores = {str(pair[0]): int(pair[1]) for pair in scored}
        return {UUID(member): scores[member] for member in await self._live(list(scores))}

    async def same_category(self, product_id: UUID) -> dict[UUID, int]:
        facts = await self.product(product_id)
        if facts is None or facts.deleted or not facts.categories:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for category in facts.categories:
                pipe.smembers(self._category(category))
            members: list[set[str]] = await pipe.execute()
        shared: dict[UUID, int] = {}
        for member in (m for group in members for m in group if m != str(product_id)):
            shared[UUID(member)] = shared.get(UUID(member), 0) + 1
        return shared

    async def backfilled(self) -> bool:
        return bool(await self.client.exists(f"{self.prefix}:backfilled"))

    async def mark_backfilled(self) -> None:
        await self.client.set(f"{self.prefix}:backfilled", "1")
