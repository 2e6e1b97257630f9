"""The catalog read model: what it keeps, for how long, and what makes it forget."""

from __future__ import annotations

import uuid

from emporium.contracts import Money
from emporium.contracts.catalog import PRODUCT_CHANGES, PriceChanged
from emporium.services.catalog.caching import etag_of
from emporium.services.catalog.read_model import ReadModel


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_kept_read_is_its_bytes_and_their_strong_etag() -> None:
    model = ReadModel(ttl=5)
    kept = model.put("k", model.generation, b'{"a":1}')
    assert kept.etag == etag_of(b'{"a":1}')
    assert model.get("k") == kept


def test_a_read_that_began_before_a_change_is_not_kept() -> None:
    model = ReadModel(ttl=5)
    began = model.generation
    model.invalidate()  # a write committed while the read was in the store
    answered = model.put("k", began, b"old")
    assert answered.body == b"old"  # the request still gets what it read
    assert model.get("k") is None


def test_an_entry_lives_at_most_ttl_seconds() -> None:
    clock = Clock()
    model = ReadModel(ttl=5, clock=clock)
    model.put("k", model.generation, b"x")
    clock.now += 4.9
    assert model.get("k") is not None
    clock.now += 0.2
    assert model.get("k") is None


def test_ttl_zero_keeps_nothing() -> None:
    model = ReadModel(ttl=0)
    model.put("k", model.generation, b"x")
    assert model.get("k") is None
    assert len(model) == 0


def test_the_oldest_entry_goes_first_past_max_entries() -> None:
    model = ReadModel(ttl=5, max_entries=2)
    for key in ("a", "b", "c"):
        model.put(key, model.generation, key.encode())
    assert model.get("a") is None
    assert model.get("b") is not None
    assert model.get("c") is not None


async def test_any_product_event_clears_everything() -> None:
    model = ReadModel(ttl=5)
    model.put("k", model.generation, b"x")
    event = PriceChanged(
        product_id=uuid.uuid4(),
        sku="S-1",
        old_price=Money(amount=1, currency="USD"),
        new_price=Money(amount=2, currency="USD"),
    )
    await model.listeners()[PriceChanged](event)
    assert model.get("k") is None
    assert set(model.listeners()) == set(PRODUCT_CHANGES)
