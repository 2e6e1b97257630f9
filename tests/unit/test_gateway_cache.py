"""The rules of the gateway's cache of catalog's answers, without a network.

What is kept, for how long, in how many bytes, and what a forget does to a
read in flight. The proxy's use of it, with a real broker, is in
tests/integration/test_gateway_cache.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message

from emporium.services.gateway.cache import ResponseCache


class Hearing:
    hearing = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Sent:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)


def _cache(clock: Clock | None = None, **overrides: Any) -> ResponseCache:
    fields: dict[str, Any] = {"ttl": 5.0, "max_bytes": 1024, "listening": Hearing()}
    cache = ResponseCache(**{**fields, **overrides}, clock=clock or Clock())
    return cache


def _headers(cache_control: str = "public, max-age=60") -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"cache-control", cache_control.encode())]


async def _answer(
    cache: ResponseCache,
    key: bytes,
    body: bytes = b'{"id": 1}',
    *,
    status: int = 200,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    send = cache.filling(key, Sent())
    await send({"type": "http.response.start", "status": status, "headers": headers or _headers()})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _scope(method: str = "GET", query: bytes = b"", **headers: str) -> dict[str, Any]:
    return {
        "method": method,
        "path": "/api/catalog/products",
        "raw_path": b"/api/catalog/products",
        "query_string": query,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def test_the_key_is_the_path_and_query_of_a_plain_get() -> None:
    cache = _cache()
    assert cache.key(_scope()) == b"/api/catalog/products"
    assert cache.key(_scope(query=b"limit=20&q=wool")) == b"/api/catalog/products?limit=20&q=wool"
    assert cache.key(_scope(authorization="Bearer x", accept="*/*")) == b"/api/catalog/products"
    for method in ("HEAD", "POST", "PATCH", "DELETE", "OPTIONS"):
        assert cache.key(_scope(method)) is None
    # If-None-Match the cache answers itself (a 304 from the kept ETag).
    assert cache.key(_scope(if_none_match='"a"')) == b"/api/catalog/products"
    assert cache.key(_scope(if_modified_since="Sun, 29 Nov 2026 00:00:00 GMT")) is None
    assert cache.key(_scope(range="bytes=0-1")) is None
    assert cache.key(_scope(cache_control="max-age=0")) is None
    assert _cache(ttl=0).key(_scope()) is None


async def test_a_kept_answer_is_replayed_with_its_age_until_it_expires() -> None:
    clock = Clock()
    cache = _cache(clock)
    await _answer(cache, b"k")
    clock.now += 3.4
    kept = cache.get(b"k")
    assert kept is not None
    sent = Sent()
    await cache.replay(kept, _scope(), sent)
    start, body = sent.messages
    assert start["status"] == 200
    assert (b"age", b"3") in start["headers"]
    assert (b"cache-control", b"public, max-age=60") in start["headers"]
    assert body == {"type": "http.response.body", "body": b'{"id": 1}', "more_body": False}
    clock.now += 1.6  # 5 s: the gateway's ttl, shorter than the answer's 60
    assert cache.get(b"k") is None
    assert len(cache) == 0


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ('"v1"', 304),
        ('W/"v1"', 304),
        ('"v0", "v1"', 304),
        ("*", 304),
        ('"v0"', 200),
        (None, 200),
    ],
)
async def test_if_none_match_is_answered_from_the_kept_etag(
    if_none_match: str | None, status: int
) -> None:
    cache = _cache()
    await _answer(cache, b"k", headers=[*_headers(), (b"etag", b'"v1"')])
    kept = cache.get(b"k")
    assert kept is not None
    scope = _scope() if if_none_match is None else _scope(if_none_match=if_none_match)
    sent = Sent()
    await cache.replay(kept, scope, sent)
    start, body = sent.messages
    assert start["status"] == status
    if status == 304:
        # What a 304 carries of its 200 (RFC 9110 15.4.5), no body, no content headers.
        names = {name for name, _ in start["headers"]}
        assert names == {b"etag", b"cache-control", b"age"}
        assert body["body"] == b""
    else:
        assert body["body"] == b'{"id": 1}'


async def test_without_an_etag_a_kept_answer_is_sent_whole_whatever_is_asked() -> None:
    cache = _cache()
    await _answer(cache, b"k")
    kept = cache.get(b"k")
    assert kept is not None
    sent = Sent()
    await cache.replay(kept, _scope(if_none_match="*"), sent)
    assert sent.messages[0]["status"] == 200


async def test_the_answers_own_max_age_bounds_the_time_when_shorter() -> None:
    clock = Clock()
    cache = _cache(clock)
    await _answer(cache, b"k", headers=_headers("public, max-age=2"))
    clock.now += 1.9
    assert cache.get(b"k") is not None
    clock.now += 0.1
    assert cache.get(b"k") is None
    await _answer(cache, b"k", headers=_headers("public, max-age=60, s-maxage=1"))
    clock.now += 1.0
    assert cache.get(b"k") is None  # s-maxage is the shared caches' own


@pytest.mark.parametrize(
    "headers",
    [
        _headers("private, max-age=60"),
        _headers("public, no-store, max-age=60"),
        _headers("public, no-cache, max-age=60"),
        _headers("public, max-age=0"),
        _headers("public"),
        _headers("max-age=60"),
        _headers("public, max-age=soon"),
        [*_headers(), (b"vary", b"accept-encoding")],
        [*_headers(), (b"set-cookie", b"a=b")],
        [(b"content-type", b"application/json")],
    ],
)
async def test_an_answer_a_shared_cache_may_not_keep_is_not_kept(
    headers: list[tuple[bytes, bytes]],
) -> None:
    cache = _cache()
    await _answer(cache, b"k", headers=headers)
    assert cache.get(b"k") is None


async def test_only_a_200_sent_whole_is_kept() -> None:
    cache = _cache()
    await _answer(cache, b"missing", status=404)
    send = cache.filling(b"streamed", Sent())
    await send({"type": "http.response.start", "status": 200, "headers": _headers()})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    assert cache.get(b"missing") is None
    assert cache.get(b"streamed") is None


async def test_a_read_in_flight_when_catalog_changes_is_not_kept() -> None:
    cache = _cache()
    send = cache.filling(b"k", Sent())
    await send({"type": "http.response.start", "status": 200, "headers": _headers()})
    cache.forget()  # an event arrives, or a write passed through
    await send({"type": "http.response.body", "body": b"old", "more_body": False})
    assert cache.get(b"k") is None
    await _answer(cache, b"k", b"new")
    kept = cache.get(b"k")
    assert kept is not None
    assert kept.body == b"new"


async def test_nothing_is_kept_while_the_broker_does_not_hear() -> None:
    deaf = Hearing()
    deaf.hearing = False
    for cache in (_cache(listening=deaf), _cache(listening=None)):
        sent = Sent()
        assert cache.filling(b"k", sent) is sent
        await _answer(cache, b"k")
        assert cache.get(b"k") is None


async def test_forget_drops_every_kept_answer() -> None:
    cache = _cache()
    await _answer(cache, b"a")
    await _answer(cache, b"b")
    cache.forget()
    assert cache.get(b"a") is None
    assert cache.get(b"b") is None


async def test_the_oldest_answers_go_first_to_stay_within_max_bytes() -> None:
    # Each answer holds its key (1 byte), its headers and its body (4 bytes).
    each = 1 + sum(len(name) + len(value) for name, value in _headers()) + 4
    cache = _cache(max_bytes=2 * each + 1)
    await _answer(cache, b"a", b"aaaa")
    await _answer(cache, b"b", b"bbbb")
    await _answer(cache, b"a", b"AAAA")  # kept again: now the newest
    await _answer(cache, b"c", b"cccc")
    assert cache.get(b"b") is None
    assert [cache.get(k) is not None for k in (b"a", b"c")] == [True, True]
    await _answer(cache, b"big", b"x" * 2 * each)  # more than all of it: never kept
    assert cache.get(b"big") is None
    assert cache.get(b"a") is not None


async def test_a_long_key_counts_against_max_bytes_as_a_body_does() -> None:
    # A client picks the query string: ten thousand of them, each of 8 KiB,
    # must not hold 80 MiB when the bodies are small.
    cache = _cache(max_bytes=64 * 1024)
    for i in range(100):
        await _answer(cache, b"/api/catalog/products?q=" + str(i).encode() * 4096, b"{}")
    assert 0 < len(cache) <= 64 * 1024 // 4096  # each key alone is 4 KiB or more


async def test_without_events_answers_are_kept_for_their_time_alone() -> None:
    # Where the gateway may not reach the broker (compose, Kubernetes).
    clock = Clock()
    cache = _cache(clock, events=False, listening=None)
    await _answer(cache, b"k")
    assert cache.get(b"k") is not None
    clock.now += 5
    assert cache.get(b"k") is None
