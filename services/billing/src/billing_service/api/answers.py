"""How ledger rows look in an answer: RFC 3339 times, ids as text, nothing that is not there."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


def plain(value: Any) -> Any:
    if value is None or isinstance(value, int | bool | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()  # RFC 3339 (2026-12-03T06:19:11.723628+00:00) or a full-date
    return str(value)  # uuid, numeric


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in row.items()}


def history_item(row: dict[str, Any]) -> dict[str, Any]:
    """A ledger entry as the history shows it: a field that does not apply to this entry (the
    order of a payment, which names its orders in allocations; the entry a payment does not
    reverse) is left out instead of shown as null."""
    return {k: plain(v) for k, v in row.items() if k != "seq" and v is not None}
