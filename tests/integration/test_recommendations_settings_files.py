"""Recommendations' settings that decide files on disk (the local SQLite inbox)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emporium.chassis.settings import ConfigurationError
from emporium.services.recommendations.settings import RecommendationsSettings


def test_with_redis_and_no_database_url_the_inbox_is_a_local_sqlite_file_locally(
    tmp_path: Path,
) -> None:
    settings = RecommendationsSettings(redis_url="redis://r:6379/2")
    url = settings.resolved_database_url("recommendations", tmp_path, "local")
    assert url.startswith("sqlite+aiosqlite:///")
    assert url.endswith("recommendations-inbox.db")


def test_in_prod_the_inbox_needs_its_own_database_even_with_redis(tmp_path: Path) -> None:
    # A pod keeps nothing on its disk (decision 0018): the inbox and outbox are in SQL.
    settings = RecommendationsSettings(redis_url="redis://r:6379/2")
    with pytest.raises(ConfigurationError, match="EMPORIUM_RECOMMENDATIONS_DATABASE_URL"):
        settings.resolved_database_url("recommendations", tmp_path, "prod")
