"""Read side for the API: balances, orders with a balance, history, conflicts, rejections."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

_BALANCE_COLUMNS = """b.currency, b.current_balance_minor, b.total_invoiced_minor,
    b.total_paid_minor, b.total_refunded_minor, b.total_credits_minor,
    b.total_adjustments_minor, b.over_credit_limit, b.overdue, b.overdue_amount_minor,
    b.oldest_due_date, b.entry_count"""

# Per order: what was invoiced on it, what was paid against it, and what is left.
_ORDER_FIGURES = """
    SELECT currency, order_id,
           (sum(amount_minor) FILTER (WHERE entry_type IN ('invoice', 'invoice_void')))::bigint
               AS order_total_minor,
           (-sum(amount_minor) FILTER (WHERE entry_type IN ('payment', 'payment_reversal')))::bigint
               AS paid_minor,
           sum(amount_minor)::bigint AS remaining_minor
    FROM order_allocations
    WHERE tenant_id = $1 AND customer_id = $2
    GROUP BY currency, order_id"""


async def customer_exists(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, customer: str
) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM customers WHERE tenant_id = $1 AND customer_id = $2)
               OR EXISTS (SELECT 1 FROM balances WHERE tenant_id = $1 AND customer_id = $2)""",
            tenant,
            customer,
        )
    )


async def balance_summary(pool: asyncpg.Pool, tenant: str, customer: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"""WITH orders AS ({_ORDER_FIGURES})
            SELECT {_BALANCE_COLUMNS},
                   (SELECT count(*) FROM orders o
                    WHERE o.currency = b.currency AND o.remaining_minor > 0) AS orders_with_balance
            FROM balances b WHERE b.tenant_id = $1 AND b.customer_id = $2
            ORDER BY b.currency""",
        tenant,
        customer,
    )
    return [dict(r) for r in rows]


async def subtree_balance(
    pool: asyncpg.Pool, tenant: str, customer: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """A parent's balance including every sub-customer at any depth, per currency."""
    async with pool.acquire() as conn:
        ids = [
            r["customer_id"]
            for r in await conn.fetch(
                """WITH RECURSIVE tree(customer_id) AS (
                       SELECT $2::text
                       UNION
                       SELECT c.customer_id FROM customers c JOIN tree t
                         ON c.parent_id = t.customer_id WHERE c.tenant_id = $1)
                   SELECT customer_id FROM tree ORDER BY customer_id""",
                tenant,
                customer,
            )
        ]
        rows = await conn.fetch(
            """SELECT currency, sum(current_balance_minor)::bigint AS current_balance_minor,
                      sum(total_invoiced_minor)::bigint AS total_invoiced_minor,
                      sum(total_paid_minor)::bigint AS total_paid_minor,
                      sum(total_refunded_minor)::bigint AS total_refunded_minor,
                      sum(total_credits_minor)::bigint AS total_credits_minor,
                      sum(total_adjustments_minor)::bigint AS total_adjustments_minor
               FROM balances WHERE tenant_id = $1 AND customer_id = ANY($2::text[])
               GROUP BY currency ORDER BY currency""",
            tenant,
            ids,
        )
    return ids, [dict(r) for r in rows]


async def orders_with_balance(
    pool: asyncpg.Pool, tenant: str, customer: str, include_settled: bool
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"""SELECT currency, order_id, coalesce(order_total_minor, 0) AS order_total_minor,
                   coalesce(paid_minor, 0) AS paid_minor, remaining_minor
            FROM ({_ORDER_FIGURES}) o
            WHERE $3 OR remaining_minor <> 0
            ORDER BY currency, order_id""",
        tenant,
        customer,
        include_settled,
    )
    return [dict(r) for r in rows]


async def transaction_page(
    pool: asyncpg.Pool,
    tenant: str,
    customer: str,
    *,
    types: list[str] | None,
    currency: str | None,
    order_id: str | None,
    since: datetime | None,
    until: datetime | None,
    before_seq: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first; keyset on the ledger's sequence, so pages never skip or repeat."""
    rows = await pool.fetch(
        """SELECT seq, entry_id, entry_type, amount_minor, currency, reference_id, order_id,
                  reverses_entry_id, due_date, method, reason, note, source_event_id,
                  effective_at, recorded_at
           FROM ledger_entries
           WHERE tenant_id = $1 AND customer_id = $2
             AND ($3::text[] IS NULL OR entry_type = ANY($3))
             AND ($4::text IS NULL OR currency = $4)
             AND ($5::text IS NULL OR order_id = $5 OR entry_id IN (
                    SELECT entry_id FROM order_allocations
                    WHERE tenant_id = $1 AND customer_id = $2 AND order_id = $5))
             AND ($6::timestamptz IS NULL OR effective_at >= $6)
             AND ($7::timestamptz IS NULL OR effective_at < $7)
             AND ($8::bigint IS NULL OR seq < $8)
           ORDER BY seq DESC LIMIT $9""",
        tenant,
        customer,
        types,
        currency,
        order_id,
        since,
        until,
        before_seq,
        limit,
    )
    return [dict(r) for r in rows]


async def list_conflicts(pool: asyncpg.Pool, tenant: str, limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """SELECT event_id, customer_id, idempotency_key, existing_entry_id, event_type, parked_at
           FROM conflicts WHERE tenant_id = $1 ORDER BY parked_at DESC LIMIT $2""",
        tenant,
        limit,
    )
    return [dict(r) for r in rows]


async def list_rejections(
    pool: asyncpg.Pool, tenant: str, limit: int, include_resolved: bool = False
) -> list[dict[str, Any]]:
    """Open refusals, newest first; resolved ones (applied after a fix) only when asked."""
    rows = await pool.fetch(
        """SELECT event_id, customer_id, event_type, reason, rejected_at, resolved_at,
                  resolved_by_entry_id
           FROM rejections WHERE tenant_id = $1 AND ($3 OR resolved_at IS NULL)
           ORDER BY rejected_at DESC LIMIT $2""",
        tenant,
        limit,
        include_resolved,
    )
    return [dict(r) for r in rows]


async def list_pending(pool: asyncpg.Pool, tenant: str, limit: int) -> list[dict[str, Any]]:
    """Transactions parked until their customer (or the entry they correct) arrives."""
    rows = await pool.fetch(
        """SELECT event_id, customer_id, waits_for, kafka_headers, parked_at
           FROM pending_transactions WHERE tenant_id = $1 ORDER BY seq LIMIT $2""",
        tenant,
        limit,
    )
    return [
        {
            "event_id": r["event_id"],
            "customer_id": r["customer_id"],
            "waits_for": r["waits_for"],
            "event_type": dict(json.loads(r["kafka_headers"])).get("ce_type"),
            "parked_at": r["parked_at"],
        }
        for r in rows
    ]
