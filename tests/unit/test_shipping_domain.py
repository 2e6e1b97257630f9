"""A shipment is CREATED, then DISPATCHED or CANCELLED, never both, never back."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from emporium.chassis.clock import utcnow
from emporium.services.shipping.domain import Shipment, ShipmentStatus, sources_of

CREATED, DISPATCHED, CANCELLED = (
    ShipmentStatus.CREATED,
    ShipmentStatus.DISPATCHED,
    ShipmentStatus.CANCELLED,
)


def _shipment(delay: float = 3.0) -> Shipment:
    return Shipment.create(
        uuid.uuid4(),
        uuid.uuid4(),
        carrier="Emporium Post",
        country="US",
        now=utcnow(),
        delay=timedelta(seconds=delay),
    )


def test_only_a_created_shipment_can_be_dispatched_or_cancelled() -> None:
    assert sources_of(DISPATCHED) == (CREATED,)
    assert sources_of(CANCELLED) == (CREATED,)
    assert sources_of(CREATED) == ()


@pytest.mark.parametrize("final", [DISPATCHED, CANCELLED])
def test_dispatched_and_cancelled_are_final(final: ShipmentStatus) -> None:
    assert not any(final.can_become(target) for target in ShipmentStatus)


def test_a_new_shipment_is_created_with_a_tracking_number_and_due_after_the_delay() -> None:
    shipment = _shipment(delay=3)
    assert shipment.status is CREATED
    assert shipment.tracking_number.startswith("EMP")
    assert shipment.tracking_number != _shipment().tracking_number
    assert not shipment.is_due(shipment.created_at)
    assert shipment.is_due(shipment.created_at + timedelta(seconds=3))


def test_a_cancelled_shipment_is_never_due() -> None:
    shipment = _shipment(delay=0)
    cancelled = Shipment(**{**shipment.__dict__, "status": CANCELLED})
    assert not cancelled.is_due(shipment.created_at + timedelta(days=1))


def test_only_the_owner_or_an_admin_may_read_a_shipment() -> None:
    shipment = _shipment()
    assert shipment.readable_by(shipment.user_id, admin=False)
    assert not shipment.readable_by(uuid.uuid4(), admin=False)
    assert shipment.readable_by(uuid.uuid4(), admin=True)
