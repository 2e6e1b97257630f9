"""The cart in Redis (production): a hash per user, a set per product, Lua for atomicity.

Keys (``<p>`` is the configured prefix):

- ``<p>:cart:<user_id>`` hash: product id -> the line as JSON;
- ``<p>:product:<product_id>`` set: user ids whose cart holds that product;
- ``<p>:seen:<consumer>:<message_id>``: a handled message, kept for ``seen_ttl``.

Every change is one Lua script, so the cart hash, the product index and the
seen-marker move together and concurrent writers never lose an update. Scripts
build some key names themselves, which ties this store to one Redis node (not
Redis Cluster); see docs/decisions/0010-cart.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import redis.asyncio as redis

from emporium.chassis import UnitOfWork
from emporium.chassis.redis import RedisConnection
from emporium.services.cart.domain import Cart, CartLine

__all__ = ["RedisCartRepository"]

# KEYS: cart, index. ARGV: product, user, line json, max lines.
_PUT_LINE = """
local line = cjson.decode(ARGV[3])
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  local old = cjson.decode(existing)
  line['added_at'] = old['added_at']
  line['price_as_of'] = old['price_as_of']
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(line))
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""

# KEYS: cart. ARGV: index key prefix, user.
_CLEAR = """
for _, product in ipairs(redis.call('HKEYS', KEYS[1])) do
  redis.call('SREM', ARGV[1] .. product, ARGV[2])
end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: index, seen. ARGV: product, cart key prefix, ttl, mode, price, currency, as_of.
# mode "price": lines take the price unless they hold a newer one; "withdraw": flagged.
_EACH_LINE_OF_PRODUCT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local changed = 0
for _, user in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local cart = ARGV[2] .. user
  local raw = redis.call('HGET', cart, ARGV[1])
  if not raw then
    redis.call('SREM', KEYS[1], user)
  else
    local line = cjson.decode(raw)
    local write = false
    if ARGV[4] == 'price' then
      local as_of = tonumber(ARGV[7])
      if (tonumber(line['price_as_of']) or 0) <= as_of then
        line['unit_price'] = tonumber(ARGV[5])
        line['currency'] = ARGV[6]
        line['price_as_of'] = as_of
        write = true
      end
    elseif line['available'] then
      line['available'] = false
      write = true
    end
    if write then
      redis.call('HSET', cart, ARGV[1], cjson.encode(line))
      changed = changed + 1
    end
  end
end
redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))
return changed
"""

# KEYS: cart, seen. ARGV: index key prefix, user, ttl, product ids...
_REMOVE_PRODUCTS = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local removed = 0
for i = 4, #ARGV do
  removed = removed + redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('SREM', ARGV[1] .. ARGV[i], ARGV[2])
end
redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))
return removed
"""


def _encode(line: CartLine) -> str:
    # Integers stay below 2**53 (cents, epoch ms), so Lua's cjson keeps them exact.
    return json.dumps(
        {
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "currency": line.currency,
            "available": line.available,
            "price_as_of": line.price_as_of,
            "added_at": line.added_at,
        },
        separators=(",", ":"),
    )


def _decode(product_id: str, raw: str) -> CartLine:
    data: dict[str, Any] = json.loads(raw)
    return CartLine(
        product_id=UUID(product_id),
        sku=str(data["sku"]),
        name=str(data["name"]),
        quantity=int(data["quantity"]),
        unit_price=int(data["unit_price"]),
        currency=str(data["currency"]),
        available=bool(data["available"]),
        price_as_of=int(data.get("price_as_of") or 0),
        added_at=int(data.get("added_at") or 0),
    )


class RedisCartRepository(RedisConnection):
    """:class:`~emporium.services.cart.repository.CartRepository` on Redis.

    Message effects do not join the consumer's SQL transaction (``uow`` is
    unused): each is one Lua script that checks and sets a seen-marker for
    ``(consumer, message id)`` with the effect, so a redelivery after a crash
    between the script and the SQL inbox commit changes nothing.
    """

    def __init__(self, url: str, *, prefix: str = "emporium:cart", seen_ttl: int = 604800) -> None:
        super().__init__(url)
        self.prefix = prefix
        self.seen_ttl = seen_ttl

    def _cart(self, user_id: UUID | str) -> str:
        return f"{self.prefix}:cart:{user_id}"

    def _index(self, product_id: UUID | str) -> str:
        return f"{self.prefix}:product:{product_id}"

    def _seen(self, consumer: str, message_id: UUID) -> str:
        return f"{self.prefix}:seen:{consumer}:{message_id}"

    def on_connect(self, client: redis.Redis) -> None:
        self._put = client.register_script(_PUT_LINE)
        self._clear = client.register_script(_CLEAR)
        self._each_line = client.register_script(_EACH_LINE_OF_PRODUCT)
        self._remove_products = client.register_script(_REMOVE_PRODUCTS)

    async def get(self, user_id: UUID) -> Cart:
        raw = await self.client.hgetall(self._cart(user_id))
        return Cart.of(
            user_id, [_decode(str(product), str(value)) for product, value in raw.items()]
        )

    async def put_line(self, user_id: UUID, line: CartLine, *, max_lines: int) -> bool:
        keys = [self._cart(user_id), self._index(line.product_id)]
        args: list[str | int] = [str(line.product_id), str(user_id), _encode(line), max_lines]
        return bool(await self._put(keys=keys, args=args))

    async def remove_line(self, user_id: UUID, product_id: UUID) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(self._cart(user_id), str(product_id))
            pipe.srem(self._index(product_id), str(user_id))
            await pipe.execute()

    async def clear(self, user_id: UUID) -> None:
        await self._clear(keys=[self._cart(user_id)], args=[self._index(""), str(user_id)])

    async def reprice(
        self,
        uow: UnitOfWork,
        message_id: UUID,
        product_id: UUID,
        unit_price: int,
        currency: str,
        as_of: int,
    ) -> int:
        keys = [self._index(product_id), self._seen("PriceChanged", message_id)]
        args: list[str | int] = [str(product_id), self._cart(""), self.seen_ttl, "price"]
        args += [unit_price, currency, as_of]
        return int(await self._each_line(keys=keys, args=args))

    async def withdraw(self, uow: UnitOfWork, message_id: UUID, product_id: UUID) -> int:
        keys = [self._index(product_id), self._seen("ProductDeleted", message_id)]
        args: list[str | int] = [str(product_id), self._cart(""), self.seen_ttl, "withdraw"]
        args += [0, "-", 0]
        return int(await self._each_line(keys=keys, args=args))

    async def remove_products(
        self, uow: UnitOfWork, message_id: UUID, user_id: UUID, product_ids: Sequence[UUID]
    ) -> int:
        keys = [self._cart(user_id), self._seen("OrderConfirmed", message_id)]
        args: list[str | int] = [self._index(""), str(user_id), self.seen_ttl]
        args += [str(p) for p in product_ids]
        return int(await self._remove_products(keys=keys, args=args))
