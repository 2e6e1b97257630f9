"""Signing keys: the active Ed25519 key signs access tokens; the JWKS publishes
every key that may still verify.

Keys live in identity's own store, so every replica signs with the same key and
a rotation on one replica is seen by all at their next read. A key stops being
active when a newer generation exists, and stops being published
``overlap`` seconds after that: tokens it signed keep verifying for the overlap,
then stop.

Private keys are stored sealed (AES-GCM, :mod:`.sealing`). A key that is no
longer published is not deleted but *retired*: its private half is erased and
its row stays as a tombstone, so a restart with an old
``EMPORIUM_IDENTITY_SIGNING_KEY`` (one an admin rotated away) finds its kid
and never makes it active again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from emporium.chassis import Database
from emporium.chassis.clock import as_utc
from emporium.chassis.settings import ConfigurationError
from emporium.services.identity.models import SigningKey, utcnow
from emporium.services.identity.sealing import SEALED_PREFIX, KeySealer

__all__ = ["RETIRED", "ActiveKey", "KeyRing", "kid_for", "load_private_key", "new_private_pem"]

# The stored private key of a retired signing key: erased, the kid remembered.
RETIRED = ""

logger = logging.getLogger(__name__)


def new_private_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def load_private_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"EMPORIUM_IDENTITY_SIGNING_KEY is not an unencrypted PEM private key: {exc}"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError("EMPORIUM_IDENTITY_SIGNING_KEY must be an Ed25519 key")
    return key


def _public_jwk(key: Ed25519PrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    return jwk


def kid_for(key: Ed25519PrivateKey) -> str:
    """RFC 7638 thumbprint (truncated): the same key always gets the same kid."""
    jwk = _public_jwk(key)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_key: Ed25519PrivateKey


class KeyRing:
    """Reads and rotates the signing keys in identity's store."""

    def __init__(self, database: Database, *, overlap_seconds: float, sealer: KeySealer) -> None:
        self.database = database
        self.overlap = timedelta(seconds=overlap_seconds)
        self.sealer = sealer
        self._parsed: dict[str, Ed25519PrivateKey] = {}

    def _key(self, row: SigningKey) -> Ed25519PrivateKey:
        # Opening and parsing per token would be wasted work; keys are immutable by kid.
        key = self._parsed.get(row.kid)
        if key is None:
            key = load_private_key(self.sealer.open(row.kid, row.private_pem))
            self._parsed[row.kid] = key
        return key

    async def _rows(self) -> list[SigningKey]:
        async with self.database.session() as session:
            result = await session.scalars(select(SigningKey).order_by(SigningKey.generation))
            return list(result)

    async def ensure(self, configured_pem: str = "") -> None:
        """Make sure a key exists; with ``configured_pem``, make it active unless the
        store already knows it (it may have been rotated away since). Safe to run on
        every replica at once: the unique generation lets exactly one insert win."""
        await self._seal_plain_rows()
        for row in await self._rows():
            if row.private_pem != RETIRED:
                self._key(row)  # a wrong key-encryption key fails here, at start-up
        if configured_pem.strip():
            key = load_private_key(configured_pem)
            kid = kid_for(key)
            rows = await self._rows()
            if any(row.kid == kid for row in rows):
                return  # active, retiring, or retired (a tombstone): never re-activated
            await self._insert(kid, configured_pem.strip(), after=rows[-1] if rows else None)
            return
        if not await self._rows():
            private_pem = new_private_pem()
            await self._insert(kid_for(load_private_key(private_pem)), private_pem, after=None)

    async def rotate(self) -> str:
        """Make a new key active; the previous one keeps verifying for the overlap."""
        for _attempt in range(5):
            rows = await self._rows()
            private_pem = new_private_pem()
            kid = kid_for(load_private_key(private_pem))
            if await self._insert(kid, private_pem, after=rows[-1] if rows else None):
                await self._drop_expired()
                logger.info("signing key rotated; active kid %s", kid)
                return kid
        raise RuntimeError("could not rotate the signing key: too many concurrent rotations")

    async def _seal_plain_rows(self) -> None:
        # Rows written before keys were sealed: seal them where they are.
        for row in await self._rows():
            if row.private_pem != RETIRED and not row.private_pem.startswith(SEALED_PREFIX):
                async with self.database.unit_of_work() as uow:
                    await uow.session.execute(
                        update(SigningKey)
                        .where(SigningKey.kid == row.kid, SigningKey.private_pem == row.private_pem)
                        .values(private_pem=self.sealer.seal(row.kid, row.private_pem))
                    )
                    await uow.commit()
                logger.info("sealed the stored signing key %s", row.kid)

    async def _insert(self, kid: str, private_pem: str, *, after: SigningKey | None) -> bool:
        generation = after.generation + 1 if after is not None else 1
        sealed = self.sealer.seal(kid, private_pem)
        async with self.database.unit_of_work() as uow:
            uow.session.add(SigningKey(kid=kid, generation=generation, private_pem=sealed))
            try:
                await uow.commit()
            except IntegrityError:
                # Another replica created this generation first; theirs stands.
                return False
        return True

    async def _drop_expired(self) -> None:
        """Retire keys past their overlap: erase the private key, keep the kid."""
        rows = await self._rows()
        expired = [row.kid for row in self._published(rows, expired=True)]
        if expired:
            async with self.database.unit_of_work() as uow:
                await uow.session.execute(
                    update(SigningKey)
                    .where(SigningKey.kid.in_(expired))
                    .values(private_pem=RETIRED)
                )
                await uow.commit()
            for kid in expired:
                self._parsed.pop(kid, None)

    def _published(self, rows: list[SigningKey], *, expired: bool = False) -> list[SigningKey]:
        now = utcnow()
        keep: list[SigningKey] = []
        dropped: list[SigningKey] = []
        for row, successor in zip(rows, [*rows[1:], None], strict=True):
            if row.private_pem == RETIRED:
                continue
            if successor is None or as_utc(successor.created_at) + self.overlap > now:
                keep.append(row)
            else:
                dropped.append(row)
        return dropped if expired else keep

    async def active(self) -> ActiveKey:
        async with self.database.session() as session:
            row = await session.scalar(
                select(SigningKey).where(
                    SigningKey.generation
                    == select(func.max(SigningKey.generation)).scalar_subquery()
                )
            )
        if row is None or row.private_pem == RETIRED:
            raise RuntimeError("identity has no signing key (start-up did not run)")
        return ActiveKey(row.kid, self._key(row))

    async def jwks(self) -> dict[str, Any]:
        """Public keys only: every key still inside its overlap, newest first."""
        keys = []
        for row in reversed(self._published(await self._rows())):
            jwk = _public_jwk(self._key(row))
            jwk.update(kid=row.kid, alg="EdDSA", use="sig")
            keys.append(jwk)
        return {"keys": keys}
