"""A pull fetch that times out as nats-py documents it, whichever way it timed out.

nats-py documents that ``PullSubscription.fetch`` raises
``nats.errors.TimeoutError`` when no message came in time, and FastStream's
pull loop suppresses exactly that and fetches again. nats-py 2.15 and 2.16
raise a bare ``asyncio.TimeoutError`` from some of fetch's timeout exits
instead (the ones that find the deadline spent after the server's answer to
the no-wait probe: nats-io/nats.py#1008 restores the contract). FastStream
then takes it for a crash: the consumer's task dies, its supervisor logs an
ERROR with a traceback and asks for a bug report, and starts the task again.
No message is lost, but an operator reads a failure that is not one, once per
process, on an idle consumer.

:func:`install` wraps ``fetch`` so a bare timeout leaves it as
``FetchTimeoutError`` (a ``nats.errors.TimeoutError``); everything else,
messages and other errors, passes through unchanged. Remove it once the lock
holds a nats-py with the fix.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
from nats.js.client import JetStreamContext
from nats.js.errors import FetchTimeoutError

__all__ = ["install"]

_MARK = "_emporium_documented_timeout"
Fetch = Callable[..., Awaitable[Any]]


def documented_timeout(fetch: Fetch) -> Fetch:
    """``fetch`` raising ``FetchTimeoutError`` where it raised a bare ``asyncio.TimeoutError``."""

    @functools.wraps(fetch)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fetch(*args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:
            raise FetchTimeoutError from exc

    setattr(wrapper, _MARK, True)
    return wrapper


def install() -> None:
    """Wrap ``PullSubscription.fetch`` once per process (idempotent)."""
    subscription = JetStreamContext.PullSubscription
    if not getattr(subscription.fetch, _MARK, False):
        subscription.fetch = documented_timeout(subscription.fetch)  # type: ignore[method-assign,assignment]
