"""Billing's overdue and credit-limit flags per account (customer, currency), as billing keeps them:
each account has its own sequence, and a stale event (lower sequence) for that account is dropped."""

from __future__ import annotations

import uuid

import asyncpg

from platform_events.contracts.billing import CreditLimitExceeded, OverdueChanged

# The account of an event without a currency whose customer is not known here.
UNKNOWN_CURRENCY = ""


async def account_currency(
    conn: asyncpg.Connection, tenant_id: str, customer_id: str, currency: str | None
) -> str:
    """An event sent before OverdueChanged carried a currency is about the customer's own one."""
    if currency:
        return currency
    try:
        key = uuid.UUID(customer_id)
    except ValueError:
        return UNKNOWN_CURRENCY
    own = await conn.fetchval(
        "SELECT currency FROM customers WHERE tenant_id = $1 AND customer_id = $2", tenant_id, key
    )
    return own or UNKNOWN_CURRENCY


async def record_overdue(
    conn: asyncpg.Connection, tenant_id: str, data: OverdueChanged, sequence: int
) -> None:
    currency = await account_currency(conn, tenant_id, data.customer_id, data.currency)
    await conn.execute(
        """INSERT INTO billing_flags (tenant_id, customer_id, currency, overdue, overdue_sequence)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, customer_id, currency) DO UPDATE
              SET overdue = EXCLUDED.overdue, overdue_sequence = EXCLUDED.overdue_sequence,
                  updated_at = now()
            WHERE billing_flags.overdue_sequence <= EXCLUDED.overdue_sequence""",
        tenant_id,
        data.customer_id,
        currency,
        data.overdue,
        sequence,
    )


async def record_credit_limit(
    conn: asyncpg.Connection, tenant_id: str, data: CreditLimitExceeded, sequence: int
) -> None:
    currency = await account_currency(conn, tenant_id, data.customer_id, data.currency)
    await conn.execute(
        """INSERT INTO billing_flags (tenant_id, customer_id, currency, credit_limit_exceeded,
                                      credit_sequence)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, customer_id, currency) DO UPDATE
              SET credit_limit_exceeded = EXCLUDED.credit_limit_exceeded,
                  credit_sequence = EXCLUDED.credit_sequence, updated_at = now()
            WHERE billing_flags.credit_sequence <= EXCLUDED.credit_sequence""",
        tenant_id,
        data.customer_id,
        currency,
        data.exceeded,
        sequence,
    )
