"""Request bodies of billing's API (responses are plain JSON built from the read queries)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from platform_events.contracts.billing import OrderAllocation
from platform_events.money import CurrencyCode

PAYMENT_METHODS = ("cash", "check", "card", "bank_transfer", "ach", "wire", "other")


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="Natural key; defaults to the Idempotency-Key header"
    )
    amount_minor: Annotated[StrictInt, Field(gt=0, le=10**15)]
    currency: CurrencyCode
    method: Annotated[str, Field(pattern="^(" + "|".join(PAYMENT_METHODS) + ")$")] = "other"
    allocations: list[OrderAllocation] = Field(default_factory=list, max_length=500)
    note: Annotated[str, Field(max_length=2000)] | None = None
