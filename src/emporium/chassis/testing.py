"""Test fakes every service's tests share.

- ``TokenFactory`` signs tokens the way identity does (Ed25519, ``kid``, ``iss``,
  ``aud``, ``sub``, ``role``, ``exp``) and serves its public keys, so a service's
  tests verify real signatures without running identity.
- ``FakeUnitOfWork`` is a unit of work with no database: a service's fake adds
  in-memory repositories to it, and its use cases are tested without SQLite.
- ``InMemoryTransport`` is a broker in the process: what is published is
  delivered to the consumers of its subject, with retries and dead letters
  decided by the real :class:`~emporium.chassis.messaging.Consumer`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emporium.chassis.auth import AuthSettings, TokenVerifier
from emporium.chassis.messaging._transport import RawListener, Transport, hear
from emporium.chassis.messaging.consumer import Ack, Consumer, DeadLetter, Delivery, Retry
from emporium.chassis.messaging.envelope import Envelope
from emporium.contracts._base import Message

__all__ = ["FakeUnitOfWork", "FlakyJwks", "InMemoryTransport", "TokenFactory"]


class TokenFactory:
    def __init__(self, settings: AuthSettings | None = None) -> None:
        self.settings = settings or AuthSettings()
        self.kid = uuid.uuid4().hex[:16]
        self.private_key = Ed25519PrivateKey.generate()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key()))
        public.update(kid=self.kid, alg="EdDSA", use="sig")
        return {"keys": [public]}

    def token(
        self,
        user_id: uuid.UUID | None = None,
        *,
        role: str = "customer",
        expires_in: int = 300,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": str(user_id or uuid.uuid4()),
            "role": role,
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "iat": now,
            "exp": now + expires_in,
        }
        payload.update(claims or {})
        return jwt.encode(payload, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})

    def headers(
        self, user_id: uuid.UUID | None = None, *, role: str = "customer"
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, role=role)}"}

    def verifier(self) -> TokenVerifier:
        async def fetch() -> Mapping[str, Any]:
            return self.jwks()

        return TokenVerifier(self.settings, "memory://jwks", fetch=fetch)


class FlakyJwks:
    """identity's JWKS endpoint for a :class:`TokenVerifier`, which can go down
    (``up = False``: every fetch fails as a refused connection would)."""

    def __init__(self, tokens: TokenFactory) -> None:
        self.tokens = tokens
        self.up = True

    async def fetch(self) -> Mapping[str, Any]:
        if not self.up:
            raise ConnectionError("identity is down")
        return self.tokens.jwks()


class FakeUnitOfWork:
    """A unit of work with no database, for unit tests of use cases.

    Like the real one it rolls back on exit unless committed; what rolls back is
    what it tracks itself: messages published since the last commit are
    dropped, committed ones are in :attr:`published`. In-memory repositories a
    subclass adds keep their changes (as cosmicpython's fakes do), so tests
    assert on :attr:`commits` to see whether a change was meant to stick.
    """

    def __init__(self) -> None:
        self.published: list[Message] = []
        self.pending: list[Message] = []
        self.commits = 0
        self.rollbacks = 0
        self._committed = False
        self._after_commit: list[Callable[[], None]] = []

    async def __aenter__(self) -> Self:
        self._committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            await self.rollback()

    async def publish(self, *messages: Message) -> None:
        self.pending.extend(messages)

    async def flush(self) -> None:
        """Nothing to send: fakes apply changes at once."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    async def commit(self) -> None:
        self.published.extend(self.pending)
        self.pending.clear()
        self.commits += 1
        self._committed = True
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    async def rollback(self) -> None:
        self.pending.clear()
        self._after_commit.clear()
        self.rollbacks += 1

    def published_types(self) -> list[str]:
        return [message.type for message in self.published]


class InMemoryTransport(Transport):
    """A broker inside the process, for tests of messaging without a server.

    Promise: every published envelope reaches each consumer whose subject it
    matches (one delivery per consumer name, as a durable subscription shared
    by replicas), and each listener on its subject hears it (every one, as
    each replica's own subscription), in the background; a ``Retry`` is delivered again after its
    delay with the attempt counted up; a ``DeadLetter`` lands in
    :attr:`dead_letters`. :meth:`drain` waits until nothing is in flight.
    """

    def __init__(self, url: str = "memory://", *, namespace: str = "emporium") -> None:
        super().__init__(url, namespace=namespace)
        self.published: list[Envelope] = []
        self.dead_letters: list[tuple[str, Envelope]] = []
        self._consumers: dict[str, Consumer] = {}
        self._listeners: list[tuple[str, RawListener]] = []
        self._consuming = False
        self._connected = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def connect(self, *, declare: bool = True) -> None:
        self._connected = True

    def add_consumer(self, consumer: Consumer) -> None:
        self._consumers.setdefault(consumer.spec.name, consumer)

    def add_listener(self, subject: str, listener: RawListener) -> None:
        self._listeners.append((subject, listener))

    async def start_consumers(self) -> None:
        self._consuming = True

    async def stop_consumers(self) -> None:
        self._consuming = False
        await self.drain()

    async def publish(self, envelope: Envelope) -> None:
        if not self._connected:
            raise ConnectionError("the in-memory broker is not connected")
        self.published.append(envelope)
        for consumer in list(self._consumers.values()):
            if consumer.spec.subject == envelope.subject:
                self._deliver(consumer, envelope, attempt=1, delay=0.0)
        for subject, listener in list(self._listeners):
            if subject == envelope.subject and self._consuming:
                task = asyncio.create_task(hear(listener, envelope.payload, subject))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def ready(self) -> bool:
        return self._connected

    async def lag(self, consumer: Consumer) -> int:
        return len(self._tasks) if consumer.spec.name in self._consumers else 0

    async def close(self) -> None:
        await self.stop_consumers()
        self._connected = False

    async def drain(self) -> None:
        """Wait until every delivery (and every retry it scheduled) is done.

        Callers bound the wait with ``asyncio.timeout``.
        """
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _deliver(
        self, consumer: Consumer, envelope: Envelope, *, attempt: int, delay: float
    ) -> None:
        task = asyncio.create_task(self._process(consumer, envelope, attempt, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(
        self, consumer: Consumer, envelope: Envelope, attempt: int, delay: float
    ) -> None:
        if delay:
            await asyncio.sleep(delay)
        if not self._consuming:
            return
        delivery = Delivery(envelope.payload, envelope.headers, attempt)
        match await consumer.process(delivery):
            case Ack():
                pass
            case Retry(delay=next_delay):
                self._deliver(consumer, envelope, attempt=attempt + 1, delay=next_delay)
            case DeadLetter():
                self.dead_letters.append((consumer.spec.name, envelope))
