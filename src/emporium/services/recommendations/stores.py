"""Which store the settings choose: Redis when configured, else SQL."""

from __future__ import annotations

from emporium.chassis import Database
from emporium.services.recommendations.repository import RecommendationStore
from emporium.services.recommendations.settings import RecommendationsSettings
from emporium.services.recommendations.sql_store import SqlRecommendationStore

__all__ = ["make_store"]


def make_store(settings: RecommendationsSettings, database: Database) -> RecommendationStore:
    if settings.uses_redis:  # only then the Redis client is imported
        from emporium.services.recommendations.redis_store import RedisRecommendationStore

        return RedisRecommendationStore(settings.resolved_redis_url(), prefix=settings.redis_prefix)
    return SqlRecommendationStore(database)
