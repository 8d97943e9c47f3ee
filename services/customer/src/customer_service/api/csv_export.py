"""The customer list as CSV, streamed, and never a failure that looks like success."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from fastapi.responses import StreamingResponse

from customer_service.domain.customer import Customer
from customer_service.domain.listing import CustomerQuery
from customer_service.store.listing import iterate_all

CSV_COLUMNS = (
    "customer_id", "tracking_number", "company_name", "display_name", "contact_name", "active",
    "parent_id", "customer_type", "currency", "category", "sales_rep", "terms", "email", "phone",
    "ext_account_number", "sub_account_number", "linked_to_quickbooks", "overdue", "version",
)  # fmt: skip
FLAGS = ("linked_to_quickbooks", "overdue", "credit_limit_exceeded")
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


async def csv_export(db: asyncpg.Pool, query: CustomerQuery) -> StreamingResponse:
    """The first chunk's query runs before the 200 and its headers go out, so a query that fails
    answers with an error status, not an empty 200. A later chunk that fails (the database going
    away mid-export) ends the response without its last chunk: clients see a broken transfer."""
    rows = iterate_all(db, query)
    first = await anext(rows, None)
    return StreamingResponse(
        _lines(first, rows),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="customers.csv"'},
    )


async def _lines(
    first: tuple[Customer, dict[str, Any]] | None,
    rest: AsyncIterator[tuple[Customer, dict[str, Any]]],
) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    if first is not None:
        writer.writerow(_cells(*first))
        async for customer, extra in rest:
            writer.writerow(_cells(customer, extra))
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


def _cells(customer: Customer, extra: dict[str, Any]) -> list[object]:
    values = {**customer.fields(), **{k: bool(extra[k]) for k in FLAGS}}
    return [csv_cell(values[c]) for c in CSV_COLUMNS]


def csv_cell(value: object) -> object:
    """Client-entered text is shown, never executed: a leading quote makes it plain text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
