"""The "bought together" rules: what an order teaches, and what is recommended.

Plain data and functions, no I/O; both stores feed :func:`recommend` and so
rank, break ties and fall back the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import permutations
from uuid import UUID

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Reason",
    "Recommendation",
    "Recommendations",
    "co_purchases",
    "recommend",
]

DEFAULT_LIMIT = 5
MAX_LIMIT = 20


class Reason(StrEnum):
    BOUGHT_TOGETHER = "bought_together"
    SAME_CATEGORY = "same_category"


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One product to show. ``score`` is the number of orders that held both
    products (``bought_together``) or the number of categories they share
    (``same_category``)."""

    product_id: UUID
    score: int
    reason: Reason


@dataclass(frozen=True, slots=True)
class Recommendations:
    items: tuple[Recommendation, ...]

    @property
    def fallback(self) -> bool:
        """True when nothing was bought with the product, so every item is a
        same-category guess."""
        return all(item.reason is Reason.SAME_CATEGORY for item in self.items)


def co_purchases(product_ids: Iterable[UUID]) -> list[tuple[UUID, UUID]]:
    """Every ordered pair of distinct products in one order, each pair once.

    One order adds 1 to each pair however many units or lines it has of either
    product: the score counts orders, not units. Both directions are listed so
    a store can answer "with this product" by looking up one key.
    """
    distinct = sorted(set(product_ids), key=str)
    return list(permutations(distinct, 2))


def _ranked(scores: Mapping[UUID, int], reason: Reason) -> list[Recommendation]:
    # Best first; equal scores by product id so every replica and both stores
    # answer in the same order.
    ordered = sorted(scores.items(), key=lambda item: (-item[1], str(item[0])))
    return [Recommendation(product_id, score, reason) for product_id, score in ordered if score > 0]


def recommend(
    product_id: UUID,
    together: Mapping[UUID, int],
    same_category: Mapping[UUID, int],
    limit: int = DEFAULT_LIMIT,
) -> Recommendations:
    """Up to ``limit`` products to show with ``product_id``.

    Products bought with it come first, best first. While there are fewer than
    ``limit`` of them (none at all before any order), products sharing a
    category fill the rest, marked ``same_category``. The product itself is
    never recommended; the caller passes only products the catalog still has.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    chosen = [r for r in _ranked(together, Reason.BOUGHT_TOGETHER) if r.product_id != product_id]
    seen = {r.product_id for r in chosen} | {product_id}
    chosen += [r for r in _ranked(same_category, Reason.SAME_CATEGORY) if r.product_id not in seen]
    return Recommendations(tuple(chosen[:limit]))
