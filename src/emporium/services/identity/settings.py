"""identity's settings (``EMPORIUM_IDENTITY_*`` plus ``EMPORIUM_ADMIN_PASSWORD``).

Built at start-up. :meth:`IdentitySettings.check` enforces what the prod profile
demands: a signing key and a key-encryption key from configuration, and a real
admin password.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from emporium.chassis import ServiceSettings
from emporium.chassis.settings import ConfigurationError
from emporium.services.identity.sealing import local_kek, parse_kek

__all__ = ["ADMIN_EMAIL", "DEFAULT_ADMIN_PASSWORD", "IdentitySettings"]

ADMIN_EMAIL = "admin@emporium.local"
DEFAULT_ADMIN_PASSWORD = "emporium-admin"


class IdentitySettings(ServiceSettings):
    """Token lifetimes, key rotation overlap, argon2 cost and the seeded admin."""

    model_config = SettingsConfigDict(env_prefix="EMPORIUM_IDENTITY_", extra="ignore")

    access_token_ttl: int = Field(default=15 * 60, ge=10)
    refresh_token_ttl: int = Field(default=30 * 24 * 3600, ge=60)
    # How long a replaced signing key stays published (and so verifying) after
    # a rotation. At least the access token lifetime, or tokens die early.
    key_overlap_seconds: float = Field(default=30 * 60, ge=0)
    # Ed25519 private key (PKCS#8 PEM). Required in prod; locally one is generated.
    signing_key: str = ""
    # argon2id; defaults are OWASP's minimum (19 MiB, 2 passes, 1 lane); see
    # docs/decisions/0007 for the measured login throughput.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Hashes computed at once (each holds argon2_memory_kib) and requests let
    # wait for one; past that a 503 with Retry-After, so a burst of sign-ups
    # or logins cannot exhaust memory.
    argon2_max_concurrent: int = Field(default=4, ge=1)
    argon2_max_waiting: int = Field(default=32, ge=0)
    # Per-account backoff, whatever the gateway does: after this many failed
    # logins for one email (known or not) within the window, each further
    # failure locks that email for twice as long, up to the cap.
    login_free_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: float = Field(default=3600, gt=0)
    login_lock_base_seconds: float = Field(default=1.0, gt=0)
    login_lock_max_seconds: float = Field(default=900, gt=0)
    # AES-256 key (URL-safe base64 of 32 bytes) sealing the private signing
    # keys in the store. Required in prod; locally one is made in var/secrets.
    key_encryption_key: str = ""
    # Not prefixed: the launcher's summary and docs/operations.md name this variable.
    admin_password: str = Field(
        default="",
        validation_alias=AliasChoices("EMPORIUM_ADMIN_PASSWORD", "admin_password"),
        min_length=0,
    )

    def _admin_password_problem(self, profile: str) -> str | None:
        if profile == "prod":
            if not self.admin_password or self.admin_password == DEFAULT_ADMIN_PASSWORD:
                return (
                    "EMPORIUM_ADMIN_PASSWORD must be set to a non-default value in the prod profile"
                )
            if len(self.admin_password) < 12:
                return "EMPORIUM_ADMIN_PASSWORD must be at least 12 characters in the prod profile"
        return None

    def effective_admin_password(self, profile: str) -> str:
        problem = self._admin_password_problem(profile)
        if problem:
            raise ConfigurationError(problem)
        return self.admin_password or DEFAULT_ADMIN_PASSWORD

    def problems(self, profile: str) -> list[str]:
        found = super().problems(profile)
        if problem := self._admin_password_problem(profile):
            found.append(problem)
        if profile == "prod" and not self.signing_key.strip():
            found.append(
                "EMPORIUM_IDENTITY_SIGNING_KEY (Ed25519 PKCS#8 PEM) must be set in the prod profile"
            )
        if profile == "prod" and not self.key_encryption_key.strip():
            found.append("EMPORIUM_IDENTITY_KEY_ENCRYPTION_KEY must be set in the prod profile")
        if self.key_encryption_key.strip():
            try:
                parse_kek(self.key_encryption_key)
            except ConfigurationError as error:
                found.append(str(error))
        return found

    def check(self, profile: str) -> None:
        """Fail fast on what the profile forbids, naming every setting at once.

        The database URL is left to the chassis (it is also the store's, not only
        a setting); the preflight lists it with the rest.
        """
        problems = [p for p in self.problems(profile) if "DATABASE_URL" not in p]
        if problems:
            raise ConfigurationError("; ".join(problems))

    def resolved_kek(self, var_dir: Path) -> bytes:
        """The configured key-encryption key, else (local profile) the one in var/."""
        if self.key_encryption_key.strip():
            return parse_kek(self.key_encryption_key)
        return local_kek(var_dir)
