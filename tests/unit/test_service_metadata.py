"""One metadata per service: a store made from it holds that service's tables only."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from emporium.chassis import Base
from emporium.services.cart.sql_store import metadata as cart
from emporium.services.catalog.models import metadata as catalog
from emporium.services.identity.models import metadata as identity
from emporium.services.inventory.adapters.orm import metadata as inventory
from emporium.services.notifications.store import metadata as notifications
from emporium.services.orders.adapters.orm import metadata as orders
from emporium.services.payments.adapters.orm import metadata as payments
from emporium.services.shipping.store import metadata as shipping

MESSAGING = {"outbox", "inbox"}
SERVICES = {
    "cart": cart,
    "catalog": catalog,
    "inventory": inventory,
    "notifications": notifications,
    "orders": orders,
    "payments": payments,
    "shipping": shipping,
}


def test_the_chassis_metadata_holds_no_service_table_once_every_service_is_imported() -> None:
    service_tables = set().union(*(m.tables for m in [*SERVICES.values(), identity]))
    assert set(Base.metadata.tables) >= MESSAGING
    assert not set(Base.metadata.tables) & (service_tables - MESSAGING)


@pytest.mark.parametrize(("one", "other"), list(itertools.combinations(sorted(SERVICES), 2)))
def test_two_services_share_no_table_but_the_outbox_and_inbox(one: str, other: str) -> None:
    shared = set(SERVICES[one].tables) & set(SERVICES[other].tables)
    assert shared == MESSAGING


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_store_has_its_outbox_and_inbox_as_the_chassis_makes_them(service: str) -> None:
    metadata = SERVICES[service]
    for name in MESSAGING:
        own, chassis = metadata.tables[name], Base.metadata.tables[name]
        assert [c.name for c in own.columns] == [c.name for c in chassis.columns]


def test_identity_has_no_messaging_tables() -> None:
    assert not MESSAGING & set(identity.tables)


@pytest.mark.parametrize("metadata", [*SERVICES.values(), identity])
def test_every_store_names_constraints_like_the_chassis(metadata: sa.MetaData) -> None:
    assert metadata.naming_convention == Base.metadata.naming_convention
