"""A customer list query: search, filters, sort and an opaque keyset cursor."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from customer_service.domain.errors import FieldProblem, ValidationFailed

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
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_sort, value, customer_id = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError) as exc:
        raise ValidationFailed([FieldProblem("cursor", "not a cursor this API issued")]) from exc
    if cursor_sort != sort:
        raise ValidationFailed(
            [FieldProblem("cursor", "the cursor belongs to a different sort order")]
        )
    return value, customer_id
