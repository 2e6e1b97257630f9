"""The prod profile refuses to start identity without real secrets."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from emporium.chassis.settings import ConfigurationError
from emporium.services.identity.settings import IdentitySettings

PEM = (
    Ed25519PrivateKey.generate()
    .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    .decode()
)


def test_local_profile_uses_the_default_admin_password_and_generates_a_key() -> None:
    settings = IdentitySettings(admin_password="")
    settings.check("local")
    assert settings.effective_admin_password("local") == "emporium-admin"


@pytest.mark.parametrize("password", ["", "emporium-admin", "short-pass"])
def test_prod_refuses_a_missing_default_or_short_admin_password(password: str) -> None:
    settings = IdentitySettings(admin_password=password, signing_key=PEM)
    with pytest.raises(ConfigurationError, match="EMPORIUM_ADMIN_PASSWORD"):
        settings.check("prod")


def test_prod_refuses_a_missing_signing_key() -> None:
    settings = IdentitySettings(admin_password="a-long-real-secret-42")
    with pytest.raises(ConfigurationError, match="EMPORIUM_IDENTITY_SIGNING_KEY"):
        settings.check("prod")


KEK = secrets.token_urlsafe(32)


def test_prod_starts_with_a_real_password_and_keys() -> None:
    IdentitySettings(
        admin_password="a-long-real-secret-42", signing_key=PEM, key_encryption_key=KEK
    ).check("prod")


def test_prod_refuses_a_missing_key_encryption_key() -> None:
    settings = IdentitySettings(admin_password="a-long-real-secret-42", signing_key=PEM)
    with pytest.raises(ConfigurationError, match="EMPORIUM_IDENTITY_KEY_ENCRYPTION_KEY"):
        settings.check("prod")


@pytest.mark.parametrize(
    "kek",
    ["changeme", "too-short", secrets.token_urlsafe(16)],
    # Named, so every pytest-xdist worker collects the same test ids.
    ids=["changeme", "too-short", "16-random-bytes"],
)
def test_a_key_encryption_key_that_is_not_32_bytes_is_refused(kek: str) -> None:
    settings = IdentitySettings(
        admin_password="a-long-real-secret-42", signing_key=PEM, key_encryption_key=kek
    )
    for profile in ("local", "prod"):
        with pytest.raises(ConfigurationError, match="EMPORIUM_IDENTITY_KEY_ENCRYPTION_KEY"):
            settings.check(profile)
