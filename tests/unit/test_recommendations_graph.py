"""The bought-together rules, without I/O: what an order teaches, what is recommended."""

from __future__ import annotations

import uuid
from uuid import UUID

import pytest

from emporium.services.recommendations.graph import (
    MAX_LIMIT,
    Reason,
    co_purchases,
    recommend,
)


def ids(count: int) -> list[UUID]:
    return sorted((uuid.uuid4() for _ in range(count)), key=str)


def test_an_order_pairs_every_two_distinct_products_in_both_directions() -> None:
    a, b, c = ids(3)
    assert sorted(co_purchases([c, a, b]), key=str) == sorted(
        [(a, b), (b, a), (a, c), (c, a), (b, c), (c, b)], key=str
    )


def test_a_product_on_two_lines_of_one_order_counts_once() -> None:
    a, b = ids(2)
    assert sorted(co_purchases([a, b, a]), key=str) == sorted([(a, b), (b, a)], key=str)


def test_an_order_of_one_product_teaches_nothing() -> None:
    (a,) = ids(1)
    assert co_purchases([a, a]) == []


def test_bought_together_ranks_best_first_and_breaks_ties_by_product_id() -> None:
    product, low, tie_first, tie_second = ids(4)
    found = recommend(product, {tie_second: 3, low: 1, tie_first: 3}, {})
    assert [(r.product_id, r.score) for r in found.items] == [
        (tie_first, 3),
        (tie_second, 3),
        (low, 1),
    ]
    assert {r.reason for r in found.items} == {Reason.BOUGHT_TOGETHER}
    assert not found.fallback


def test_the_product_itself_is_never_recommended() -> None:
    product, other = ids(2)
    found = recommend(product, {product: 9, other: 1}, {product: 2})
    assert [r.product_id for r in found.items] == [other]


def test_without_history_same_category_products_are_recommended_and_marked() -> None:
    product, one_shared, two_shared = ids(3)
    found = recommend(product, {}, {one_shared: 1, two_shared: 2})
    assert [(r.product_id, r.score, r.reason) for r in found.items] == [
        (two_shared, 2, Reason.SAME_CATEGORY),
        (one_shared, 1, Reason.SAME_CATEGORY),
    ]
    assert found.fallback


def test_same_category_products_fill_in_after_bought_together_without_repeats() -> None:
    product, bought, also_category, only_category = ids(4)
    found = recommend(product, {bought: 1}, {bought: 3, only_category: 1, also_category: 1})
    assert [(r.product_id, r.reason) for r in found.items] == [
        (bought, Reason.BOUGHT_TOGETHER),
        (also_category, Reason.SAME_CATEGORY),
        (only_category, Reason.SAME_CATEGORY),
    ]
    assert not found.fallback


def test_limit_keeps_the_best() -> None:
    product, *others = ids(8)
    together = {other: score for score, other in enumerate(others, start=1)}
    found = recommend(product, together, {}, limit=3)
    assert [r.product_id for r in found.items] == others[::-1][:3]


def test_nothing_known_recommends_nothing_as_a_fallback() -> None:
    (product,) = ids(1)
    found = recommend(product, {}, {})
    assert found.items == ()
    assert found.fallback


@pytest.mark.parametrize("limit", [0, MAX_LIMIT + 1])
def test_a_limit_out_of_bounds_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        recommend(uuid.uuid4(), {}, {}, limit=limit)
