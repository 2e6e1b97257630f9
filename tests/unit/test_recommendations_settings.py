"""Recommendations' settings choose the store and fail fast where a backfill could not work."""

from __future__ import annotations

import pytest

from emporium.chassis.settings import ConfigurationError
from emporium.services.recommendations.settings import RecommendationsSettings


def test_a_redis_url_selects_redis_and_an_explicit_store_wins() -> None:
    assert RecommendationsSettings(redis_url="redis://r:6379/2").uses_redis
    assert not RecommendationsSettings().uses_redis
    assert not RecommendationsSettings(redis_url="redis://r:6379/2", store="sql").uses_redis


def test_the_redis_store_without_a_url_names_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="EMPORIUM_RECOMMENDATIONS_REDIS_URL"):
        RecommendationsSettings(store="redis").resolved_redis_url()


def test_prod_refuses_the_default_admin_password_while_the_backfill_is_on() -> None:
    with pytest.raises(ConfigurationError, match="EMPORIUM_ADMIN_PASSWORD"):
        RecommendationsSettings(admin_password="emporium-admin").check("prod")
    RecommendationsSettings(admin_password="emporium-admin").check("local")
    RecommendationsSettings(admin_password="emporium-admin", backfill_on_start=False).check("prod")
    RecommendationsSettings(admin_password="a-real-long-password").check("prod")


def test_the_admin_password_is_read_from_the_shared_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMPORIUM_ADMIN_PASSWORD", "from-the-environment")
    assert RecommendationsSettings().admin_password == "from-the-environment"
