"""Authentication and rate limits at the edge: a pure-ASGI middleware.

It sits inside the chassis middleware (so its refusals carry a request id and
are logged and counted) and in front of the proxy. For every HTTP request it:

1. drops identity headers a client may not set (``x-user-id``, ``x-user-role``,
   ``x-emporium-*``): nothing downstream may trust a header a client invented;
2. verifies the bearer token if there is one (any path), and insists on one for
   the paths in ``protected_paths`` and on an admin's for ``admin_paths`` (the
   gateway's own ``/api/gateway/...``); a bad token is a 401 and is never
   forwarded;
3. spends a token from the caller's address bucket, the verified user's bucket,
   on ``POST /api/identity/token`` from the bucket of that address and email
   (guessing one password) and from the address's login bucket (spraying many
   emails), on ``POST /api/identity/users`` from the address's sign-up bucket,
   on ``POST /api/orders`` from the user's checkout bucket (however many
   Idempotency-Keys they invent), answering 429 with ``Retry-After`` when one
   is empty.

The caller's address is the one the chassis resolved (``X-Forwarded-For`` only
from ``EMPORIUM_TRUSTED_PROXIES``), so a client cannot pick a fresh bucket.

Services verify tokens themselves as well, so a request that skips the gateway
is refused there too.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emporium.chassis.auth import AuthError, KeysUnavailableError, Principal, TokenVerifier
from emporium.chassis.problems import problem_response
from emporium.services.gateway.ratelimit import Decision, Limiter, Rule
from emporium.services.gateway.registry import Instance
from emporium.services.gateway.settings import GatewaySettings

__all__ = ["EdgeMiddleware", "jwks_endpoint", "jwks_fetcher", "strip_identity_headers"]

LOGIN_PATH = "/api/identity/token"
SIGNUP_PATH = "/api/identity/users"
CHECKOUT_PATH = "/api/orders"
_LOGIN_BODY_LIMIT = 16 * 1024
_SPOOFABLE = frozenset({b"x-user-id", b"x-user-role"})
_UNLIMITED_PREFIXES = ("/health/",)
_UNLIMITED_PATHS = frozenset({"/metrics"})
# Verified tokens are remembered briefly: a signature check per request would
# cost the edge more than the proxying. Bounded in size and in time (a key
# dropped after rotation stops verifying here within VERIFIED_TTL seconds;
# the services check every token themselves anyway).
VERIFIED_TTL = 10.0
VERIFIED_MAX = 10_000

logger = logging.getLogger(__name__)


def strip_identity_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in _SPOOFABLE and not name.lower().startswith(b"x-emporium-")
    ]


def jwks_fetcher(
    instance_for: Callable[[str], Awaitable[Instance | None]], session: Any
) -> Callable[[], Awaitable[Mapping[str, Any]]]:
    """Fetch identity's JWKS from an instance in the gateway's own routing table."""

    async def fetch() -> Mapping[str, Any]:
        instance = await instance_for("identity")
        if instance is None:
            raise RuntimeError("no identity instance is ready")
        http: aiohttp.ClientSession = session()
        timeout = aiohttp.ClientTimeout(total=2.0)
        async with http.get(f"{instance.url}/.well-known/jwks.json", timeout=timeout) as response:
            response.raise_for_status()
            document: Mapping[str, Any] = json.loads(await response.read())
            return document

    return fetch


def jwks_endpoint(
    fetch: Callable[[], Awaitable[Mapping[str, Any]]], verifier: TokenVerifier
) -> Callable[[Request], Awaitable[Response]]:
    """``GET /.well-known/jwks.json``: identity's keys, fetched fresh, or the last
    ones this gateway verified with while identity cannot answer (stale-if-error).

    Every service fetches its keys here: one restarted while identity is down
    would otherwise refuse every signed-in request until identity is back.
    """

    async def jwks(_request: Request) -> Response:
        try:
            document = await fetch()
        except Exception as exc:  # identity down or restarting: what we already trust
            cached = verifier.jwks.document
            if cached is None:
                return problem_response(
                    503,
                    "The signing keys are unreachable (identity is not answering); retry shortly",
                    headers={"Retry-After": "1"},
                )
            logger.warning("serving the cached JWKS: identity did not answer (%s)", exc)
            document = cached
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=60"})

    return jwks


def _expiry(token: str) -> float:
    # Only called after the signature verified, so the claims are trustworthy.
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp", 0)
    return float(exp) if isinstance(exp, int | float) else 0.0


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            return value.decode("latin-1")
    return None


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: GatewaySettings,
        verifier: TokenVerifier | None,
        limiter: Limiter,
    ) -> None:
        self.app = app
        self.settings = settings
        self.verifier = verifier
        self.limiter = limiter
        self.address_rule = Rule(settings.address_rate, settings.address_burst)
        self.user_rule = Rule(settings.user_rate, settings.user_burst)
        self.login_rule = Rule(settings.login_rate, settings.login_burst)
        self.login_address_rule = Rule(settings.login_address_rate, settings.login_address_burst)
        self.signup_rule = Rule(settings.signup_rate, settings.signup_burst)
        self.checkout_rule = Rule(settings.checkout_rate, settings.checkout_burst)
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = strip_identity_headers(list(scope["headers"]))
        scope = {**scope, "headers": headers}
        path: str = scope["path"]
        if path in _UNLIMITED_PATHS or path.startswith(_UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        refusal = await self._limit(f"address:{address}", self.address_rule)
        principal: Principal | None = None
        if refusal is None and self.verifier is not None:
            principal, refusal = await self._authenticate(headers, path, scope["method"])
        if refusal is None and self.settings.requires_admin(path):
            refusal = self._admin_only(principal)
        if refusal is None and principal is not None:
            refusal = await self._limit(f"user:{principal.user_id}", self.user_rule)
            if refusal is None and scope["method"] == "POST" and path == CHECKOUT_PATH:
                refusal = await self._limit(f"checkout:{principal.user_id}", self.checkout_rule)
        if refusal is None and scope["method"] == "POST" and path == LOGIN_PATH:
            refusal = await self._limit(f"login-address:{address}", self.login_address_rule)
            if refusal is None:
                refusal, receive = await self._limit_login(address, receive)
        if refusal is None and scope["method"] == "POST" and path == SIGNUP_PATH:
            refusal = await self._limit(f"signup:{address}", self.signup_rule)
        if refusal is not None:
            status, detail, extra = refusal
            response = problem_response(status, detail, instance=path, headers=extra)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _admin_only(self, principal: Principal | None) -> tuple[int, str, dict[str, str]] | None:
        # With verification off (benchmarks) nobody can prove to be an admin.
        if principal is None:
            challenge = {"WWW-Authenticate": 'Bearer realm="emporium"'}
            return 401, "Sign in as an administrator: this needs a bearer token", challenge
        if not principal.is_admin:
            return 403, "Only an administrator may do this", {}
        return None

    async def _authenticate(
        self, headers: list[tuple[bytes, bytes]], path: str, method: str
    ) -> tuple[Principal | None, tuple[int, str, dict[str, str]] | None]:
        assert self.verifier is not None
        challenge = {"WWW-Authenticate": 'Bearer realm="emporium"'}
        header = _bearer(headers)
        if header is None:
            if method != "OPTIONS" and self.settings.requires_user(path):
                return None, (401, "Sign in: this needs a bearer token", challenge)
            return None, None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, (401, "Authorization must be 'Bearer <token>'", challenge)
        try:
            return await self._verify(token.strip()), None
        except AuthError as exc:
            return None, (401, str(exc), challenge)
        except KeysUnavailableError as exc:
            return None, (503, str(exc), {"Retry-After": "1"})

    async def _verify(self, token: str) -> Principal:
        assert self.verifier is not None
        now = time.monotonic()
        cached = self._verified.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        principal = await self.verifier.verify(token)
        claims_exp = _expiry(token)
        until = now + min(VERIFIED_TTL, max(0.0, claims_exp - time.time()))
        self._verified[token] = (principal, until)
        if len(self._verified) > VERIFIED_MAX:
            self._verified.popitem(last=False)
        return principal

    async def _limit(self, key: str, rule: Rule) -> tuple[int, str, dict[str, str]] | None:
        decision: Decision = await self.limiter.take(key, rule)
        if decision.allowed:
            return None
        return (
            429,
            "Too many requests; slow down and retry later",
            {"Retry-After": decision.retry_after_header},
        )

    async def _limit_login(
        self, address: str, receive: Receive
    ) -> tuple[tuple[int, str, dict[str, str]] | None, Receive]:
        # The email is in the body, so read it (small, bounded) and replay it.
        body, complete = b"", False
        while not complete and len(body) <= _LOGIN_BODY_LIMIT:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            complete = not message.get("more_body", False)
        email = ""
        if complete:
            try:
                parsed = json.loads(body)
                if isinstance(parsed, dict) and isinstance(parsed.get("email"), str):
                    email = parsed["email"].strip().lower()
            except ValueError:
                pass
        refusal = await self._limit(f"login:{address}:{email}", self.login_rule)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}

        return refusal, replay
