"""I1 as a property: any sequence of operations keeps every SKU balanced, never negative."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from emporium.services.inventory.domain import (
    BelowReservedError,
    Line,
    Reservation,
    ReservationStatus,
    StockItem,
)

SKUS = ("A", "B", "C")
TTL = timedelta(seconds=60)


class StockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.items = {sku: StockItem(sku, str(uuid.uuid4()), 5) for sku in SKUS}
        self.reservations: list[Reservation] = []
        self.now = datetime(2030, 1, 1)

    @rule(
        lines=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 6)), min_size=1, max_size=3)
    )
    def reserve(self, lines: list[tuple[str, int]]) -> None:
        before = {sku: item.reserved for sku, item in self.items.items()}
        wanted = [Line(sku, quantity) for sku, quantity in lines]
        reservation = Reservation.place(uuid.uuid4(), wanted, self.items, self.now, TTL)
        self.reservations.append(reservation)
        if reservation.status == ReservationStatus.REJECTED:
            assert before == {sku: item.reserved for sku, item in self.items.items()}

    @precondition(lambda self: self.reservations)
    @rule(index=st.integers(0, 100), repeat=st.booleans())
    def commit(self, index: int, repeat: bool) -> None:
        reservation = self.reservations[index % len(self.reservations)]
        for _ in range(2 if repeat else 1):
            reservation.commit(self.items, self.now)

    @precondition(lambda self: self.reservations)
    @rule(index=st.integers(0, 100), repeat=st.booleans())
    def release(self, index: int, repeat: bool) -> None:
        reservation = self.reservations[index % len(self.reservations)]
        for _ in range(2 if repeat else 1):
            reservation.release(self.items, self.now)

    @rule(seconds=st.integers(0, 90))
    def time_passes_and_expires(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        for reservation in self.reservations:
            reservation.expire(self.items, self.now)

    @rule(sku=st.sampled_from(SKUS), on_hand=st.integers(0, 12))
    def restock(self, sku: str, on_hand: int) -> None:
        item = self.items[sku]
        try:
            item.set_on_hand(on_hand)
        except BelowReservedError:
            assert on_hand < item.reserved

    @invariant()
    def i1_holds(self) -> None:
        for item in self.items.values():
            assert item.invariant_holds(), vars(item)
            held = sum(
                line.quantity
                for r in self.reservations
                if r.status == ReservationStatus.RESERVED
                for line in r.lines
                if line.sku == item.sku
            )
            assert held == item.reserved


TestStockInvariant = StockMachine.TestCase
TestStockInvariant.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
