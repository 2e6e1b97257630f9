"""Catalog's public answers, kept by the gateway for seconds; forgotten when catalog changes.

A product read through the gateway cost the gateway about 350 µs of CPU and
catalog 240 (``bench.catalog``), nearly all of it in passing the request on
and the answer back; answering from memory costs the gateway less than
passing it on. Catalog marks its reads ``Cache-Control: public, max-age=60``
(10 for pages): any shared cache may keep them that long. The gateway keeps
them far shorter, and forgets them as soon as catalog says they changed
(decision 0031).

What it keeps: the answer to a ``GET`` for a catalog path, as the proxy sent
it on (status, headers, body), keyed by the path and query as the client sent
them. Only a 200 whose ``Cache-Control`` says ``public`` with a positive
``max-age`` (or ``s-maxage``), with no ``Vary`` and no ``Set-Cookie``, and a
body the proxy read whole (:data:`~.proxy._WHOLE_BODY_MAX`).

What keeps it right:

- with ``events`` (the local system, where every process may reach the
  broker), nothing is kept until the broker has confirmed the gateway's
  subscriptions to catalog's product events
  (:class:`~emporium.chassis.messaging.Listening`): before that, a change
  could go unheard; and every catalog event forgets everything: a product's
  change reaches its page, every listing and search it appears in, and the
  categories' counts, and telling which keys those are is not worth the risk;
- every write to catalog that passes through this gateway forgets everything
  when its answer comes back, so whoever writes through a gateway reads the
  write back through it at once;
- a read in flight when anything is forgotten is not kept (a generation);
- nothing is kept longer than ``ttl`` seconds (or the answer's own max-age if
  shorter): the bound on staleness while events cannot arrive, the same one
  catalog's replicas keep for their own read model. Without ``events`` (in
  compose and Kubernetes the gateway, which faces the internet, reaches no
  broker) that is the only bound on another gateway replica's writes: a few
  seconds, where catalog allows every browser 60;
- requests that ask for something a kept answer cannot give are passed on
  untouched: conditional ones other than ``If-None-Match``
  (``If-Modified-Since``, ...), ranges, and any with ``Cache-Control`` or
  ``Pragma`` of their own. ``If-None-Match`` it answers itself from the kept
  ETag, with a 304 when the client has it, as catalog would.

A kept answer carries an ``Age`` header (RFC 9111), which is how a client,
or a test, tells it from a fresh one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.types import Message, Scope, Send

from emporium.chassis.messaging import Listener, Listening
from emporium.chassis.read_model import not_modified
from emporium.contracts._base import Message as Event
from emporium.contracts.catalog import PRODUCT_CHANGES
from emporium.services.gateway.metrics import CACHE_LOOKUPS

__all__ = ["CACHED_SERVICE", "Kept", "ResponseCache"]

CACHED_SERVICE = "catalog"
_PASSED_ON = frozenset(
    {
        b"if-modified-since",
        b"if-match",
        b"if-unmodified-since",
        b"if-range",
        b"range",
        b"cache-control",
        b"pragma",
    }
)
_FORBIDDING = (b"private", b"no-store", b"no-cache")
# Bound once: no label lookup (a lock and a dict) on every catalog read.
_HIT, _MISS = CACHE_LOOKUPS.labels("hit"), CACHE_LOOKUPS.labels("miss")
# What a 304 carries of the 200 it stands for (RFC 9110 section 15.4.5).
_NOT_MODIFIED_KEEPS = frozenset(
    {b"etag", b"cache-control", b"expires", b"vary", b"content-location", b"date"}
)


@dataclass(frozen=True, slots=True)
class Kept:
    """An answer as the proxy sent it, and when it was kept and stops being served.

    ``size`` is what it holds: its key, headers and body (a key is the client's
    query string, as long as the client likes).
    """

    headers: list[tuple[bytes, bytes]]
    body: bytes
    kept_at: float
    expires: float
    size: int


def _lifetime(headers: list[tuple[bytes, bytes]]) -> float | None:
    """How long a shared cache may keep an answer with ``headers``; None: not at all."""
    directives: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in (b"vary", b"set-cookie"):
            return None
        if name == b"cache-control":
            for part in value.lower().split(b","):
                directive, _, argument = part.strip().partition(b"=")
                directives[directive.strip()] = argument.strip().strip(b'"')
    if b"public" not in directives or any(word in directives for word in _FORBIDDING):
        return None
    age = directives.get(b"s-maxage", directives.get(b"max-age", b""))
    return float(age) if age.isdigit() and int(age) > 0 else None


def _passes_on(scope: Scope) -> bool:
    """Whether the request asks for more than a kept answer can give: a
    conditional or partial one, or one with its own caching wishes
    (``Cache-Control: max-age=0`` from a browser's reload, ``no-cache``)."""
    return any(name in _PASSED_ON for name, _ in scope["headers"])


class ResponseCache:
    """Catalog's public answers by path and query, for one gateway process.

    With ``events``, ``listening`` is the gateway's listening broker (set once
    the chassis has made it) and nothing is kept while it does not hear.
    ``ttl`` 0 keeps nothing. At most ``max_bytes`` are kept, keys and headers
    counted with the bodies; the oldest answer goes first.
    """

    def __init__(
        self,
        *,
        ttl: float,
        max_bytes: int,
        events: bool = True,
        listening: Listening | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.events = events
        self.listening = listening
        self.clock = clock
        self.generation = 0
        self._bytes = 0
        self._kept: OrderedDict[bytes, Kept] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def listeners(self) -> Mapping[type[Event], Listener]:
        return dict.fromkeys(PRODUCT_CHANGES, self._changed)

    async def _changed(self, _event: Event) -> None:
        self.forget()

    def key(self, scope: Scope) -> bytes | None:
        """The key a request to catalog is answered under; None if it never is."""
        if self.ttl <= 0 or scope["method"] != "GET":
            return None
        if _passes_on(scope):
            return None
        path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        return path + b"?" + query if query else path

    def holds(self, scope: Scope) -> bool:
        """Whether a request would be answered from what is kept (nothing counted)."""
        key = self.key(scope)
        kept = self._kept.get(key) if key is not None else None
        return kept is not None and kept.expires > self.clock()

    def get(self, key: bytes) -> Kept | None:
        kept = self._kept.get(key)
        if kept is None:
            _MISS.inc()
            return None
        if kept.expires <= self.clock():
            self._drop(key)
            _MISS.inc()
            return None
        _HIT.inc()
        return kept

    def filling(self, key: bytes, send: Send) -> Send:
        """``send``, also keeping the answer it sends, if it may be kept; ``send``
        itself while nothing may be kept (catalog's events cannot be heard)."""
        if self.events and (self.listening is None or not self.listening.hearing):
            return send
        return _Filling(self, key, self.generation, send)

    def keep(
        self, key: bytes, generation: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        """Keep a 200's ``headers`` and ``body`` under ``key``, unless anything was
        forgotten since ``generation`` or the answer forbids it."""
        lifetime = _lifetime(headers)
        size = len(key) + len(body) + sum(len(name) + len(value) for name, value in headers)
        if lifetime is None or generation != self.generation or size > self.max_bytes:
            return
        now = self.clock()
        self._drop(key)
        self._kept[key] = Kept(headers, body, now, now + min(self.ttl, lifetime), size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._kept)))

    def forget(self) -> None:
        """Forget everything: catalog changed. Reads in flight are not kept either."""
        self.generation += 1
        self._kept.clear()
        self._bytes = 0

    def _drop(self, key: bytes) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._bytes -= kept.size

    async def replay(self, kept: Kept, scope: Scope, send: Send) -> None:
        """Send a kept answer with its ``Age``: whole, or ``304 Not Modified`` when
        the request's ``If-None-Match`` names its ETag, as catalog would answer."""
        age = (b"age", str(int(self.clock() - kept.kept_at)).encode())
        etag = _header(kept.headers, b"etag")
        asked = _header(scope["headers"], b"if-none-match")
        if etag is not None and not_modified(_text(asked), etag.decode("latin-1")):
            headers = [(n, v) for n, v in kept.headers if n in _NOT_MODIFIED_KEEPS]
            await send({"type": "http.response.start", "status": 304, "headers": [*headers, age]})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [*kept.headers, age]})
        await send({"type": "http.response.body", "body": kept.body, "more_body": False})


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((value for key, value in headers if key == name), None)


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


class _Filling:
    """A ``send`` that keeps a 200 sent as one start and one whole body."""

    def __init__(self, cache: ResponseCache, key: bytes, generation: int, send: Send) -> None:
        self.cache = cache
        self.key = key
        self.generation = generation
        self.send = send
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.whole = True

    async def __call__(self, message: Message) -> None:
        await self.send(message)
        if message["type"] == "http.response.start":
            if message["status"] == 200:
                self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body" and self.headers is not None:
            if message.get("more_body", False):
                self.whole = False  # streamed in parts: not kept
            elif self.whole:
                self.cache.keep(self.key, self.generation, self.headers, message.get("body", b""))
