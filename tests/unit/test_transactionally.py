"""The one retry loop for transactions: lost races are tried again, nothing else is."""

from __future__ import annotations

import pytest
from sqlalchemy.orm.exc import StaleDataError

from emporium.chassis import transactionally
from emporium.chassis.backoff import Backoff
from emporium.chassis.testing import FakeUnitOfWork

FAST = Backoff(base=0.001, cap=0.001)


async def test_a_lost_race_is_tried_again_in_a_fresh_transaction() -> None:
    units: list[FakeUnitOfWork] = []

    def unit_of_work() -> FakeUnitOfWork:
        units.append(FakeUnitOfWork())
        return units[-1]

    async def work(uow: FakeUnitOfWork) -> str:
        if len(units) < 3:
            raise StaleDataError("the version moved")
        return "done"

    assert await transactionally(unit_of_work, work, retries=4, backoff=FAST) == "done"
    assert [(u.commits, u.rollbacks) for u in units] == [(0, 1), (0, 1), (1, 0)]


async def test_the_last_lost_race_propagates() -> None:
    attempts = 0

    async def work(_uow: FakeUnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        raise StaleDataError("always behind")

    with pytest.raises(StaleDataError):
        await transactionally(FakeUnitOfWork, work, retries=2, backoff=FAST)
    assert attempts == 3


async def test_an_error_that_is_not_a_race_is_never_retried() -> None:
    attempts = 0

    async def work(_uow: FakeUnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError("a bug, not a race")

    with pytest.raises(ValueError, match="a bug"):
        await transactionally(FakeUnitOfWork, work, retries=5, backoff=FAST)
    assert attempts == 1
