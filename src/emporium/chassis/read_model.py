"""A read model: each public read encoded once, until what it shows changes.

A read is taken from the store, turned into the bytes of its response and
given a strong ETag once; every request after that, until the service's data
changes, is answered from those bytes. Reads stay what they were; only the
work of making them is shared. The catalog keeps its products and pages in
one, inventory its stock per SKU.

How it stays current, in this replica and in every other one:

- a write in this process clears it as its transaction commits (every write
  that changes what a read shows publishes through the outbox, whose
  after-commit hook calls :meth:`ReadModel.committed`): all of it, or, for a
  model whose events name their keys, just the keys of the events that
  transaction published;
- a write in another replica reaches this one as its integration event (the
  ``events`` the model is made with), heard by a broker *listener*: every
  replica hears every event. By default an event clears everything; a
  service whose events name the key they change (a SKU) forgets only that;
- if events stop arriving (broker down, a write that published nothing), no
  entry lives longer than ``ttl`` seconds, so staleness stays bounded.

A read that started before an invalidation never stores what it read: the
generation it began with no longer matches (:meth:`ReadModel.put`).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from emporium.chassis.messaging import Listener, Outbox
from emporium.contracts._base import Message

__all__ = ["Encoded", "ReadModel", "etag_of", "not_modified"]


def etag_of(body: bytes) -> str:
    """A strong ETag: a hash of the bytes sent, the same on every replica."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (RFC 9110 §13.1.2: weak
    comparison, a list of tags, or ``*``): the client has it, a 304 will do."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Encoded:
    """A response body as sent, and its strong ETag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Encoded:
        return cls(body, etag_of(body))


class ReadModel:
    """Encoded reads by key, for one process; a component of its service.

    Lifecycle: :meth:`start` hooks it to the outbox's after-commit
    notification, :meth:`stop` unhooks it; :meth:`listeners` is the table of
    broker listeners for ``events`` that keeps it current with other
    replicas' writes. ``key_of`` maps such an event to the one key it
    changes; without it an event clears everything. With ``ttl`` 0 it stores
    nothing and every read goes to the store.

    At most ``max_entries`` keys are kept (searches are user input); the
    oldest is dropped first.
    """

    def __init__(
        self,
        outbox: Outbox | None = None,
        *,
        events: tuple[type[Message], ...] = (),
        key_of: Callable[[Message], Hashable] | None = None,
        ttl: float = 5.0,
        max_entries: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.events = events
        self.key_of = key_of
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

    async def load(self, key: Hashable, read: Callable[[], Awaitable[bytes]]) -> Encoded:
        """A miss: ``read`` the body from the store, encode it, and keep it unless
        the data changed while it was being read. Use as
        ``model.get(key) or await model.load(key, ...)``."""
        generation = self.generation
        return self.put(key, generation, await read())

    def put(self, key: Hashable, generation: int, body: bytes) -> Encoded:
        """Encode ``body``; keep it unless anything was invalidated since ``generation``."""
        encoded = Encoded.of(body)
        if self.ttl > 0 and generation == self.generation:
            self._entries[key] = (encoded, self.clock() + self.ttl)
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return encoded

    def invalidate(self) -> None:
        """Forget everything: the data changed (here or in another replica)."""
        self.generation += 1
        self.invalidations += 1
        self._entries.clear()

    def forget(self, key: Hashable) -> None:
        """Forget one key. Reads in progress of any key are not kept either: a
        generation is one number for the whole model, which errs on the safe side."""
        self.generation += 1
        self.invalidations += 1
        self._entries.pop(key, None)

    def committed(self, messages: Sequence[Message]) -> None:
        """This process committed a transaction that published ``messages``.

        Without ``key_of``, or when none of them is one of ``events``, the
        change is not one the model can place, so everything goes; otherwise
        only the keys those events name (a checkout's reservation forgets its
        SKUs, not every stock read).
        """
        named = [message for message in messages if isinstance(message, self.events)]
        if self.key_of is None or not named:
            self.invalidate()
            return
        for message in named:
            self.forget(self.key_of(message))

    async def changed(self, event: Message) -> None:
        """The broker listener: another replica's write changed what ``event``
        names; the same rule as an own commit that published it."""
        self.committed((event,))

    def listeners(self) -> Mapping[type[Message], Listener]:
        return dict.fromkeys(self.events, self.changed)

    async def start(self) -> None:
        if self.outbox is not None:
            self.outbox.subscribe(self.committed)

    async def stop(self) -> None:
        if self.outbox is not None:
            self.outbox.unsubscribe(self.committed)
        self._entries.clear()

    async def ready(self) -> bool:
        return True
