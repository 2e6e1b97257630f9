from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Money(BaseModel):
    """An amount in integer minor units (cents) and an ISO 4217 currency."""

    model_config = ConfigDict(frozen=True)

    amount: int = Field(ge=0, description="integer minor units, e.g. cents")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
