"""Recommendations' HTTP API: products often bought with a product; public."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from emporium.chassis import Problem, Runtime
from emporium.chassis.problems import problem_responses
from emporium.services.recommendations.graph import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Reason,
    Recommendations,
    recommend,
)
from emporium.services.recommendations.repository import RecommendationStore

__all__ = ["router"]

router = APIRouter(prefix="/api/recommendations", tags=["recommendations"])


class RecommendationOut(BaseModel):
    product_id: UUID
    score: int = Field(
        description="bought_together: orders that held both products; "
        "same_category: categories the two share"
    )
    reason: Reason


class RecommendationsOut(BaseModel):
    product_id: UUID
    items: list[RecommendationOut] = Field(description="best first")
    fallback: bool = Field(
        description="true when nothing was bought with this product yet, so every "
        "item is a same-category product"
    )

    @classmethod
    def of(cls, product_id: UUID, found: Recommendations) -> RecommendationsOut:
        return cls(
            product_id=product_id,
            items=[
                RecommendationOut(product_id=r.product_id, score=r.score, reason=r.reason)
                for r in found.items
            ],
            fallback=found.fallback,
        )


def _store(request: Request) -> RecommendationStore:
    runtime: Runtime = request.app.state.runtime
    return runtime.get(RecommendationStore)


@router.get(
    "/products/{product_id}",
    response_model=RecommendationsOut,
    responses=problem_responses(404),
)
async def for_product(
    request: Request,
    product_id: UUID,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> RecommendationsOut:
    """Products often bought with this one, best first; same-category products
    (marked) fill in while there is not enough order history."""
    store = _store(request)
    facts = await store.product(product_id)
    if facts is None or facts.deleted:
        # Known only from catalog's events: a product never announced, or
        # deleted since, is as unknown here as it is in the catalog.
        raise Problem(404, f"No product with id {product_id}")
    found = recommend(
        product_id,
        await store.together(product_id),
        await store.same_category(product_id),
        limit,
    )
    return RecommendationsOut.of(product_id, found)
