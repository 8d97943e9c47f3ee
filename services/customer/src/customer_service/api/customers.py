"""HTTP routes for customers: create, read, update, inactivate, reactivate, list, export."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from customer_service.api.csv_export import FLAGS, csv_export
from customer_service.api.schemas import (
    CustomerCreateIn,
    CustomerOut,
    CustomerPatchIn,
    StatusChangeIn,
    nfc,
)
from customer_service.api.versioning import IfMatch, set_etag
from customer_service.domain.customer import Customer
from customer_service.domain.errors import FieldProblem, NotFound, ValidationFailed
from customer_service.domain.listing import SORTS, CustomerQuery, decode_cursor, encode_cursor
from customer_service.handlers.customers import set_customer_active, update_customer_fields
from customer_service.handlers.fast_create import FastCreate
from customer_service.store.customers import load_customer
from customer_service.store.listing import flags_for, list_page
from platform_kit.deps import Db, Reader, Writer
from platform_kit.versioning import API_PREFIX


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


CSV_COLUMNS = (
    "customer_id", "tracking_number", "company_name", "display_name", "contact_name", "active",
    "parent_id", "customer_type", "currency", "category", "sales_rep", "terms", "email", "phone",
    "ext_account_number", "sub_account_number", "linked_to_quickbooks", "overdue", "version",
)  # fmt: skip


router = APIRouter(prefix="/customers", tags=["customers"])
# Answers a client can act on, beyond the platform's own (platform_kit.openapi).
VERSION_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "If-Match names an older version"}
}


async def with_flags(db: asyncpg.Pool, customer: Customer) -> CustomerOut:
    """Written customers answer with the same flags a read shows (linked, overdue, ...)."""
    flags = await flags_for(db, customer.tenant_id, customer.customer_id)
    return CustomerOut.of(customer, **flags)


def list_query(
    principal: Reader,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: Literal["active", "inactive", "all"] = "all",
    selectable: bool = False,
    category: Annotated[str | None, Query(max_length=200)] = None,
    sales_rep: Annotated[str | None, Query(max_length=200)] = None,
    parent_id: Annotated[str | None, Query(max_length=64)] = None,
    linked: bool | None = None,
    overdue: bool | None = None,
    sort: Literal[SORTS] = "name",  # type: ignore[valid-type]
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> CustomerQuery:
    searched = nfc(q.strip()) if q and q.strip() else None
    return CustomerQuery(
        tenant_id=principal.tenant_id,
        q=searched,
        status="active" if selectable else status,
        category=nfc(category) if category else None,
        sales_rep=nfc(sales_rep) if sales_rep else None,
        parent_id=_valid_uuid_or_none(parent_id),
        linked=linked,
        overdue=overdue,
        sort=sort,
        limit=limit,
        after=decode_cursor(sort, cursor) if cursor else None,
    )


Listing = Annotated[CustomerQuery, Depends(list_query)]


async def fast_create_of(request: Request) -> FastCreate:
    creating: FastCreate = request.app.state.fast_create
    return creating


@router.post("", status_code=201, response_model=CustomerOut, responses=VERSION_CONFLICT)
async def create(
    body: CustomerCreateIn,
    db: Db,
    who: Writer,
    creating: Annotated[FastCreate, Depends(fast_create_of)],
) -> Response:
    customer = await creating.create(db, who.tenant_id, body.domain_values())
    # Its id was generated just now, so nothing links to it yet: no QuickBooks link, no billing
    # flag (what a read would show). The body is serialised here, once, as FastAPI would (the
    # declared response_model documents it), instead of validated again against that model.
    created = CustomerOut.of(
        customer, linked_to_quickbooks=False, overdue=False, credit_limit_exceeded=False
    )
    return Response(
        created.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={
            "ETag": f'"{customer.version}"',
            "Location": f"{API_PREFIX}/customers/{customer.customer_id}",
        },
    )


@router.get("", response_model=CustomerPage)
async def list_customers(query: Listing, db: Db) -> CustomerPage:
    rows = await list_page(db, replace(query, limit=query.limit + 1))
    page, more = rows[: query.limit], len(rows) > query.limit
    items = [CustomerOut.of(c, **_flags(extra)) for c, extra in page]
    next_cursor = None
    if more and page:
        last, extra = page[-1]
        next_cursor = encode_cursor(query, _plain(extra["sort_value"]), last.customer_id)
    return CustomerPage(items=items, next_cursor=next_cursor)


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_csv(query: Listing, db: Db) -> StreamingResponse:
    return await csv_export(db, query)


@router.get("/{customer_id}", response_model=CustomerOut)
async def read(customer_id: str, response: Response, db: Db, who: Reader) -> CustomerOut:
    customer = await load_customer(db, who.tenant_id, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    set_etag(response, customer.version)
    return await with_flags(db, customer)


@router.patch("/{customer_id}", response_model=CustomerOut, responses=VERSION_CONFLICT)
async def update(
    customer_id: str,
    body: CustomerPatchIn,
    response: Response,
    db: Db,
    who: Writer,
    version: IfMatch,
) -> CustomerOut:
    customer = await update_customer_fields(
        db, who.tenant_id, customer_id, body.domain_values(), version
    )
    set_etag(response, customer.version)
    return await with_flags(db, customer)


@router.post("/{customer_id}/inactivate", response_model=CustomerOut, responses=VERSION_CONFLICT)
async def inactivate(
    customer_id: str,
    response: Response,
    db: Db,
    who: Writer,
    version: IfMatch,
    body: StatusChangeIn | None = None,
) -> CustomerOut:
    reason = body.reason if body else None
    customer = await set_customer_active(db, who.tenant_id, customer_id, False, version, reason)
    set_etag(response, customer.version)
    return await with_flags(db, customer)


@router.post("/{customer_id}/reactivate", response_model=CustomerOut, responses=VERSION_CONFLICT)
async def reactivate(
    customer_id: str, response: Response, db: Db, who: Writer, version: IfMatch
) -> CustomerOut:
    customer = await set_customer_active(db, who.tenant_id, customer_id, True, version)
    set_etag(response, customer.version)
    return await with_flags(db, customer)


def _flags(extra: dict[str, object]) -> dict[str, bool]:
    return {k: bool(extra[k]) for k in FLAGS}


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _valid_uuid_or_none(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValidationFailed([FieldProblem("parent_id", "not a customer id")]) from None
