"""Billing's HTTP API. Every query is scoped to the token's tenant (same rules as customers)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from billing_service.api.answers import history_item, jsonable
from billing_service.api.cursors import decode_cursor, encode_cursor
from billing_service.api.schemas import PaymentIn
from billing_service.domain.entries import EntryType
from billing_service.handlers.record_payment import record_payment
from billing_service.settings import Settings
from billing_service.store import queries
from platform_events.contracts.billing import PaymentReceived
from platform_events.money import Money
from platform_kit.deps import Db, Reader, Writer
from platform_kit.fields import Timestamp
from platform_kit.http import ApiError, field_error

router = APIRouter(tags=["billing"])
Currency = Annotated[str | None, Query(pattern="^[A-Z]{3}$")]
Limit = Annotated[int, Query(ge=1, le=1000)]


async def known_customer(db: Db, tenant: str, customer_id: str) -> None:
    if not await queries.customer_exists(db, tenant, customer_id):
        raise ApiError(404, "customer_not_found", f"no customer {customer_id!r} in billing")


@router.get("/customers/{customer_id}/balance")
async def balance(customer_id: str, db: Db, who: Reader) -> dict[str, Any]:
    await known_customer(db, who.tenant_id, customer_id)
    accounts = await queries.balance_summary(db, who.tenant_id, customer_id)
    return {"customer_id": customer_id, "accounts": [jsonable(a) for a in accounts]}


@router.get("/customers/{customer_id}/balance/including-sub-customers")
async def subtree(customer_id: str, db: Db, who: Reader) -> dict[str, Any]:
    await known_customer(db, who.tenant_id, customer_id)
    ids, accounts = await queries.subtree_balance(db, who.tenant_id, customer_id)
    return {"customer_id": customer_id, "customer_ids": ids, "accounts": accounts}


@router.get("/customers/{customer_id}/orders")
async def orders(
    customer_id: str, db: Db, who: Reader, include_settled: bool = False
) -> dict[str, Any]:
    await known_customer(db, who.tenant_id, customer_id)
    items = await queries.orders_with_balance(db, who.tenant_id, customer_id, include_settled)
    return {"customer_id": customer_id, "items": items}


@router.get("/customers/{customer_id}/transactions")
async def transactions(
    customer_id: str,
    db: Db,
    who: Reader,
    type: Annotated[list[EntryType] | None, Query()] = None,
    currency: Currency = None,
    order_id: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[Timestamp | None, Query(alias="from")] = None,
    until: Annotated[Timestamp | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    await known_customer(db, who.tenant_id, customer_id)
    rows = await queries.transaction_page(
        db,
        who.tenant_id,
        customer_id,
        types=[t.value for t in type] if type else None,
        currency=currency,
        order_id=order_id,
        since=since,
        until=until,
        before_seq=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [history_item(r) for r in rows],
        "next_cursor": encode_cursor(rows[-1]["seq"]) if more else None,
    }


@router.post(
    "/customers/{customer_id}/payments",
    status_code=201,
    responses={
        200: {"description": "The same payment was recorded before (a retry)"},
        409: {"description": "This payment id was recorded before with different content"},
    },
)
async def pay(
    customer_id: str,
    body: PaymentIn,
    request: Request,
    db: Db,
    who: Writer,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> JSONResponse:
    payment_id = payment_id_of(body, idempotency_key)
    await known_customer(db, who.tenant_id, customer_id)
    settings: Settings = request.app.state.settings
    result = await record_payment(
        db,
        consumer=settings.consumer_name,
        transactions_topic=settings.transactions_topic,
        tenant_id=who.tenant_id,
        payment=PaymentReceived(
            customer_id=customer_id,
            payment_id=payment_id,
            amount=Money(amount_minor=body.amount_minor, currency=body.currency),
            method=body.method,
            allocations=body.allocations,
            note=body.note,
        ),
    )
    if result.status == "rejected":
        raise ApiError(422, "payment_rejected", result.reason or "rejected")
    if result.status == "unknown_customer":
        raise ApiError(404, "customer_not_found", f"no customer {customer_id!r} in billing")
    if result.status == "conflict":
        raise ApiError(
            409,
            "idempotency_conflict",
            f"payment {payment_id!r} was recorded before with different content",
            existing_entry_id=str(result.entry_id),
        )
    accounts = await queries.balance_summary(db, who.tenant_id, customer_id)
    return JSONResponse(
        {
            "status": result.status,
            "payment_id": payment_id,
            "entry_id": str(result.entry_id),
            "accounts": [jsonable(a) for a in accounts],
        },
        status_code=201 if result.status == "recorded" else 200,
    )


def payment_id_of(body: PaymentIn, idempotency_key: str | None) -> str:
    payment_id = body.payment_id or idempotency_key
    if not payment_id:
        raise ApiError(
            422,
            "validation_failed",
            "a payment id (body) or an Idempotency-Key header is required",
            [field_error("payment_id", "required when no Idempotency-Key is sent", "missing")],
        )
    if body.payment_id and idempotency_key and body.payment_id != idempotency_key:
        raise ApiError(
            422,
            "validation_failed",
            "payment_id and Idempotency-Key differ",
            [field_error("payment_id", "must equal the Idempotency-Key header")],
        )
    return payment_id


@router.get("/conflicts")
async def conflicts(db: Db, who: Reader, limit: Limit = 100) -> dict[str, Any]:
    rows = await queries.list_conflicts(db, who.tenant_id, limit)
    return {"items": [jsonable(r) for r in rows]}


@router.get("/rejections")
async def rejections(
    db: Db, who: Reader, limit: Limit = 100, include_resolved: bool = False
) -> dict[str, Any]:
    rows = await queries.list_rejections(db, who.tenant_id, limit, include_resolved)
    return {"items": [jsonable(r) for r in rows]}


@router.get("/pending")
async def pending(db: Db, who: Reader, limit: Limit = 100) -> dict[str, Any]:
    rows = await queries.list_pending(db, who.tenant_id, limit)
    return {"items": [jsonable(r) for r in rows]}
