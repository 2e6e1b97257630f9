"""Inventory's rules on the plain aggregates: all-or-nothing, guarded transitions, I1."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from emporium.services.inventory.domain import (
    AvailabilityChanged,
    BelowReservedError,
    CommitRefused,
    Committed,
    Line,
    Rejected,
    Released,
    Reservation,
    ReservationStatus,
    Reserved,
    StockItem,
)

NOW = datetime(2030, 1, 1, 12, 0, 0)
TTL = timedelta(seconds=120)


def _items(**stock: int) -> dict[str, StockItem]:
    return {sku: StockItem(sku, str(uuid.uuid4()), units) for sku, units in stock.items()}


def test_reservation_holds_every_line_and_reports_availability() -> None:
    items = _items(A=5, B=3)
    reservation = Reservation.place(uuid.uuid4(), [Line("A", 2), Line("B", 3)], items, NOW, TTL)
    assert reservation.status == ReservationStatus.RESERVED
    assert reservation.expires_at == NOW + TTL
    assert (items["A"].available, items["B"].available) == (3, 0)
    assert isinstance(reservation.collect_events()[0], Reserved)
    assert items["B"].collect_events() == [AvailabilityChanged("B", 0)]


def test_one_short_line_reserves_nothing() -> None:
    items = _items(A=5, B=1)
    order = uuid.uuid4()
    reservation = Reservation.place(order, [Line("A", 2), Line("B", 2)], items, NOW, TTL)
    assert reservation.status == ReservationStatus.REJECTED
    assert reservation.collect_events() == [Rejected(order, "OUT_OF_STOCK", ("B",))]
    assert items["A"].reserved == items["B"].reserved == 0


@pytest.mark.parametrize(
    ("lines", "reason"),
    [([Line("NOPE", 1), Line("A", 99)], "UNKNOWN_SKU"), ([Line("GONE", 1)], "DISCONTINUED")],
)
def test_rejection_names_the_most_fundamental_reason(lines: list[Line], reason: str) -> None:
    items = _items(A=5, GONE=5)
    items["GONE"].discontinue()
    reservation = Reservation.place(uuid.uuid4(), lines, items, NOW, TTL)
    assert reservation.reason == reason


def test_duplicate_skus_in_a_command_are_added_up() -> None:
    items = _items(A=3)
    reservation = Reservation.place(uuid.uuid4(), [Line("A", 2), Line("A", 2)], items, NOW, TTL)
    assert reservation.status == ReservationStatus.REJECTED
    assert items["A"].reserved == 0


def test_asking_again_answers_the_same_and_holds_nothing_more() -> None:
    items = _items(A=5)
    reservation = Reservation.place(uuid.uuid4(), [Line("A", 2)], items, NOW, TTL)
    first = reservation.collect_events()
    reservation.answer_again()
    assert reservation.collect_events() == first
    assert items["A"].reserved == 2


def test_commit_sells_the_reserved_units_once() -> None:
    items = _items(A=5)
    order = uuid.uuid4()
    reservation = Reservation.place(order, [Line("A", 2)], items, NOW, TTL)
    reservation.commit(items, NOW + timedelta(seconds=1))
    reservation.commit(items, NOW + timedelta(seconds=2))
    assert (items["A"].on_hand, items["A"].reserved, items["A"].sold) == (3, 0, 2)
    assert reservation.collect_events()[-2:] == [Committed(order), Committed(order)]


def test_commit_after_expiry_is_refused_and_returns_the_units() -> None:
    items = _items(A=5)
    order = uuid.uuid4()
    reservation = Reservation.place(order, [Line("A", 2)], items, NOW, TTL)
    reservation.collect_events()
    reservation.commit(items, NOW + TTL)
    assert reservation.status == ReservationStatus.EXPIRED
    assert reservation.collect_events() == [
        Released(order, "EXPIRED"),
        CommitRefused(order, "EXPIRED"),
    ]
    assert (items["A"].available, items["A"].sold) == (5, 0)


def test_expire_before_the_deadline_does_nothing() -> None:
    items = _items(A=5)
    reservation = Reservation.place(uuid.uuid4(), [Line("A", 2)], items, NOW, TTL)
    assert not reservation.expire(items, NOW + TTL - timedelta(seconds=1))
    assert reservation.expire(items, NOW + TTL)
    assert not reservation.expire(items, NOW + TTL)
    assert items["A"].reserved == 0


def test_release_is_idempotent_and_always_answers() -> None:
    items = _items(A=5)
    order = uuid.uuid4()
    reservation = Reservation.place(order, [Line("A", 2)], items, NOW, TTL)
    reservation.collect_events()
    reservation.release(items, NOW)
    reservation.release(items, NOW)
    assert reservation.collect_events() == [Released(order, "RELEASED")] * 2
    assert items["A"].available == 5


def test_release_after_commit_takes_the_sold_units_back() -> None:
    items = _items(A=5)
    reservation = Reservation.place(uuid.uuid4(), [Line("A", 2)], items, NOW, TTL)
    reservation.commit(items, NOW)
    reservation.release(items, NOW)
    assert (items["A"].on_hand, items["A"].sold, reservation.reason) == (5, 0, "RETURNED")


def test_a_released_order_is_not_reserved_late() -> None:
    tombstone = Reservation.released_unknown(uuid.uuid4(), NOW)
    tombstone.collect_events()
    tombstone.answer_again()
    assert tombstone.collect_events() == [Rejected(tombstone.order_id, "RELEASED", ())]


def test_on_hand_never_goes_below_reserved() -> None:
    items = _items(A=5)
    Reservation.place(uuid.uuid4(), [Line("A", 3)], items, NOW, TTL)
    with pytest.raises(BelowReservedError):
        items["A"].set_on_hand(2)
    assert items["A"].set_on_hand(3) == -2
    assert (items["A"].restocked, items["A"].available) == (-2, 0)


def test_a_discontinued_item_keeps_its_reservations() -> None:
    items = _items(A=5)
    reservation = Reservation.place(uuid.uuid4(), [Line("A", 3)], items, NOW, TTL)
    items["A"].discontinue()
    reservation.commit(items, NOW)
    assert items["A"].sold == 3
    assert items["A"].refusal(1) == "DISCONTINUED"
