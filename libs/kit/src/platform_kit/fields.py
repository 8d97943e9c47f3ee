"""Input types for request fields whose values must also fit the database.

`Timestamp`: an RFC 3339 date-time with an offset, as text only. Pydantic alone takes `0.5` as
seconds after 1970, and `0001-01-01T00:00:00+14:00` parses although it lies before year 1 in UTC:
asyncpg converts to UTC before sending and fails with an overflow, a 500. Both are a 422 here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T09:00:00Z")
    return value


def _representable_in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("lies outside the years 1-9999 once taken to UTC") from None


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_representable_in_utc),
    Field(json_schema_extra={"format": "date-time"}),
]
