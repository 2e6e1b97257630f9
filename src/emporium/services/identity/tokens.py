"""Issuing access tokens and rotating refresh tokens.

Access tokens are short-lived EdDSA JWTs carrying exactly what
``emporium.chassis.auth.TokenVerifier`` checks. Refresh tokens are opaque
random strings stored only as SHA-256 hashes; each use spends the token and
issues a new one in the same family. Presenting a spent token means it was
copied: the whole family is revoked so neither the thief nor the owner can
continue without signing in again.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import jwt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis import Database
from emporium.chassis.auth import AuthSettings
from emporium.chassis.clock import as_utc
from emporium.services.identity.keys import KeyRing
from emporium.services.identity.models import RefreshToken, TokenFamily, User, utcnow

__all__ = ["IssuedTokens", "RefreshRejected", "TokenService", "hash_refresh_token"]


class RefreshRejected(Exception):
    """The refresh token is unknown, expired, revoked or was already used."""


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str


class TokenService:
    """Signs access tokens and keeps refresh-token families; stateless between calls."""

    def __init__(
        self,
        database: Database,
        keys: KeyRing,
        auth: AuthSettings,
        *,
        access_ttl: int,
        refresh_ttl: int,
    ) -> None:
        self.database = database
        self.keys = keys
        self.auth = auth
        self.access_ttl = access_ttl
        self.refresh_ttl = timedelta(seconds=refresh_ttl)

    async def access_token(self, user_id: str, role: str) -> str:
        key = await self.keys.active()
        now = int(time.time())
        claims = {
            "iss": self.auth.issuer,
            "aud": self.auth.audience,
            "sub": user_id,
            "role": role,
            "iat": now,
            "exp": now + self.access_ttl,
        }
        return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})

    def _new_refresh(self, session: AsyncSession, family_id: str, user_id: str) -> str:
        token = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                token_hash=hash_refresh_token(token),
                family_id=family_id,
                user_id=user_id,
                expires_at=utcnow() + self.refresh_ttl,
            )
        )
        return token

    async def issue(self, user: User) -> IssuedTokens:
        """A fresh login: a new family and its first refresh token."""
        async with self.database.unit_of_work() as uow:
            family = TokenFamily(user_id=user.id)
            uow.session.add(family)
            await uow.session.flush()
            refresh = self._new_refresh(uow.session, family.id, user.id)
            await uow.commit()
        return IssuedTokens(await self.access_token(user.id, user.role), self.access_ttl, refresh)

    async def refresh(self, token: str) -> IssuedTokens:
        token_hash = hash_refresh_token(token)
        async with self.database.unit_of_work() as uow:
            session = uow.session
            row = await session.get(RefreshToken, token_hash)
            if row is None:
                raise RefreshRejected("unknown refresh token")
            family = await session.get(TokenFamily, row.family_id)
            user = await session.get(User, row.user_id)
            if family is None or family.revoked or user is None:
                raise RefreshRejected("this sign-in was revoked")
            if as_utc(row.expires_at) <= utcnow():
                raise RefreshRejected("refresh token expired")
            # Spend it with a conditional update, so two concurrent uses of one
            # token cannot both succeed: the loser sees rowcount 0, i.e. reuse.
            spent = await session.execute(
                update(RefreshToken)
                .where(RefreshToken.token_hash == token_hash, RefreshToken.used.is_(False))
                .values(used=True)
            )
            if getattr(spent, "rowcount", 0) != 1:
                await session.execute(
                    update(TokenFamily).where(TokenFamily.id == row.family_id).values(revoked=True)
                )
                await uow.commit()
                raise RefreshRejected("refresh token reused; this sign-in is revoked")
            new_refresh = self._new_refresh(session, row.family_id, row.user_id)
            user_id, role = user.id, user.role
            await uow.commit()
        return IssuedTokens(await self.access_token(user_id, role), self.access_ttl, new_refresh)

    async def revoke(self, token: str) -> None:
        """Log out: revoke the token's family. Unknown tokens are ignored (idempotent)."""
        async with self.database.unit_of_work() as uow:
            family_id = await uow.session.scalar(
                select(RefreshToken.family_id).where(
                    RefreshToken.token_hash == hash_refresh_token(token)
                )
            )
            if family_id is None:
                return
            await uow.session.execute(
                update(TokenFamily).where(TokenFamily.id == family_id).values(revoked=True)
            )
            await uow.commit()
