"""Name claims (`push_name_claims`) and the frozen create: no two rows create or link one
display name in a company while either may have created it (docs/decisions/0012-qbsync-push.md)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from qb_sync.domain.names import name_key
from qb_sync.store.push.leases import LeaseLost
from qb_sync.store.push.rows import Mapping


async def freeze_create(
    pool: asyncpg.Pool, row: Mapping, lease_token: uuid.UUID, name: str, payload: str
) -> str | None:
    """Before a create goes out for the first time: claim its name in the company and store the
    exact body with the row. Returns the customer holding the name when it is another one (then
    nothing is stored); raises LeaseLost when the lease was taken over meanwhile."""
    async with pool.acquire() as conn, conn.transaction():
        holder = await claim_name(conn, row.tenant_id, row.realm_id, row.customer_id, name)
        if holder != row.customer_id:
            return holder
        stored = await conn.fetchval(
            """UPDATE push_mappings SET create_payload = $5,
                      create_names = CASE WHEN $6 = ANY(create_names) THEN create_names
                                          ELSE array_append(create_names, $6) END,
                      updated_at = now()
                WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3
                  AND lease_token = $4
            RETURNING true""",
            row.tenant_id,
            row.realm_id,
            row.customer_id,
            lease_token,
            payload,
            name,
        )
        if not stored:
            raise LeaseLost(row.customer_id)
    return None


async def claim_name(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, customer_id: str, name: str
) -> str:
    """Claim `name` (compared loosely) in the company for `customer_id`; returns its holder."""
    for _ in range(3):  # a claim committed by another transaction meanwhile: read it again
        holder: str | None = await conn.fetchval(
            """WITH claimed AS (
                   INSERT INTO push_name_claims (tenant_id, realm_id, name_key, customer_id)
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING customer_id)
               SELECT customer_id FROM claimed
               UNION ALL
               SELECT customer_id FROM push_name_claims
                WHERE tenant_id = $1 AND realm_id = $2 AND name_key = $3
               LIMIT 1""",
            tenant_id,
            realm_id,
            name_key(name),
            customer_id,
        )
        if holder is not None:
            return holder
    raise LeaseLost(f"could not claim the name {name!r}")


async def release_claims(conn: Any, tenant_id: str, realm_id: str, customer_id: str) -> None:
    await conn.execute(
        """DELETE FROM push_name_claims
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
        tenant_id,
        realm_id,
        customer_id,
    )
