"""nats-py's pull fetch, as the chassis installs it: a timeout is always nats' own
(nats-io/nats.py#1008), which FastStream's pull loop takes for "nothing yet"."""

from __future__ import annotations

from typing import Any

import nats.errors
import pytest
from nats.js.client import JetStreamContext
from nats.js.errors import FetchTimeoutError

from emporium.chassis.messaging import _nats_compat
from emporium.chassis.messaging._nats import NatsTransport


def _subscription(fetch_n: Any) -> Any:
    """A pull subscription with no server behind it: the real ``fetch``, whose
    wait for a batch (``_fetch_n``) is ``fetch_n``."""
    subscription: Any = object.__new__(JetStreamContext.PullSubscription)
    subscription._sub = object()
    subscription._fetch_n = fetch_n
    return subscription


def test_the_transport_installs_it_once() -> None:
    NatsTransport("nats://127.0.0.1:1")
    installed = JetStreamContext.PullSubscription.fetch
    assert getattr(installed, _nats_compat._MARK)
    _nats_compat.install()
    assert JetStreamContext.PullSubscription.fetch is installed


async def test_a_bare_asyncio_timeout_leaves_fetch_as_nats_own() -> None:
    _nats_compat.install()

    async def spent(*_: Any) -> list[Any]:
        raise TimeoutError  # what nats-py 2.16 raises when the deadline is spent

    with pytest.raises(nats.errors.TimeoutError) as raised:
        await _subscription(spent).fetch(10, timeout=1)
    assert isinstance(raised.value, FetchTimeoutError)
    assert type(raised.value.__cause__) is TimeoutError


async def test_messages_and_other_errors_pass_through() -> None:
    _nats_compat.install()
    messages = [object(), object()]

    async def delivered(*_: Any) -> list[Any]:
        return messages

    async def nats_timeout(*_: Any) -> list[Any]:
        raise nats.errors.TimeoutError

    async def broken(*_: Any) -> list[Any]:
        raise ConnectionResetError

    assert await _subscription(delivered).fetch(10, timeout=1) == messages
    with pytest.raises(nats.errors.TimeoutError) as raised:
        await _subscription(nats_timeout).fetch(10, timeout=1)
    assert type(raised.value) is nats.errors.TimeoutError
    with pytest.raises(ConnectionResetError):
        await _subscription(broken).fetch(10, timeout=1)
    with pytest.raises(ValueError, match="batch"):  # nats-py's own checks still run
        await _subscription(delivered).fetch(0)
