"""Billing's overdue and credit-limit flags per customer; a stale event (lower sequence) is dropped."""

from __future__ import annotations

import asyncpg

from platform_events.contracts.billing import CreditLimitExceeded, OverdueChanged


async def record_overdue(
    conn: asyncpg.Connection, tenant_id: str, data: OverdueChanged, sequence: int
) -> None:
    await conn.execute(
        """INSERT INTO billing_flags (tenant_id, customer_id, overdue, overdue_sequence)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, customer_id) DO UPDATE
              SET overdue = EXCLUDED.overdue, overdue_sequence = EXCLUDED.overdue_sequence,
                  updated_at = now()
            WHERE billing_flags.overdue_sequence <= EXCLUDED.overdue_sequence""",
        tenant_id,
        data.customer_id,
        data.overdue,
        sequence,
    )


async def record_credit_limit(
    conn: asyncpg.Connection, tenant_id: str, data: CreditLimitExceeded, sequence: int
) -> None:
    await conn.execute(
        """INSERT INTO billing_flags (tenant_id, customer_id, credit_limit_exceeded, credit_sequence)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, customer_id) DO UPDATE
              SET credit_limit_exceeded = EXCLUDED.credit_limit_exceeded,
                  credit_sequence = EXCLUDED.credit_sequence, updated_at = now()
            WHERE billing_flags.credit_sequence <= EXCLUDED.credit_sequence""",
        tenant_id,
        data.customer_id,
        data.exceeded,
        sequence,
    )
