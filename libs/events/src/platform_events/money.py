"""Money on the wire: integer minor units plus an ISO 4217 code. Floats are refused, not rounded."""

from __future__ import annotations

from typing import Annotated

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

# The codes ISO 4217 assigns today, as pycountry (pinned) lists them. The schemas carry them as an
# enum under the three-letter pattern: the pattern is the lasting contract, the enum refines it to
# the assigned codes (the compatibility gate lets the list follow ISO; compat.py).
ISO_4217_CODES = tuple(sorted(currency.alpha_3 for currency in pycountry.currencies))
_ISO_4217 = frozenset(ISO_4217_CODES)


def _assigned_code(code: str) -> str:
    if code not in _ISO_4217:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


CurrencyCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code",
        json_schema_extra={"enum": list(ISO_4217_CODES)},
    ),
    AfterValidator(_assigned_code),
]
# StrictInt: 10.5 or "10" is a validation error, never a silent conversion.
MinorUnits = Annotated[StrictInt, Field(ge=-(10**15), le=10**15)]


class Money(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    amount_minor: MinorUnits
    currency: CurrencyCode
