"""HTTP routes for customers: create, read, update, inactivate, reactivate, list, export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from customer_service.api.schemas import (
    CustomerCreateIn,
    CustomerOut,
    CustomerPatchIn,
    StatusChangeIn,
)
from customer_service.api.versioning import expected_version, set_etag
from customer_service.domain.customer import Customer
from customer_service.domain.errors import NotFound
from customer_service.domain.listing import SORTS, CustomerQuery, decode_cursor, encode_cursor
from customer_service.handlers.customers import (
    create_customer,
    set_customer_active,
    update_customer_fields,
)
from customer_service.store.customers import load_customer
from customer_service.store.listing import flags_for, iterate_all, list_page
from platform_kit.auth import Principal
from platform_kit.runtime import ServiceRuntime


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


CSV_COLUMNS = (
    "customer_id", "tracking_number", "company_name", "display_name", "contact_name", "active",
    "parent_id", "customer_type", "currency", "category", "sales_rep", "terms", "email", "phone",
    "ext_account_number", "sub_account_number", "linked_to_quickbooks", "overdue", "version",
)  # fmt: skip


def customer_routes(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/customers", tags=["customers"])
    reader = Depends(runtime.auth.require("read"))
    writer = Depends(runtime.auth.require("write"))

    async def with_flags(customer: Customer) -> CustomerOut:
        """Written customers answer with the same flags a read shows (linked, overdue, ...)."""
        flags = await flags_for(runtime.db, customer.tenant_id, customer.customer_id)
        return CustomerOut.of(customer, **flags)

    def list_query(
        principal: Principal = reader,
        q: Annotated[str | None, Query(max_length=200)] = None,
        status: Literal["active", "inactive", "all"] = "all",
        selectable: bool = False,
        category: str | None = None,
        sales_rep: str | None = None,
        parent_id: str | None = None,
        linked: bool | None = None,
        overdue: bool | None = None,
        sort: Literal[SORTS] = "name",  # type: ignore[valid-type]
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> CustomerQuery:
        return CustomerQuery(
            tenant_id=principal.tenant_id,
            q=q.strip() if q and q.strip() else None,
            status="active" if selectable else status,
            category=category,
            sales_rep=sales_rep,
            parent_id=_valid_uuid_or_none(parent_id),
            linked=linked,
            overdue=overdue,
            sort=sort,
            limit=limit,
            after=decode_cursor(sort, cursor) if cursor else None,
        )

    @router.post("", status_code=201, response_model=CustomerOut)
    async def create(
        body: CustomerCreateIn, response: Response, principal: Principal = writer
    ) -> CustomerOut:
        customer = await create_customer(runtime.db, principal.tenant_id, body.domain_values())
        set_etag(response, customer.version)
        response.headers["Location"] = f"/customers/{customer.customer_id}"
        return await with_flags(customer)

    @router.get("", response_model=CustomerPage)
    async def list_customers(query: CustomerQuery = Depends(list_query)) -> CustomerPage:
        rows = await list_page(
            runtime.db, query.__class__(**{**query.__dict__, "limit": query.limit + 1})
        )
        page, more = rows[: query.limit], len(rows) > query.limit
        items = [CustomerOut.of(c, **_flags(extra)) for c, extra in page]
        next_cursor = None
        if more and page:
            last, extra = page[-1]
            next_cursor = encode_cursor(query, _plain(extra["sort_value"]), last.customer_id)
        return CustomerPage(items=items, next_cursor=next_cursor)

    @router.get("/export.csv", response_class=StreamingResponse)
    async def export_csv(query: CustomerQuery = Depends(list_query)) -> StreamingResponse:
        async def lines() -> AsyncIterator[str]:
            buffer = io.StringIO()
            writer_ = csv.writer(buffer)
            writer_.writerow(CSV_COLUMNS)
            async for customer, extra in iterate_all(runtime.db, query):
                values = {**customer.fields(), **_flags(extra)}
                writer_.writerow([csv_cell(values[c]) for c in CSV_COLUMNS])
                if buffer.tell() > 64_000:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        return StreamingResponse(
            lines(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="customers.csv"'},
        )

    @router.get("/{customer_id}", response_model=CustomerOut)
    async def read(
        customer_id: str, response: Response, principal: Principal = reader
    ) -> CustomerOut:
        customer = await load_customer(runtime.db, principal.tenant_id, customer_id)
        if customer is None:
            raise NotFound(f"customer {customer_id} not found")
        set_etag(response, customer.version)
        return await with_flags(customer)

    @router.patch("/{customer_id}", response_model=CustomerOut)
    async def update(
        customer_id: str,
        body: CustomerPatchIn,
        response: Response,
        principal: Principal = writer,
        version: int | None = Depends(expected_version),
    ) -> CustomerOut:
        customer = await update_customer_fields(
            runtime.db, principal.tenant_id, customer_id, body.domain_values(), version
        )
        set_etag(response, customer.version)
        return await with_flags(customer)

    @router.post("/{customer_id}/inactivate", response_model=CustomerOut)
    async def inactivate(
        customer_id: str,
        response: Response,
        body: StatusChangeIn | None = None,
        principal: Principal = writer,
        version: int | None = Depends(expected_version),
    ) -> CustomerOut:
        reason = body.reason if body else None
        customer = await set_customer_active(
            runtime.db, principal.tenant_id, customer_id, False, version, reason
        )
        set_etag(response, customer.version)
        return await with_flags(customer)

    @router.post("/{customer_id}/reactivate", response_model=CustomerOut)
    async def reactivate(
        customer_id: str,
        response: Response,
        principal: Principal = writer,
        version: int | None = Depends(expected_version),
    ) -> CustomerOut:
        customer = await set_customer_active(
            runtime.db, principal.tenant_id, customer_id, True, version
        )
        set_etag(response, customer.version)
        return await with_flags(customer)

    return router


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """Client-entered text is shown, never executed: a leading quote makes it plain text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _flags(extra: dict[str, object]) -> dict[str, bool]:
    return {k: bool(extra[k]) for k in ("linked_to_quickbooks", "overdue", "credit_limit_exceeded")}


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _valid_uuid_or_none(value: str | None) -> str | None:
    import uuid

    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        from customer_service.domain.errors import FieldProblem, ValidationFailed

        raise ValidationFailed([FieldProblem("parent_id", "not a customer id")]) from None
