"""Recommendations' HTTP API: products often bought with a product; public."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from emporium.chassis import Problem, provided
from emporium.chassis.problems import problem_responses
from emporium.chassis.read_model import ReadModel
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

Store = Annotated[RecommendationStore, Depends(provided(RecommendationStore))]
Answers = Annotated[ReadModel, Depends(provided(ReadModel))]


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


@router.get(
    "/products/{product_id}",
    response_model=RecommendationsOut,
    responses=problem_responses(404),
)
async def for_product(
    store: Store,
    answers: Answers,
    product_id: UUID,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    """Products often bought with this one, best first; same-category products
    (marked) fill in while there is not enough order history."""
    # Every product page asks; the answer only changes with an order or a
    # catalog event, so it is read and encoded once until then (main.py).
    key = (product_id, limit)
    encoded = answers.get(key) or await answers.load(key, lambda: _answer(store, product_id, limit))
    return Response(encoded.body, media_type="application/json")


async def _answer(store: RecommendationStore, product_id: UUID, limit: int) -> bytes:
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
    return RecommendationsOut.of(product_id, found).model_dump_json().encode()
