"""Customer facts billing learns from customer.events: currency, credit limit, parent, active."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from billing_service.domain.rules import CustomerFacts
from platform_events.contracts.customer import CustomerSnapshot

AccountKey = tuple[str, str, str]  # tenant_id, customer_id, currency


async def upsert_customers(
    conn: asyncpg.Connection, snapshots: Iterable[tuple[str, CustomerSnapshot]]
) -> list[AccountKey]:
    """Keep the newest version of each customer; returns the accounts whose facts changed."""
    latest: dict[tuple[str, str], CustomerSnapshot] = {}
    for tenant, snap in snapshots:
        key = (tenant, snap.customer_id)
        if key not in latest or latest[key].version < snap.version:
            latest[key] = snap
    if not latest:
        return []
    keys = sorted(latest)
    snaps = [latest[k] for k in keys]
    rows = await conn.fetch(
        """INSERT INTO customers AS c
               (tenant_id, customer_id, parent_id, currency, credit_limit_minor, active, version)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                                $6::boolean[], $7::int[])
           ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
               parent_id = excluded.parent_id, currency = excluded.currency,
               credit_limit_minor = excluded.credit_limit_minor, active = excluded.active,
               version = excluded.version, updated_at = now()
           WHERE c.version < excluded.version   -- a stale update changes nothing
           RETURNING tenant_id, customer_id, currency""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [s.parent_id for s in snaps],
        [s.currency for s in snaps],
        [s.credit_limit_minor for s in snaps],
        [s.active for s in snaps],
        [s.version for s in snaps],
    )
    return [(r["tenant_id"], r["customer_id"], r["currency"]) for r in rows]


async def load_customers(
    conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], CustomerFacts]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = await conn.fetch(
        """SELECT c.* FROM customers c
           JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, customer_id)
             USING (tenant_id, customer_id)""",
        [k[0] for k in wanted],
        [k[1] for k in wanted],
    )
    return {
        (r["tenant_id"], r["customer_id"]): CustomerFacts(
            tenant_id=r["tenant_id"],
            customer_id=r["customer_id"],
            currency=r["currency"],
            active=r["active"],
            credit_limit_minor=r["credit_limit_minor"],
            parent_id=r["parent_id"],
        )
        for r in rows
    }
