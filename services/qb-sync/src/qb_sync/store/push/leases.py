"""Leases on push rows: which rows are due, taking them (each lease with a fresh fencing token),
renewing, and locking a row for its outcome only while the token is still ours."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from qb_sync.store.push.rows import LEASED_ROW, NO_LEASE, ROW, Mapping


class LeaseLost(Exception):
    """The row's lease is no longer ours: stop, write nothing."""


_DUE = """status = 'pending' AND due_at <= now()
          AND (lease_until IS NULL OR lease_until < now())
          AND starts_with(tenant_id, $1)
          -- A QuickBooks Desktop company's rows go out through its Web Connector sessions.
          AND NOT EXISTS (SELECT 1 FROM qbd_connections d
                           WHERE d.connection_id::text = push_mappings.realm_id)
          AND (NOT $2 OR EXISTS (
                SELECT 1 FROM qb_connections c
                 WHERE c.tenant_id = push_mappings.tenant_id
                   AND c.realm_id = push_mappings.realm_id
                   AND c.status = 'connected'))"""


async def due_realms(
    pool: asyncpg.Pool, *, connected_only: bool = True, tenant_prefix: str = ""
) -> list[tuple[str, str]]:
    """Companies with rows ready to push."""
    rows = await pool.fetch(
        f"SELECT DISTINCT tenant_id, realm_id FROM push_mappings WHERE {_DUE}",
        tenant_prefix,
        connected_only,
    )
    return [(r["tenant_id"], r["realm_id"]) for r in rows]


async def lease_due(
    pool: asyncpg.Pool,
    owner: str,
    limit: int,
    seconds: float,
    *,
    realms: Sequence[tuple[str, str]] | None = None,
    connected_only: bool = True,
    tenant_prefix: str = "",
) -> list[Mapping]:
    """Claim due pending rows (of `realms` only, when given), each with a fresh lease token.
    SKIP LOCKED keeps concurrent workers off each other's rows; an expired lease (a killed
    worker) makes a row claimable again. With `connected_only`, rows of a QuickBooks company
    that is not connected (or must be reconnected) wait, pending."""
    tenants = [t for t, _ in realms] if realms is not None else None
    realm_ids = [r for _, r in realms] if realms is not None else None
    rows = await pool.fetch(
        # MATERIALIZED: the locking SELECT runs once per statement (PostgreSQL evaluates a
        # materialized WITH query once). A subquery in FROM carries no such promise: rescanned
        # as the inner side of a join, its LIMIT starts over past the rows this statement has
        # just locked and updated, and more than `limit` rows would be leased.
        f"""WITH due AS MATERIALIZED (
                SELECT tenant_id, realm_id, customer_id FROM push_mappings
                 WHERE {_DUE}
                   AND ($6::text[] IS NULL OR (tenant_id, realm_id) IN
                        (SELECT * FROM unnest($6::text[], $7::text[])))
                 ORDER BY due_at LIMIT $4
                 FOR UPDATE SKIP LOCKED)
            UPDATE push_mappings m
               SET lease_until = now() + make_interval(secs => $5), lease_owner = $3,
                   lease_token = gen_random_uuid(), dirty = false
              FROM due
             WHERE m.tenant_id = due.tenant_id AND m.realm_id = due.realm_id
               AND m.customer_id = due.customer_id
         RETURNING m.*""",
        tenant_prefix,
        connected_only,
        owner,
        limit,
        seconds,
        tenants,
        realm_ids,
    )
    return [Mapping.of(r) for r in rows]


async def update_if_still_ours(
    db: asyncpg.Pool | asyncpg.Connection,
    row: Mapping,
    token: uuid.UUID,
    assignments: str,
    *values: Any,
) -> bool:
    """`UPDATE push_mappings SET <assignments>` on the row only while it is leased under `token`
    (`values` bind from $5 on); False once the lease is no longer this token's."""
    done = await db.fetchval(
        f"UPDATE push_mappings SET {assignments} WHERE {LEASED_ROW} RETURNING true",
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        token,
        *values,
    )
    return bool(done)


async def renew_lease(
    db: asyncpg.Pool | asyncpg.Connection, row: Mapping, token: uuid.UUID, seconds: float
) -> bool:
    """Push the lease's end out again; False once the lease is no longer this token's."""
    return await update_if_still_ours(
        db, row, token, "lease_until = now() + make_interval(secs => $5)", seconds
    )


async def lock_if_still_ours(
    conn: asyncpg.Connection, row: Mapping, token: uuid.UUID
) -> asyncpg.Record | None:
    """The row, locked for the outcome, if it is still leased under `token`."""
    record: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT * FROM push_mappings WHERE {LEASED_ROW} FOR UPDATE",
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        token,
    )
    return record


async def end_lease_with(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    customer_id: str,
    assignments: str,
    *values: Any,
) -> None:
    """`UPDATE push_mappings SET <assignments>` on the row (`values` bind from $4 on), ending
    its lease whoever holds it: an outcome hands the row back, a merge moves it under the
    holder's feet."""
    await conn.execute(
        f"""UPDATE push_mappings SET {assignments}, {NO_LEASE}, updated_at = now()
            WHERE {ROW}""",
        tenant_id,
        realm_id,
        customer_id,
        *values,
    )


async def take_over(conn: Any, row: Mapping, owner: str, token: uuid.UUID) -> None:
    """Lease the row to `owner` under `token` whoever holds it (a person's choice in the API wins
    over a worker pushing it: that worker's outcome is then dropped)."""
    await conn.execute(
        f"""UPDATE push_mappings SET lease_owner = $4, lease_token = $5,
                  lease_until = now() + interval '1 minute'
            WHERE {ROW}""",
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        owner,
        token,
    )
