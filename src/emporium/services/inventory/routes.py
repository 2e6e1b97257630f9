"""Inventory's HTTP API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from emporium.chassis import Database, Problem
from emporium.services.inventory.models import StockItem

router = APIRouter(prefix="/api/inventory", tags=["inventory"])

Sku = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class StockOut(BaseModel):
    sku: str
    available: int


@router.get("/items/{sku}", response_model=StockOut)
async def get_item(request: Request, sku: Sku) -> StockOut:
    database: Database = request.app.state.runtime.db
    async with database.session() as session:
        item = await session.get(StockItem, sku)
        if item is None:
            raise Problem(404, f"No stock item for SKU {sku}")
        return StockOut(sku=item.sku, available=item.available)
