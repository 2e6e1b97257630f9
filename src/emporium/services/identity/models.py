"""identity's tables: users, signing keys, refresh tokens and their families."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from emporium.chassis import service_metadata
from emporium.chassis.clock import as_utc
from emporium.chassis.clock import utcnow as chassis_utcnow

__all__ = [
    "LoginThrottle",
    "RefreshToken",
    "SigningKey",
    "TokenFamily",
    "User",
    "metadata",
    "utcnow",
]


class Base(DeclarativeBase):
    """Identity's models. Its metadata is identity's store only: creating it makes no
    other service's tables. Constraint names follow the chassis' convention."""

    metadata = service_metadata()


metadata = Base.metadata


def utcnow() -> datetime:
    """The chassis clock, zone-aware: identity's columns keep their zone."""
    return as_utc(chassis_utcnow())


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    # Stored lower-cased, so the unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="customer")
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SigningKey(Base):
    """One Ed25519 key. The highest ``generation`` signs; the one before it is
    retired at its successor's ``created_at`` and published until the overlap ends.
    ``generation`` is unique, so two replicas racing to create or rotate a key
    cannot both win."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, unique=True)
    # Sealed (AES-GCM) private key; empty once the key is retired.
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TokenFamily(Base):
    """All refresh tokens descended from one login; revoked as a whole."""

    __tablename__ = "token_families"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RefreshToken(Base):
    """A refresh token, by the SHA-256 of its value (never the value itself)."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[str] = mapped_column(String(36))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginThrottle(Base):
    """Failed logins for one email (whether or not it has an account), so every
    replica applies the same backoff."""

    __tablename__ = "login_throttles"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
