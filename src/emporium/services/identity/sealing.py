"""Private signing keys at rest: AES-256-GCM under a key-encryption key (KEK).

:class:`KeySealer` promises that what identity writes to its store is useless
without the KEK: each private PEM is encrypted with a fresh 96-bit nonce and
bound to its ``kid`` (associated data), so a sealed key cannot be swapped onto
another row. ``open`` also reads rows written before sealing existed (plain
PEM) so they can be sealed in place at start-up.

The KEK comes from ``EMPORIUM_IDENTITY_KEY_ENCRYPTION_KEY`` (32 bytes,
URL-safe base64; required in prod). Locally, when it is unset, one is made
once in ``<var>/secrets/identity-kek`` (mode 0600) and reused.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from emporium.chassis.settings import ConfigurationError

__all__ = ["SEALED_PREFIX", "KeySealer", "local_kek", "parse_kek"]

SEALED_PREFIX = "aesgcm1:"
_SETTING = "EMPORIUM_IDENTITY_KEY_ENCRYPTION_KEY"


def parse_kek(value: str) -> bytes:
    """32 bytes from URL-safe base64, or a ConfigurationError naming the setting."""
    try:
        key = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigurationError(
            f"{_SETTING} must be 32 random bytes in URL-safe base64 "
            '(python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )
    return key


def local_kek(var_dir: Path) -> bytes:
    """The local profile's KEK: made once (0600, atomically), then read back."""
    directory = var_dir / "secrets"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "identity-kek"
    if not path.exists():
        # Written aside and linked into place: replicas starting together all
        # end up with the one file that won, never a half-written one.
        temporary = directory / f".identity-kek.{secrets.token_hex(8)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return parse_kek(path.read_text())


class KeySealer:
    """Seals and opens private PEMs with one KEK."""

    def __init__(self, kek: bytes) -> None:
        self._aead = AESGCM(kek)

    def seal(self, kid: str, private_pem: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, private_pem.encode(), kid.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, kid: str, stored: str) -> str:
        if not stored.startswith(SEALED_PREFIX):
            return stored  # written before sealing; ensure() seals it in place
        blob = base64.urlsafe_b64decode(stored[len(SEALED_PREFIX) :])
        try:
            return self._aead.decrypt(blob[:12], blob[12:], kid.encode()).decode()
        except InvalidTag:
            raise ConfigurationError(
                f"the signing key {kid} cannot be decrypted: {_SETTING} is not the key it "
                "was sealed with"
            ) from None
