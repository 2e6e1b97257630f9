"""The storefront's session keys: required in prod, generated once locally, kept owner-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from emporium.chassis.settings import ConfigurationError
from emporium.services.storefront.settings import StorefrontSettings

KEY = "k" * 40


def test_the_prod_profile_refuses_to_start_without_a_session_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="EMPORIUM_STOREFRONT_SESSION_KEY"):
        StorefrontSettings().session_keys("prod", tmp_path)


def test_a_short_session_key_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="EMPORIUM_STOREFRONT_SESSION_KEY"):
        StorefrontSettings(session_key="short").session_keys("prod", tmp_path)


def test_comma_separated_keys_rotate_with_the_first_sealing(tmp_path: Path) -> None:
    settings = StorefrontSettings(session_key=f"{'n' * 40}, {KEY}")
    assert settings.session_keys("prod", tmp_path) == ["n" * 40, KEY]


def test_locally_every_instance_of_one_var_dir_shares_one_generated_key(tmp_path: Path) -> None:
    first = StorefrontSettings().session_keys("local", tmp_path)
    second = StorefrontSettings().session_keys("local", tmp_path)
    other = StorefrontSettings().session_keys("local", tmp_path / "other")
    assert first == second != other
    assert len(first[0]) >= 32
    assert (tmp_path / "storefront" / "session.key").stat().st_mode & 0o077 == 0
