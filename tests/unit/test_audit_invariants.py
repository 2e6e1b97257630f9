"""The audit's invariant checks find exactly the broken cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emporium.audit import Snapshot, check_all
from emporium.audit.invariants import check_idempotency, check_money, check_progress, check_stock

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _stock(**counters: int) -> dict[str, object]:
    base = {
        "sku": "KIT-001",
        "initial": 50,
        "restocked": 0,
        "available": 50,
        "reserved": 0,
        "sold": 0,
    }
    return {**base, **counters}


def _order(status: str, total: int = 1000, **extra: object) -> dict[str, object]:
    return {
        "id": extra.pop("id", f"o-{status}"),
        "status": status,
        "total": {"amount": total, "currency": "USD"},
        "created_at": NOW.isoformat(),
        **extra,
    }


def _payment(order_id: str, captured: int = 0, refunded: int = 0) -> dict[str, object]:
    return {
        "order_id": order_id,
        "captured_amount": {"amount": captured, "currency": "USD"},
        "refunded_amount": {"amount": refunded, "currency": "USD"},
    }


def test_balanced_stock_passes_and_unbalanced_or_negative_fails() -> None:
    assert check_stock([_stock(), _stock(available=40, reserved=5, sold=5)]) == []
    assert check_stock([_stock(restocked=10, available=45, reserved=5, sold=10)]) == []
    [unbalanced] = check_stock([_stock(available=49)])
    assert unbalanced.invariant == "I1"
    assert "= 50 but" in unbalanced.detail
    assert any("negative" in v.detail for v in check_stock([_stock(available=51, reserved=-1)]))


def test_confirmed_order_needs_exactly_one_capture_of_its_total() -> None:
    order = _order("CONFIRMED", total=1000, id="a")
    assert check_money([order], [_payment("a", captured=1000)]) == []
    assert check_money([order], []) != []
    assert check_money([order], [_payment("a", captured=900)]) != []
    assert check_money([order], [_payment("a", captured=1000), _payment("a", captured=1000)]) != []
    assert check_money([order], [_payment("a", captured=1000, refunded=1000)]) != []


def test_cancelled_order_has_nothing_captured_net_of_refunds() -> None:
    order = _order("CANCELLED", id="c")
    assert check_money([order], []) == []
    assert check_money([order], [_payment("c", captured=1000, refunded=1000)]) == []
    [violation] = check_money([order], [_payment("c", captured=1000)])
    assert violation.invariant == "I2"


def test_pending_past_the_deadline_is_a_progress_violation() -> None:
    fresh = _order("PENDING", id="fresh", created_at=(NOW - timedelta(seconds=5)).isoformat())
    stuck = _order("PENDING", id="stuck", created_at=(NOW - timedelta(minutes=5)).isoformat())
    violations = check_progress([fresh, stuck], NOW, timedelta(seconds=30))
    assert [v.subject for v in violations] == ["stuck"]


def test_two_orders_for_one_idempotency_key_violate_i4() -> None:
    one = _order("CONFIRMED", id="1", user_id="u", idempotency_key="k")
    two = _order("CONFIRMED", id="2", user_id="u", idempotency_key="k")
    other = _order("CONFIRMED", id="3", user_id="v", idempotency_key="k")
    assert check_idempotency([one, other]) == []
    assert [v.invariant for v in check_idempotency([one, two])] == ["I4"]


def test_a_clean_snapshot_has_no_violations() -> None:
    snapshot = Snapshot(
        stock=[_stock(available=49, sold=1)],
        orders=[_order("SHIPPED", id="s"), _order("CANCELLED", id="x")],
        payments=[_payment("s", captured=1000), _payment("x", captured=1000, refunded=1000)],
        taken_at=NOW,
    )
    assert check_all(snapshot) == []
