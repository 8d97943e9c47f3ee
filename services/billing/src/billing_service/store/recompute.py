"""Recompute every balance from the ledger and list where the stored rows differ."""

from __future__ import annotations

from typing import Any

import asyncpg

# Entry totals by type, mirroring domain.entries.Totals.add (payments and credits stored negative).
_FROM_LEDGER = """
    SELECT tenant_id, customer_id, currency,
           sum(amount_minor)::bigint AS current_balance_minor,
           coalesce(sum(amount_minor) FILTER (WHERE entry_type IN ('invoice', 'invoice_void')), 0)::bigint
               AS total_invoiced_minor,
           coalesce(-sum(amount_minor) FILTER (WHERE entry_type IN ('payment', 'payment_reversal')), 0)::bigint
               AS total_paid_minor,
           coalesce(sum(amount_minor) FILTER (WHERE entry_type = 'refund'), 0)::bigint
               AS total_refunded_minor,
           coalesce(-sum(amount_minor) FILTER (WHERE entry_type = 'credit'), 0)::bigint
               AS total_credits_minor,
           coalesce(sum(amount_minor) FILTER (WHERE entry_type = 'adjustment'), 0)::bigint
               AS total_adjustments_minor,
           count(*) AS entry_count
    FROM ledger_entries GROUP BY tenant_id, customer_id, currency"""

FIGURES = (
    "current_balance_minor",
    "total_invoiced_minor",
    "total_paid_minor",
    "total_refunded_minor",
    "total_credits_minor",
    "total_adjustments_minor",
    "entry_count",
)


async def differences(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    """One row per account whose stored figures differ from the ledger's (empty when all agree)."""
    mismatch = " OR ".join(f"s.{f} IS DISTINCT FROM l.{f}" for f in FIGURES)
    rows = await conn.fetch(
        f"""SELECT coalesce(s.tenant_id, l.tenant_id) AS tenant_id,
                   coalesce(s.customer_id, l.customer_id) AS customer_id,
                   coalesce(s.currency, l.currency) AS currency,
                   {", ".join(f"s.{f} AS stored_{f}, l.{f} AS ledger_{f}" for f in FIGURES)}
            FROM balances s
            FULL JOIN ({_FROM_LEDGER}) l USING (tenant_id, customer_id, currency)
            WHERE {mismatch}
            ORDER BY 1, 2, 3"""
    )
    return [dict(r) for r in rows]


async def ledger_totals(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str
) -> dict[tuple[str, str], dict[str, int]]:
    rows = await conn.fetch(f"SELECT * FROM ({_FROM_LEDGER}) l WHERE tenant_id = $1", tenant_id)
    return {(r["customer_id"], r["currency"]): {f: r[f] for f in FIGURES} for r in rows}
