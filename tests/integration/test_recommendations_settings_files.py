"""Recommendations' settings that decide files on disk (the local SQLite inbox)."""

from __future__ import annotations

from pathlib import Path

from emporium.services.recommendations.settings import RecommendationsSettings


def test_with_redis_and_no_database_url_the_inbox_is_a_local_sqlite_file_even_in_prod(
    tmp_path: Path,
) -> None:
    settings = RecommendationsSettings(redis_url="redis://r:6379/2")
    url = settings.resolved_database_url("recommendations", tmp_path, "prod")
    assert url.startswith("sqlite+aiosqlite:///")
    assert url.endswith("recommendations-inbox.db")
