"""The identity component: keys, passwords and tokens for one process.

Start-up (``start``) makes sure a signing key exists and seeds the admin
account; both are idempotent and safe when several replicas start at once,
because a unique constraint decides which insert wins.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from emporium.chassis import Database
from emporium.chassis.auth import AuthSettings
from emporium.services.identity.keys import KeyRing
from emporium.services.identity.lockout import Lockout
from emporium.services.identity.models import User
from emporium.services.identity.passwords import Passwords
from emporium.services.identity.sealing import KeySealer
from emporium.services.identity.settings import ADMIN_EMAIL, IdentitySettings
from emporium.services.identity.tokens import TokenService

__all__ = ["IdentityCore"]

logger = logging.getLogger(__name__)


class IdentityCore:
    """Holds the :class:`KeyRing`, :class:`Passwords`, :class:`Lockout` and
    :class:`TokenService`."""

    def __init__(
        self,
        database: Database,
        settings: IdentitySettings,
        auth: AuthSettings,
        *,
        profile: str,
        var_dir: Path = Path("var"),
    ) -> None:
        self.database = database
        self.settings = settings
        self.profile = profile
        self.keys = KeyRing(
            database,
            overlap_seconds=settings.key_overlap_seconds,
            sealer=KeySealer(settings.resolved_kek(var_dir)),
        )
        self.passwords = Passwords(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            max_concurrent=settings.argon2_max_concurrent,
            max_waiting=settings.argon2_max_waiting,
        )
        self.lockout = Lockout(
            database,
            free_failures=settings.login_free_failures,
            window_seconds=settings.login_failure_window_seconds,
            base_seconds=settings.login_lock_base_seconds,
            cap_seconds=settings.login_lock_max_seconds,
        )
        self.tokens = TokenService(
            database,
            self.keys,
            auth,
            access_ttl=settings.access_token_ttl,
            refresh_ttl=settings.refresh_token_ttl,
        )

    async def start(self) -> None:
        await self.keys.ensure(self.settings.signing_key)
        await self.seed_admin()

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    async def seed_admin(self) -> None:
        password = self.settings.effective_admin_password(self.profile)
        async with self.database.session() as session:
            if await session.scalar(select(User.id).where(User.email == ADMIN_EMAIL)):
                return
        password_hash = await self.passwords.hash(password)
        async with self.database.unit_of_work() as uow:
            uow.session.add(
                User(
                    email=ADMIN_EMAIL,
                    name="Administrator",
                    role="admin",
                    password_hash=password_hash,
                )
            )
            try:
                await uow.commit()
            except IntegrityError:
                return  # another replica seeded it a moment ago
        logger.info("seeded the admin account %s", ADMIN_EMAIL)
