"""Verifying who is calling: JWT access tokens checked against identity's JWKS.

Every service verifies the bearer token itself (the gateway does too), so a
request that reaches a service directly is still refused. Only asymmetric
algorithms on an allow-list are accepted (``none`` and HMAC never), the key is
chosen by ``kid`` from a cached JWKS, and ``exp``, ``iss`` and ``aud`` must
match. Routes declare what they need with the dependencies :data:`CurrentUser`
and :data:`AdminUser`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

import aiohttp
import jwt
from fastapi import Depends, Request
from pydantic_settings import BaseSettings, SettingsConfigDict

from emporium.chassis.problems import Problem

__all__ = [
    "ALLOWED_ALGORITHMS",
    "AdminUser",
    "AuthError",
    "AuthSettings",
    "CurrentUser",
    "JwksCache",
    "KeysUnavailableError",
    "OptionalUser",
    "Principal",
    "TokenVerifier",
]

logger = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("EdDSA", "RS256")
Role = Literal["customer", "admin"]
JwksFetcher = Callable[[], Awaitable[Mapping[str, Any]]]


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMPORIUM_AUTH_", extra="ignore")

    issuer: str = "emporium-identity"
    audience: str = "emporium"
    # Empty: <identity upstream>/.well-known/jwks.json
    jwks_url: str = ""
    jwks_ttl_seconds: float = 300.0
    # An unknown kid triggers a refetch, at most this often (a flood of forged
    # kids must not become a flood of JWKS requests).
    jwks_min_refresh_seconds: float = 2.0
    leeway_seconds: float = 5.0


class AuthError(Exception):
    """The token is missing, malformed, forged, expired or not for us."""


class KeysUnavailableError(Exception):
    """The token names a key we do not hold and the JWKS cannot be fetched now:
    the token may well be good, so this is a 503 to retry, never a 401 (which
    tells a client to throw its credentials away)."""


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    user_id: UUID
    role: Role
    token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class JwksCache:
    """Public keys by ``kid``, fetched from identity and refreshed when stale or
    when a token names a kid not seen yet (rotation)."""

    def __init__(self, fetch: JwksFetcher, *, ttl: float = 300.0, min_refresh: float = 2.0) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        # The last document fetched whole, and whether the latest fetch failed.
        self.document: Mapping[str, Any] | None = None
        self.failing = False

    async def key(self, kid: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        stale = now - self._fetched_at > self._ttl
        unknown = kid not in self._keys and now - self._fetched_at > self._min_refresh
        if stale or unknown:
            await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at <= self._min_refresh:
                return
            try:
                document = await self._fetch()
            except Exception as exc:
                # Keep verifying with the keys we have; identity may be restarting.
                logger.warning("fetching the JWKS failed: %s", exc)
                self._fetched_at = time.monotonic() - self._ttl + self._min_refresh
                self.failing = True
                return
            keys: dict[str, jwt.PyJWK] = {}
            for entry in document.get("keys", []):
                try:
                    key = jwt.PyJWK.from_dict(dict(entry))
                except jwt.PyJWTError as exc:
                    logger.warning("ignoring an unusable JWK: %s", exc)
                    continue
                if key.key_id:
                    keys[key.key_id] = key
            self._keys = keys
            self._fetched_at = time.monotonic()
            self.document = document
            self.failing = False


class TokenVerifier:
    """Turns a bearer token into a :class:`Principal`, or raises :class:`AuthError`
    (or :class:`KeysUnavailableError` while it cannot know).

    Also a chassis component (start/stop/ready) so it owns its HTTP session.
    """

    def __init__(self, settings: AuthSettings, jwks_url: str, *, fetch: JwksFetcher | None = None):
        self.settings = settings
        self.jwks_url = jwks_url
        self._session: aiohttp.ClientSession | None = None
        self.jwks = JwksCache(
            fetch or self._fetch_jwks,
            ttl=settings.jwks_ttl_seconds,
            min_refresh=settings.jwks_min_refresh_seconds,
        )

    async def _fetch_jwks(self) -> Mapping[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        async with self._session.get(self.jwks_url) as response:
            response.raise_for_status()
            document: Mapping[str, Any] = json.loads(await response.read())
            return document

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def ready(self) -> bool:
        # Readiness does not depend on identity: tokens verify from cached keys.
        return True

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("malformed token") from exc
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise AuthError(f"algorithm {algorithm!r} is not accepted")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token has no key id")
        key = await self.jwks.key(kid)
        if key is None:
            if self.jwks.failing:
                raise KeysUnavailableError(
                    "Cannot verify the token now: the signing keys are unreachable; retry shortly"
                )
            raise AuthError("unknown signing key")
        if key.algorithm_name != algorithm:
            raise AuthError("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        role = claims.get("role")
        if role not in ("customer", "admin"):
            raise AuthError("token has no valid role")
        try:
            user_id = UUID(str(claims["sub"]))
        except ValueError as exc:
            raise AuthError("token subject is not a user id") from exc
        return Principal(user_id=user_id, role=role, token=token)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="emporium"'})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization must be 'Bearer <token>'")
    return token.strip()


async def _optional_user(request: Request) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    verifier: TokenVerifier | None = request.app.state.runtime.components.get("auth")
    if verifier is None:
        raise RuntimeError("this service was created without auth=True")
    try:
        return await verifier.verify(token)
    except AuthError as exc:
        raise _unauthorized(str(exc)) from exc
    except KeysUnavailableError as exc:
        raise Problem(503, str(exc), headers={"Retry-After": "1"}) from exc


async def _current_user(user: Annotated[Principal | None, Depends(_optional_user)]) -> Principal:
    if user is None:
        raise _unauthorized("Sign in: this needs a bearer token")
    return user


async def _admin_user(user: Annotated[Principal, Depends(_current_user)]) -> Principal:
    if not user.is_admin:
        raise Problem(403, "Only an admin may do this")
    return user


OptionalUser = Annotated[Principal | None, Depends(_optional_user)]
CurrentUser = Annotated[Principal, Depends(_current_user)]
AdminUser = Annotated[Principal, Depends(_admin_user)]
