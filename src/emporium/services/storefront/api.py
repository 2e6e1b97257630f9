"""The storefront's only way to data: the other services' public APIs.

:class:`Upstreams` is a chassis component holding one chassis
:class:`ServiceClient` per service (each with its own circuit breaker, so a
dead inventory never slows the catalog). :class:`Api` is made per request
around the shopper's :class:`Session`: it adds their bearer token, refreshes
it shortly before it expires or when a service answers 401, and stores the
rotated tokens back into the session, so the shopper never notices.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from emporium.chassis import ChassisSettings
from emporium.chassis.http import (
    CircuitBreaker,
    Response,
    RetryPolicy,
    ServiceClient,
    UpstreamError,
)
from emporium.services.storefront.session import Session, SignedInUser
from emporium.services.storefront.settings import StorefrontSettings

__all__ = ["SERVICES", "Api", "SignInRequired", "TokenRefresher", "Upstreams"]

logger = logging.getLogger(__name__)

SERVICES = (
    "identity",
    "catalog",
    "inventory",
    "cart",
    "orders",
    "shipping",
    "notifications",
    "recommendations",
    "payments",
    # The gateway's own admin API (instances, traces) for the ops page.
    "gateway",
)
# Refresh this long before the access token expires, so no call races its expiry.
REFRESH_MARGIN = 30.0


class SignInRequired(Exception):
    """The shopper must sign in (again) before this page can be shown."""


class TokenRefresher:
    """Spends each refresh token at most once per process.

    Identity rotates refresh tokens and treats a second use of one as theft
    (the whole sign-in is revoked). A page and its htmx requests can arrive
    together with the same old cookie, so concurrent and recent refreshes of
    one token share the first one's answer instead of spending it again.
    """

    def __init__(self, identity: ServiceClient, remember: float = 60.0) -> None:
        self.identity = identity
        self.remember = remember
        self._results: dict[str, tuple[float, asyncio.Future[dict[str, Any] | None]]] = {}

    async def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """New tokens for ``refresh_token``, or None when identity refuses it."""
        now = time.monotonic()
        for token, (at, _) in list(self._results.items()):
            if now - at > self.remember:
                del self._results[token]
        known = self._results.get(refresh_token)
        if known is not None:
            return await asyncio.shield(known[1])
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._results[refresh_token] = (now, future)
        try:
            # A POST is never retried by the client: a retry could spend the token twice.
            answer = await self.identity.post(
                "/api/identity/token/refresh", json={"refresh_token": refresh_token}
            )
        except BaseException as exc:
            del self._results[refresh_token]  # nothing was decided: a later try may succeed
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        if answer.status not in (200, 400, 401, 422):
            # Busy (429) is not a refusal: signing the shopper out would be wrong.
            del self._results[refresh_token]
            busy = UpstreamError(self.identity.name, answer)
            future.set_exception(busy)
            future.exception()
            raise busy
        result = answer.json() if answer.status == 200 else None
        future.set_result(result)
        return result


class Upstreams:
    """One client per service, started and stopped with the storefront."""

    def __init__(self, chassis: ChassisSettings, settings: StorefrontSettings) -> None:
        self.settings = settings
        self.clients = {
            name: ServiceClient(
                route.url,
                name=name,
                timeout=settings.api_timeout_seconds,
                # A shopper waits: one quick retry at most, then the breaker
                # answers for a dead service at once.
                retries=RetryPolicy(max_attempts=2, base_delay=0.05, max_delay=0.2, deadline=3.0),
                breaker=CircuitBreaker(failure_threshold=3),
                endpoints=route.endpoints,
            )
            for name, route in ((name, chassis.route(name)) for name in SERVICES)
        }
        self.refresher = TokenRefresher(self.clients["identity"])
        self._categories: tuple[float, list[dict[str, str]]] | None = None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for client in self.clients.values():
            await client.close()

    async def ready(self) -> bool:
        # Never depends on other services: the shop degrades instead.
        return True

    async def categories(self) -> list[dict[str, str]]:
        """Catalog's categories, remembered for a minute (they change rarely)."""
        now = time.monotonic()
        if self._categories is not None and now - self._categories[0] < 60:
            return self._categories[1]
        answer = await self.clients["catalog"].get("/api/catalog/categories")
        found: list[dict[str, str]] = answer.json() if answer.status == 200 else []
        self._categories = (now, found)
        return found


class Api:
    """The API as the current shopper: anonymous calls, or calls with their token."""

    def __init__(self, upstreams: Upstreams, session: Session) -> None:
        self.upstreams = upstreams
        self.session = session

    def client(self, service: str) -> ServiceClient:
        return self.upstreams.clients[service]

    async def call(self, service: str, method: str, path: str, **kwargs: Any) -> Response:
        """An anonymous call."""
        return await self.client(service).request(method, path, **kwargs)

    async def as_user(self, service: str, method: str, path: str, **kwargs: Any) -> Response:
        """A call on the shopper's behalf; raises :class:`SignInRequired` when not signed in."""
        if self.session.user is None:
            raise SignInRequired
        if time.time() > self.session.expires_at - REFRESH_MARGIN:
            await self._refresh()
        headers = dict(kwargs.pop("headers", None) or {})

        async def send() -> Response:
            bearer = {"Authorization": f"Bearer {self.session.access_token}"}
            return await self.client(service).request(
                method, path, headers={**headers, **bearer}, **kwargs
            )

        answer = await send()
        if answer.status == 401:
            # Revoked key or clock skew: one refresh and one more try.
            await self._refresh()
            answer = await send()
            if answer.status == 401:
                self.session.sign_out()
                raise SignInRequired
        return answer

    async def _refresh(self) -> None:
        tokens = await self.upstreams.refresher.refresh(self.session.refresh_token)
        if tokens is None:
            self.session.sign_out()
            raise SignInRequired
        self.session.store_tokens(
            tokens["access_token"], tokens["refresh_token"], int(tokens["expires_in"])
        )

    async def sign_in(self, email: str, password: str) -> Response:
        """Ask identity for tokens; on success the session holds the user and their tokens."""
        answer = await self.call(
            "identity", "POST", "/api/identity/token", json={"email": email, "password": password}
        )
        if answer.status != 200:
            return answer
        tokens = answer.json()
        me = await self.client("identity").get(
            "/api/identity/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        if me.status != 200:
            return me
        profile = me.json()
        user = SignedInUser(
            str(profile["id"]), str(profile["email"]), str(profile["name"]), str(profile["role"])
        )
        self.session.sign_in(
            user, tokens["access_token"], tokens["refresh_token"], int(tokens["expires_in"])
        )
        return answer

    async def sign_out(self) -> None:
        if self.session.refresh_token:
            try:
                await self.call(
                    "identity",
                    "POST",
                    "/api/identity/logout",
                    json={"refresh_token": self.session.refresh_token},
                )
            except Exception:
                # Signing out here must work even with identity down; the token
                # then simply expires.
                logger.warning("identity did not revoke a refresh token at sign-out")
        self.session.sign_out()
