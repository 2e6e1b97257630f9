"""The port every cart store implements; the contract tests hold both to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable
from uuid import UUID

from emporium.chassis import UnitOfWork
from emporium.services.cart.domain import Cart, CartLine

__all__ = ["CartRepository"]


@runtime_checkable
class CartRepository(Protocol):
    """Where carts live: one per user, lines keyed by product, indexed by product.

    Every method is atomic on its own: two concurrent ``put_line`` calls on one
    cart both land (no lost update), and a message effect happens entirely or
    not at all. Message methods run inside the consumer's unit of work ``uow``
    (whose inbox row commits with a SQL effect); a store outside that database
    deduplicates on ``message_id`` itself, atomically with the effect. They
    return how many lines changed (0 for a duplicate).

    Also a chassis component: started before messaging, and its ``ready`` is the
    readiness of the store in use.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...

    async def get(self, user_id: UUID) -> Cart: ...

    async def put_line(self, user_id: UUID, line: CartLine, *, max_lines: int) -> bool:
        """Add or replace the line for ``line.product_id``, keeping when it was added
        and the time of its last price event. False, and nothing changed, when the
        line is new and the cart holds ``max_lines`` lines already."""
        ...

    async def remove_line(self, user_id: UUID, product_id: UUID) -> None: ...

    async def clear(self, user_id: UUID) -> None: ...

    async def reprice(
        self,
        uow: UnitOfWork,
        message_id: UUID,
        product_id: UUID,
        unit_price: int,
        currency: str,
        as_of: int,
    ) -> int:
        """Every line of ``product_id`` takes the new price unless it holds a newer one."""
        ...

    async def withdraw(self, uow: UnitOfWork, message_id: UUID, product_id: UUID) -> int:
        """Every line of ``product_id`` is flagged unavailable."""
        ...

    async def remove_products(
        self, uow: UnitOfWork, message_id: UUID, user_id: UUID, product_ids: Sequence[UUID]
    ) -> int:
        """The user's lines of these products go (what an order bought leaves the cart)."""
        ...
