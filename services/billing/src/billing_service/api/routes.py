"""Billing's HTTP API. Every query is scoped to the token's tenant (same rules as customers)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from billing_service.api.schemas import PaymentIn
from billing_service.domain.entries import EntryType
from billing_service.handlers.record_payment import record_payment
from billing_service.settings import Settings
from billing_service.store import queries
from platform_events.contracts.billing import PaymentReceived
from platform_events.money import Money
from platform_kit.auth import Principal
from platform_kit.http import ApiError, field_error
from platform_kit.runtime import ServiceRuntime


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        seq = int(value)
        if kind != "seq" or not 0 <= seq < 2**63:  # the ledger's seq is a positive bigint
            raise ValueError(kind)
        return seq
    except ValueError:
        raise ApiError(
            422, "validation_failed", "bad cursor", [field_error("cursor", "not a cursor")]
        ) from None


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (str(v) if v is not None and not isinstance(v, int | bool | str) else v)
        for k, v in row.items()
    }


def build_router(runtime: ServiceRuntime, settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["billing"])
    read = runtime.auth.require("read")
    write = runtime.auth.require("write")

    async def known_customer(tenant: str, customer_id: str) -> None:
        if not await queries.customer_exists(runtime.db, tenant, customer_id):
            raise ApiError(404, "customer_not_found", f"no customer {customer_id!r} in billing")

    @router.get("/customers/{customer_id}/balance")
    async def balance(customer_id: str, who: Principal = Depends(read)) -> dict[str, Any]:
        await known_customer(who.tenant_id, customer_id)
        accounts = await queries.balance_summary(runtime.db, who.tenant_id, customer_id)
        return {"customer_id": customer_id, "accounts": [_jsonable(a) for a in accounts]}

    @router.get("/customers/{customer_id}/balance/including-sub-customers")
    async def subtree(customer_id: str, who: Principal = Depends(read)) -> dict[str, Any]:
        await known_customer(who.tenant_id, customer_id)
        ids, accounts = await queries.subtree_balance(runtime.db, who.tenant_id, customer_id)
        return {"customer_id": customer_id, "customer_ids": ids, "accounts": accounts}

    @router.get("/customers/{customer_id}/orders")
    async def orders(
        customer_id: str, include_settled: bool = False, who: Principal = Depends(read)
    ) -> dict[str, Any]:
        await known_customer(who.tenant_id, customer_id)
        items = await queries.orders_with_balance(
            runtime.db, who.tenant_id, customer_id, include_settled
        )
        return {"customer_id": customer_id, "items": items}

    @router.get("/customers/{customer_id}/transactions")
    async def transactions(
        customer_id: str,
        type: list[EntryType] | None = Query(default=None),
        currency: str | None = Query(default=None, pattern="^[A-Z]{3}$"),
        order_id: str | None = None,
        since: datetime | None = Query(default=None, alias="from"),
        until: datetime | None = Query(default=None, alias="to"),
        limit: int = Query(default=50, ge=1, le=500),
        cursor: str | None = None,
        who: Principal = Depends(read),
    ) -> dict[str, Any]:
        await known_customer(who.tenant_id, customer_id)
        rows = await queries.transaction_page(
            runtime.db,
            who.tenant_id,
            customer_id,
            types=[t.value for t in type] if type else None,
            currency=currency,
            order_id=order_id,
            since=since,
            until=until,
            before_seq=_decode_cursor(cursor) if cursor else None,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "items": [_jsonable({k: v for k, v in r.items() if k != "seq"}) for r in rows],
            "next_cursor": _encode_cursor(rows[-1]["seq"]) if more else None,
        }

    @router.post("/customers/{customer_id}/payments")
    async def pay(
        customer_id: str,
        body: PaymentIn,
        idempotency_key: str | None = Header(default=None, max_length=200),
        who: Principal = Depends(write),
    ) -> JSONResponse:
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
        await known_customer(who.tenant_id, customer_id)
        payment = PaymentReceived(
            customer_id=customer_id,
            payment_id=payment_id,
            amount=Money(amount_minor=body.amount_minor, currency=body.currency),
            method=body.method,
            allocations=body.allocations,
            note=body.note,
        )
        result = await record_payment(
            runtime.db,
            consumer=settings.consumer_name,
            transactions_topic=settings.transactions_topic,
            tenant_id=who.tenant_id,
            payment=payment,
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
        accounts = await queries.balance_summary(runtime.db, who.tenant_id, customer_id)
        return JSONResponse(
            {
                "status": result.status,
                "payment_id": payment_id,
                "entry_id": str(result.entry_id),
                "accounts": [_jsonable(a) for a in accounts],
            },
            status_code=201 if result.status == "recorded" else 200,
        )

    @router.get("/conflicts")
    async def conflicts(
        limit: int = Query(default=100, ge=1, le=1000), who: Principal = Depends(read)
    ) -> dict[str, Any]:
        rows = await queries.list_conflicts(runtime.db, who.tenant_id, limit)
        return {"items": [_jsonable(r) for r in rows]}

    @router.get("/rejections")
    async def rejections(
        limit: int = Query(default=100, ge=1, le=1000),
        include_resolved: bool = False,
        who: Principal = Depends(read),
    ) -> dict[str, Any]:
        rows = await queries.list_rejections(runtime.db, who.tenant_id, limit, include_resolved)
        return {"items": [_jsonable(r) for r in rows]}

    @router.get("/pending")
    async def pending(
        limit: int = Query(default=100, ge=1, le=1000), who: Principal = Depends(read)
    ) -> dict[str, Any]:
        rows = await queries.list_pending(runtime.db, who.tenant_id, limit)
        return {"items": [_jsonable(r) for r in rows]}

    return router
