"""Money on the wire: integer minor units plus an ISO 4217 code. Floats are refused, not rounded."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
# StrictInt: 10.5 or "10" is a validation error, never a silent conversion.
MinorUnits = Annotated[StrictInt, Field(ge=-(10**15), le=10**15)]


class Money(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    amount_minor: MinorUnits
    currency: CurrencyCode
