"""Customer facts billing learns from customer.events: currency, credit limit, parent, active."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import asyncpg

from billing_service.domain.rules import CustomerFacts, CustomerVersion
from platform_events.contracts.customer import CustomerSnapshot

AccountKey = tuple[str, str, str]  # tenant_id, customer_id, currency


async def upsert_customers(
    conn: asyncpg.Connection, snapshots: Iterable[tuple[str, CustomerSnapshot, datetime]]
) -> list[AccountKey]:
    """Keep the newest version of each customer and every version's effective time.

    Returns (tenant, customer, currency) of the customers whose row changed."""
    latest: dict[tuple[str, str], CustomerSnapshot] = {}
    versions: dict[tuple[str, str, int], tuple[CustomerSnapshot, datetime]] = {}
    for tenant, snap, effective_at in snapshots:
        key = (tenant, snap.customer_id)
        if key not in latest or latest[key].version < snap.version:
            latest[key] = snap
        versions.setdefault((tenant, snap.customer_id, snap.version), (snap, effective_at))
    if not latest:
        return []
    vkeys = sorted(versions)
    await conn.execute(
        """INSERT INTO customer_versions
               (tenant_id, customer_id, version, currency, active, effective_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::boolean[],
                                $6::timestamptz[])
           ON CONFLICT DO NOTHING""",
        [k[0] for k in vkeys],
        [k[1] for k in vkeys],
        [k[2] for k in vkeys],
        [versions[k][0].currency for k in vkeys],
        [versions[k][0].active for k in vkeys],
        [versions[k][1] for k in vkeys],
    )
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
    """The latest facts of each known customer, with its version history for time-based rules."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    history: dict[tuple[str, str], list[CustomerVersion]] = defaultdict(list)
    for r in await conn.fetch(
        """SELECT v.tenant_id, v.customer_id, v.version, v.currency, v.active, v.effective_at
           FROM customer_versions v
           JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, customer_id)
             USING (tenant_id, customer_id)
           ORDER BY v.effective_at, v.version""",
        [k[0] for k in wanted],
        [k[1] for k in wanted],
    ):
        history[(r["tenant_id"], r["customer_id"])].append(
            CustomerVersion(r["effective_at"], r["version"], r["currency"], r["active"])
        )
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
            history=tuple(history.get((r["tenant_id"], r["customer_id"]), ())),
        )
        for r in rows
    }


async def accounts_of(
    conn: asyncpg.Connection, customers: list[tuple[str, str]]
) -> list[AccountKey]:
    """Every account (any currency) these customers have, sorted."""
    if not customers:
        return []
    rows = await conn.fetch(
        """SELECT b.tenant_id, b.customer_id, b.currency FROM balances b
           JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, customer_id)
             USING (tenant_id, customer_id)
           ORDER BY 1, 2, 3""",
        [c[0] for c in customers],
        [c[1] for c in customers],
    )
    return [(r["tenant_id"], r["customer_id"], r["currency"]) for r in rows]
