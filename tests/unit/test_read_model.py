"""The chassis read model's per-key forgetting, which inventory's stock reads rely on."""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from typing import cast

from emporium.chassis.read_model import ReadModel
from emporium.contracts._base import Message
from emporium.contracts.inventory import StockChanged, StockRejected, StockReserved


def by_sku(event: Message) -> Hashable:
    return ("item", cast(StockChanged, event).sku)


def test_forgetting_a_key_keeps_the_others() -> None:
    model = ReadModel(ttl=5)
    model.put(("item", "A"), model.generation, b"a")
    model.put(("item", "B"), model.generation, b"b")
    model.forget(("item", "A"))
    assert model.get(("item", "A")) is None
    assert model.get(("item", "B")) is not None


def test_a_read_of_any_key_begun_before_a_forget_is_not_kept() -> None:
    model = ReadModel(ttl=5)
    began = model.generation
    model.forget(("item", "A"))  # a write to A committed while B was being read
    assert model.put(("item", "B"), began, b"b").body == b"b"
    assert model.get(("item", "B")) is None


async def test_an_event_forgets_just_the_key_it_names() -> None:
    model = ReadModel(events=(StockChanged,), key_of=by_sku, ttl=5)
    model.put(("item", "A"), model.generation, b"a")
    model.put(("item", "B"), model.generation, b"b")
    listener = model.listeners()[StockChanged]
    await listener(StockChanged(sku="A", available=3))
    assert model.get(("item", "A")) is None
    assert model.get(("item", "B")) is not None


async def test_without_key_of_an_event_clears_everything() -> None:
    model = ReadModel(events=(StockChanged,), ttl=5)
    model.put(("item", "B"), model.generation, b"b")
    await model.listeners()[StockChanged](StockChanged(sku="A", available=3))
    assert len(model) == 0


def test_an_own_commit_forgets_the_keys_its_events_name_and_nothing_else() -> None:
    model = ReadModel(events=(StockChanged,), key_of=by_sku, ttl=5)
    for sku in "ABC":
        model.put(("item", sku), model.generation, sku.encode())
    order = uuid.uuid4()
    model.committed([StockReserved(order_id=order, lines=[]), StockChanged(sku="A", available=1)])
    assert model.get(("item", "A")) is None
    assert model.get(("item", "B")) is not None
    # A commit whose change the model cannot place (none of its events) clears all.
    model.committed([StockRejected(order_id=order, reason="OUT_OF_STOCK", unavailable=[])])
    assert len(model) == 0


def test_without_key_of_an_own_commit_clears_everything() -> None:
    model = ReadModel(events=(StockChanged,), ttl=5)
    model.put(("item", "B"), model.generation, b"b")
    model.committed([StockChanged(sku="A", available=1)])
    assert len(model) == 0
