"""Identity's local key-encryption key: made once in the var dir, owner-only, and kept."""

from __future__ import annotations

import stat
from pathlib import Path

from emporium.services.identity.settings import IdentitySettings


def test_locally_a_private_key_encryption_key_is_made_once_and_kept(tmp_path: Path) -> None:
    settings = IdentitySettings()
    first = settings.resolved_kek(tmp_path)
    assert len(first) == 32
    assert settings.resolved_kek(tmp_path) == first
    stored = tmp_path / "secrets" / "identity-kek"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
