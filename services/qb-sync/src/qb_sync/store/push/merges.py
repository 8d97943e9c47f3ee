"""Push rows after a QuickBooks merge: moved to the survivor, or waiting for a person."""

from __future__ import annotations

import asyncpg

from qb_sync.store.push.leases import end_lease_with


async def rows_on(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, qb_customer_id: str
) -> list[asyncpg.Record]:
    """The rows linked to `qb_customer_id`, locked: (customer_id, status, last_error_code,
    leased: a worker holds it now)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT customer_id, status, last_error_code, lease_until > now() AS leased
             FROM push_mappings
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3 FOR UPDATE""",
        tenant_id,
        realm_id,
        qb_customer_id,
    )
    return rows


async def move_to_survivor(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    customer_id: str,
    survivor: str,
    survivor_token: int,
    push_again: bool,
) -> None:
    """Link the row to the survivor. Its lease ends (a worker's outcome about the dead id is
    dropped); with `push_again` it is pending at once. A row that waited for a person because
    of this merge is synced again."""
    await end_lease_with(
        conn,
        tenant_id,
        realm_id,
        customer_id,
        """qb_customer_id = $4, sync_token = $5,
                  pushed_content = NULL,
                  status = CASE WHEN $6 THEN 'pending'
                                WHEN status = 'needs_link' AND last_error_code = 'merged'
                                THEN 'synced' ELSE status END,
                  due_at = CASE WHEN $6 THEN now() ELSE due_at END,
                  last_error_code = CASE WHEN last_error_code = 'merged' THEN NULL
                                         ELSE last_error_code END,
                  last_error_message = CASE WHEN last_error_code = 'merged' THEN NULL
                                            ELSE last_error_message END,
                  candidate_qb_customer_id = NULL, failure_reported = false""",
        survivor,
        survivor_token,
        push_again,
    )


async def mark_merged(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    customer_id: str,
    message: str,
    candidate: str | None,
) -> None:
    """needs_link with code `merged`: a person links the customer it went into."""
    await end_lease_with(
        conn,
        tenant_id,
        realm_id,
        customer_id,
        """status = 'needs_link', last_error_code = 'merged',
           last_error_message = $4, candidate_qb_customer_id = $5, due_at = NULL,
           failure_reported = true""",
        message,
        candidate,
    )
