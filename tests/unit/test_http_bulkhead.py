"""The bulkhead: bounded calls in progress per upstream, the rest refused at once."""

from __future__ import annotations

import pytest

from emporium.chassis.http import Bulkhead


def test_a_full_bulkhead_refuses_without_waiting_and_admits_again_once_a_call_ends() -> None:
    moves: list[int] = []
    bulkhead = Bulkhead(2, on_change=moves.append)
    assert bulkhead.try_enter()
    assert bulkhead.try_enter()
    assert not bulkhead.try_enter()
    assert bulkhead.rejected == 1
    bulkhead.leave()
    assert bulkhead.try_enter()
    assert moves == [1, 2, 1, 2]


def test_leaving_more_often_than_entering_is_a_bug_not_a_free_slot() -> None:
    bulkhead = Bulkhead(1)
    with pytest.raises(RuntimeError):
        bulkhead.leave()


def test_a_bulkhead_needs_room_for_one_call() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Bulkhead(0)
