"""An outbox row added in a unit of work that rolls back vanishes without side effects."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from emporium.chassis import Database
from emporium.chassis.messaging import OUTBOX, Outbox
from emporium.contracts import Money
from emporium.contracts.catalog import ProductCreated


def _event() -> ProductCreated:
    return ProductCreated(
        product_id="6f0c2a8e-1111-4111-8111-111111111111",
        sku="SKU-1",
        name="x",
        price=Money(amount=100),
    )


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_rolled_back_outbox_row_is_gone_and_the_original_error_survives(
    database: Database,
) -> None:
    outbox = Outbox()
    woken: list[bool] = []
    outbox.subscribe(lambda _added: woken.append(True))

    async def fail_after_adding() -> None:
        async with database.unit_of_work() as uow:
            await outbox.add(uow.session, _event())
            raise LookupError("the business rule said no")

    with pytest.raises(LookupError, match="business rule"):
        await fail_after_adding()
    async with database.unit_of_work() as uow:  # forgotten commit: rolled back on exit
        await outbox.add(uow.session, _event())
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(OUTBOX)) == 0
    assert woken == []
