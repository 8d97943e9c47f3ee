"""A customer list query: search, filters, sort and an opaque keyset cursor."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from customer_service.domain.errors import FieldProblem, ValidationFailed
from platform_kit.text import text_problem

SORTS = ("name", "-name", "created", "-created", "tracking_number", "-tracking_number")
Status = Literal["active", "inactive", "all"]


@dataclass(frozen=True)
class CustomerQuery:
    tenant_id: str
    q: str | None = None
    status: Status = "all"
    category: str | None = None
    sales_rep: str | None = None
    parent_id: str | None = None
    linked: bool | None = None
    overdue: bool | None = None
    sort: str = "name"
    limit: int = 50
    after: tuple[Any, str] | None = None  # (sort value, customer id) of the last row seen

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")

    def next_page(self, sort_value: Any, customer_id: str) -> CustomerQuery:
        return replace(self, after=(sort_value, customer_id))


def encode_cursor(query: CustomerQuery, sort_value: Any, customer_id: str) -> str:
    raw = json.dumps([query.sort, sort_value, customer_id], default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[Any, str]:
    """The (sort value, customer id) a cursor carries, checked value by value: a cursor is
    client input, and a tampered one must be a 422, not a query the database refuses."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError as exc:  # bad base64, bytes that are not UTF-8, not JSON
        raise _bad_cursor("not a cursor this API issued") from exc
    if not isinstance(decoded, list) or len(decoded) != 3:
        raise _bad_cursor("not a cursor this API issued")
    cursor_sort, value, customer_id = decoded
    if cursor_sort != sort:
        raise _bad_cursor("the cursor belongs to a different sort order", "sort_mismatch")
    if not _is_sort_value(sort.lstrip("-"), value) or not _is_uuid(customer_id):
        raise _bad_cursor("not a cursor this API issued")
    return value, customer_id


def _bad_cursor(message: str, code: str = "malformed") -> ValidationFailed:
    return ValidationFailed([FieldProblem("cursor", message, code)])


def _is_sort_value(sort_key: str, value: Any) -> bool:
    if not isinstance(value, str) or text_problem(value) is not None:
        return False
    if sort_key != "created":
        return True
    try:
        moment = datetime.fromisoformat(value)
        return moment.tzinfo is not None and moment.astimezone(UTC) is not None
    except (ValueError, OverflowError):  # not a time, or before year 1 once in UTC
        return False


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True
