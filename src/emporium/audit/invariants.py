"""The invariants, as pure functions over what the services report.

I1 stock: per SKU, initial + restocks = available + reserved + sold, none negative.
I2 money: each CONFIRMED or SHIPPED order has exactly one captured payment equal to
   its total; each CANCELLED order has nothing captured net of refunds.
I3 progress: no order stays PENDING past the saga deadline.
I4 idempotency: one order per Idempotency-Key (and so one charge per order).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

__all__ = ["Snapshot", "Violation", "check_all"]

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str
    detail: str


@dataclass
class Snapshot:
    """What the audit read from the services, at one moment."""

    stock: Sequence[Row] = ()
    orders: Sequence[Row] = ()
    payments: Sequence[Row] = ()
    taken_at: datetime | None = None
    saga_deadline: timedelta = timedelta(seconds=30)
    counts: dict[str, int] = field(default_factory=dict)


def _amount(value: Any) -> int:
    if isinstance(value, Mapping):
        return int(value.get("amount", 0))
    return int(value or 0)


def check_stock(stock: Sequence[Row]) -> list[Violation]:
    violations = []
    for item in stock:
        sku = str(item["sku"])
        counters = {
            k: int(item.get(k, 0))
            for k in ("initial", "restocked", "available", "reserved", "sold")
        }
        negative = [name for name, value in counters.items() if value < 0 and name != "restocked"]
        if negative:
            violations.append(Violation("I1", sku, f"negative {', '.join(negative)}: {counters}"))
        supplied = counters["initial"] + counters["restocked"]
        accounted = counters["available"] + counters["reserved"] + counters["sold"]
        if supplied != accounted:
            violations.append(
                Violation(
                    "I1",
                    sku,
                    "initial {initial} + restocked {restocked} = {supplied} but available"
                    " {available} + reserved {reserved} + sold {sold} = {accounted}".format(
                        supplied=supplied, accounted=accounted, **counters
                    ),
                )
            )
    return violations


def check_money(orders: Sequence[Row], payments: Sequence[Row]) -> list[Violation]:
    by_order: dict[str, list[Row]] = {}
    for payment in payments:
        by_order.setdefault(str(payment["order_id"]), []).append(payment)
    violations = []
    for order in orders:
        order_id, status = str(order["id"]), order["status"]
        mine = by_order.get(order_id, [])
        captured = sum(_amount(p.get("captured_amount")) for p in mine)
        refunded = sum(_amount(p.get("refunded_amount")) for p in mine)
        if status in ("CONFIRMED", "SHIPPED"):
            capturing = [p for p in mine if _amount(p.get("captured_amount")) > 0]
            total = _amount(order["total"])
            if len(capturing) != 1 or captured != total or refunded != 0:
                violations.append(
                    Violation(
                        "I2",
                        order_id,
                        f"{status} with {len(capturing)} captured payment(s), captured {captured},"
                        f" refunded {refunded}, total {total}",
                    )
                )
        elif status == "CANCELLED" and captured - refunded != 0:
            violations.append(
                Violation("I2", order_id, f"CANCELLED but {captured - refunded} captured net")
            )
    return violations


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def check_progress(
    orders: Sequence[Row], taken_at: datetime, deadline: timedelta
) -> list[Violation]:
    violations = []
    for order in orders:
        if order["status"] != "PENDING":
            continue
        age = taken_at - _when(order["created_at"])
        if age > deadline:
            violations.append(
                Violation("I3", str(order["id"]), f"PENDING for {age.total_seconds():.0f} s")
            )
    return violations


def check_idempotency(orders: Sequence[Row]) -> list[Violation]:
    keys = Counter(
        (str(order.get("user_id")), str(order["idempotency_key"]))
        for order in orders
        if order.get("idempotency_key")
    )
    return [
        Violation("I4", f"{user}/{key}", f"{count} orders for one Idempotency-Key")
        for (user, key), count in keys.items()
        if count > 1
    ]


def check_all(snapshot: Snapshot) -> list[Violation]:
    taken_at = snapshot.taken_at or datetime.now().astimezone()
    return [
        *check_stock(snapshot.stock),
        *check_money(snapshot.orders, snapshot.payments),
        *check_progress(snapshot.orders, taken_at, snapshot.saga_deadline),
        *check_idempotency(snapshot.orders),
    ]
