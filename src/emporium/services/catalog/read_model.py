"""The catalog's read model: each public read encoded once per catalog version.

A product, a page of a listing or of a search is read from the store, turned
into the bytes of its response and given its strong ETag once; every request
after that, until the catalog changes, is answered from those bytes. Reads
stay what they were (:func:`.caching.cached` serves the same body and tag as
before); only the work of making them is shared.

How it stays current, in this replica and in every other one:

- a write in this process clears it as its transaction commits (catalog's
  writes all publish through the outbox, whose after-commit hook calls
  :meth:`ReadModel.invalidate`);
- a write in another replica reaches this one as its integration event
  (``ProductCreated``, ``ProductUpdated``, ``PriceChanged``, ``ProductDeleted``),
  heard by a broker *listener*: every replica hears every event;
- if events stop arriving (broker down, a write that published nothing), no
  entry lives longer than ``ttl`` seconds, so staleness stays bounded.

A read that started before an invalidation never stores what it read: the
generation it began with no longer matches (:meth:`ReadModel.put`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from emporium.chassis.messaging import Listener, Outbox
from emporium.contracts._base import Message
from emporium.contracts.catalog import PriceChanged, ProductCreated, ProductDeleted, ProductUpdated
from emporium.services.catalog.caching import etag_of

__all__ = ["CATALOG_CHANGES", "Encoded", "ReadModel"]

# Every event catalog publishes when a product's representation changes.
CATALOG_CHANGES: tuple[type[Message], ...] = (
    ProductCreated,
    ProductUpdated,
    PriceChanged,
    ProductDeleted,
)


@dataclass(frozen=True, slots=True)
class Encoded:
    """A response body as sent, and its strong ETag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Encoded:
        return cls(body, etag_of(body))


class ReadModel:
    """Encoded reads by key, for one process; a component of the catalog service.

    Lifecycle: :meth:`start` hooks it to the outbox's after-commit
    notification, :meth:`stop` unhooks it; :meth:`listeners` is the table of
    broker listeners that invalidates it on other replicas' writes. With
    ``ttl`` 0 it stores nothing and every read goes to the store.

    At most ``max_entries`` keys are kept (searches are user input); the
    oldest is dropped first.
    """

    def __init__(
        self,
        outbox: Outbox | None = None,
        *,
        ttl: float = 5.0,
        max_entries: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self.generation = 0
        self.invalidations = 0
        self._entries: OrderedDict[Hashable, tuple[Encoded, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Encoded | None:
        found = self._entries.get(key)
        if found is None:
            return None
        encoded, expires = found
        if expires <= self.clock():
            self._entries.pop(key, None)
            return None
        return encoded

    def put(self, key: Hashable, generation: int, body: bytes) -> Encoded:
        """Encode ``body``; keep it unless the catalog changed since ``generation``."""
        encoded = Encoded.of(body)
        if self.ttl > 0 and generation == self.generation:
            self._entries[key] = (encoded, self.clock() + self.ttl)
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return encoded

    def invalidate(self) -> None:
        """Forget everything: the catalog changed (here or in another replica)."""
        self.generation += 1
        self.invalidations += 1
        self._entries.clear()

    async def changed(self, _event: Message) -> None:
        """The broker listener: any product event clears the whole model.

        Writes are rare next to reads, and one change can move a product in
        or out of any page, so clearing all is both simplest and correct.
        """
        self.invalidate()

    def listeners(self) -> Mapping[type[Message], Listener]:
        return dict.fromkeys(CATALOG_CHANGES, self.changed)

    async def start(self) -> None:
        if self.outbox is not None:
            self.outbox.subscribe(self.invalidate)

    async def stop(self) -> None:
        if self.outbox is not None:
            self.outbox.unsubscribe(self.invalidate)
        self._entries.clear()

    async def ready(self) -> bool:
        return True
