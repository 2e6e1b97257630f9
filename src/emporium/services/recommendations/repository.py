"""The port every recommendations store implements; one test suite holds both to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from uuid import UUID

from emporium.chassis import UnitOfWork

__all__ = ["BACKFILL", "ProductFacts", "RecommendationStore"]

# An ``as_of`` lower than any event's: what a backfill learns about a product
# only fills a gap, and any event about that product overrides it.
BACKFILL = 0


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What recommendations knows of a catalog product: its categories, and
    ``as_of`` (epoch microseconds) of the catalog event they came from."""

    product_id: UUID
    categories: tuple[str, ...]
    as_of: int
    deleted: bool = False


@runtime_checkable
class RecommendationStore(Protocol):
    """The bought-together graph and the catalog facts it is filtered by.

    Rules every store keeps:

    - an order counts once, by order id, however often and by whichever path
      (its event redelivered, republished, or read again by a backfill) it
      arrives: ``add_order`` is a no-op for an order id already added;
    - a product's categories are those of the newest catalog fact by ``as_of``
      (an older event arriving late changes nothing); a deletion is final;
    - reads return only products the catalog still has (known, not deleted).

    Methods taking ``uow`` run inside the consumer's unit of work: a SQL store
    writes in its transaction (the chassis inbox row commits with the effect);
    a store outside that database makes each call atomic on its own and
    deduplicates by order id itself. Each is atomic: all of its effect or none.

    Also a chassis component: started before messaging, and its ``ready`` is
    the readiness of the store in use.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...

    async def add_order(self, uow: UnitOfWork, order_id: UUID, product_ids: Sequence[UUID]) -> bool:
        """Count one order's products as bought together; False if already counted."""
        ...

    async def learn_product(self, uow: UnitOfWork, facts: ProductFacts) -> bool:
        """Record a product's categories unless newer ones are known or it is
        deleted; True if they were recorded."""
        ...

    async def forget_product(self, uow: UnitOfWork, product_id: UUID, as_of: int) -> None:
        """The product is deleted, for good: never recommended, 404 when asked about."""
        ...

    async def product(self, product_id: UUID) -> ProductFacts | None:
        """The product's facts (deleted ones too), None if no catalog fact arrived."""
        ...

    async def together(self, product_id: UUID) -> dict[UUID, int]:
        """Live products bought with ``product_id``, with how many orders held both."""
        ...

    async def same_category(self, product_id: UUID) -> dict[UUID, int]:
        """Other live products sharing a category with it, with how many they share."""
        ...

    async def backfilled(self) -> bool:
        """True once a backfill has completed on this store."""
        ...

    async def mark_backfilled(self) -> None: ...
