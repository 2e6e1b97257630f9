"""Catalog's products as the storefront shows them, kept while it hears catalog's events.

A product page needs its product and the products recommended with it: two
catalog calls of the page's four, which cost about a third of the page's CPU
on the path (the storefront's requests and catalog's answers; decision 0030).
Products change rarely next to how often pages show them, so each storefront
process keeps catalog's answer per product (the chassis
:class:`~emporium.chassis.read_model.ReadModel`, keyed by product id) and
forgets a product when catalog's event about it arrives: the storefront
listens to catalog's product events (:class:`~emporium.chassis.messaging.Listening`;
every replica hears every event).

What keeps it right:

- nothing is kept until the broker has confirmed the subscriptions: before
  that, a change could go unheard;
- an event forgets its product, and a read in flight when any event arrives
  is not kept (the model's generation);
- nothing is kept longer than ``ttl`` seconds, which bounds how stale a page
  can be when the connection to the broker drops and events are missed, as
  in catalog's own replicas;
- only catalog's 200 answers are kept; a missing product or a failure is
  asked again on the next page. ``ttl`` 0 keeps nothing: every page asks.

What it keeps is the bytes catalog sent, decoded for each page, so no page
can change what another one sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from emporium.chassis import Problem
from emporium.chassis.http import ServiceClient
from emporium.chassis.messaging import Listener, Listening
from emporium.chassis.read_model import ReadModel
from emporium.contracts._base import Message
from emporium.contracts.catalog import (
    PRODUCT_CHANGES,
    PriceChanged,
    ProductCreated,
    ProductDeleted,
    ProductUpdated,
)

__all__ = ["CatalogProducts"]

Product = dict[str, Any]


def _product_of(event: Message) -> str:
    assert isinstance(event, ProductCreated | ProductUpdated | PriceChanged | ProductDeleted)
    return str(event.product_id)


class CatalogProducts:
    """Products by id, from catalog or kept from an earlier answer (a component)."""

    def __init__(
        self,
        catalog: ServiceClient,
        listening: Listening | None,
        *,
        ttl: float = 5.0,
        max_entries: int = 4096,
    ) -> None:
        self.catalog = catalog
        self.listening = listening
        self.model = ReadModel(
            events=PRODUCT_CHANGES, key_of=_product_of, ttl=ttl, max_entries=max_entries
        )

    def listeners(self) -> Mapping[type[Message], Listener]:
        return self.model.listeners()

    def _generation(self) -> int | None:
        """The generation to keep a read under, or None while nothing may be kept."""
        if self.listening is None or not self.listening.hearing:
            return None
        return self.model.generation

    def _kept(self, product_id: str) -> Product | None:
        found = self.model.get(product_id)
        if found is None:
            return None
        product: Product = json.loads(found.body)
        return product

    async def one(self, product_id: UUID) -> Product | None:
        """The product, or None when catalog does not know it."""
        key = str(product_id)
        kept = self._kept(key)
        if kept is not None:
            return kept
        generation = self._generation()
        answer = await self.catalog.get(f"/api/catalog/products/{key}")
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise Problem(502, "The catalog did not answer usefully; please try again")
        if generation is not None:
            self.model.put(key, generation, answer.content)
        product: Product = answer.json()
        return product

    async def many(
        self,
        ids: Sequence[str],
        *,
        timeout: float,  # noqa: ASYNC109 (the client's per-attempt timeout, passed on)
    ) -> dict[str, Product] | None:
        """The products of ``ids`` that catalog knows, by id: the kept ones, the
        others in one call; None when catalog could not answer."""
        found: dict[str, Product] = {}
        missing: list[str] = []
        for product_id in ids:
            kept = self._kept(product_id)
            if kept is None:
                missing.append(product_id)
            else:
                found[product_id] = kept
        if not missing:
            return found
        generation = self._generation()
        answer = await self.catalog.get(
            "/api/catalog/products",
            params={"ids": missing, "limit": len(missing)},
            timeout=timeout,
        )
        if answer.status != 200:
            return None
        for product in answer.json().get("items", []):
            product_id = str(product["id"])
            found[product_id] = product
            if generation is not None:
                self.model.put(product_id, generation, json.dumps(product).encode())
        return found

    async def start(self) -> None:
        await self.model.start()

    async def stop(self) -> None:
        await self.model.stop()

    async def ready(self) -> bool:
        return True
