"""Push jobs of a Desktop company (`qbd_requests` kind `customer_push`,
migrations/011_qbd_push.sql): a due push row of the company is leased with push_mappings' own
lease token and gets one job; the job walks its steps in the Web Connector session and ends by
writing the row's outcome under that token (usecases/qbd/customer_push.py)."""

from __future__ import annotations

import json
import uuid

import asyncpg

from qb_sync.domain.qbd.records import Job
from qb_sync.store.push.rows import Mapping

LEASE_OWNER = "qbd-web-connector"
_OPEN_JOB = """EXISTS (SELECT 1 FROM qbd_requests r WHERE r.connection_id = $3
                  AND r.kind = 'customer_push' AND r.customer_id = p.customer_id
                  AND r.status IN ('queued', 'sent', 'uncertain'))"""
_DUE = f"""p.tenant_id = $1 AND p.realm_id = $2 AND p.status = 'pending' AND p.due_at <= now()
          AND (p.lease_until IS NULL OR p.lease_until < now()) AND NOT {_OPEN_JOB}"""


async def has_due_push(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, connection_id: uuid.UUID
) -> bool:
    return bool(
        await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM push_mappings p WHERE {_DUE})",
            tenant_id,
            realm_id,
            connection_id,
        )
    )


async def open_push_job(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    connection_id: uuid.UUID,
    lease_seconds: float,
) -> Job | None:
    """Lease the company's longest-due push row that has no open job, and open its job."""
    leased = await conn.fetchrow(
        # MATERIALIZED: evaluated once. Rescanned as the inner side of a join, the LIMIT 1
        # subquery would skip the row it just locked and lease a second one.
        f"""WITH due AS MATERIALIZED (
                SELECT p.customer_id FROM push_mappings p WHERE {_DUE}
                 ORDER BY p.due_at LIMIT 1 FOR UPDATE SKIP LOCKED)
            UPDATE push_mappings m
               SET lease_until = now() + make_interval(secs => $4), lease_owner = '{LEASE_OWNER}',
                   lease_token = gen_random_uuid(), dirty = false
              FROM due
             WHERE m.tenant_id = $1 AND m.realm_id = $2 AND m.customer_id = due.customer_id
         RETURNING m.customer_id, m.lease_token""",
        tenant_id,
        realm_id,
        connection_id,
        lease_seconds,
    )
    if leased is None:
        return None
    state = {"customer_id": leased["customer_id"], "token": str(leased["lease_token"])}
    request_id: int = await conn.fetchval(
        """INSERT INTO qbd_requests (connection_id, kind, customer_id, state)
           VALUES ($1, 'customer_push', $2, $3::jsonb) RETURNING request_id""",
        connection_id,
        leased["customer_id"],
        json.dumps(state),
    )
    return Job(request_id, "customer_push", state, 0)


async def renew(conn: asyncpg.Connection, row: Mapping, token: uuid.UUID, seconds: float) -> bool:
    """Keep the row leased for the job; False when the lease went to someone else."""
    renewed = await conn.fetchval(
        """UPDATE push_mappings SET lease_until = now() + make_interval(secs => $5)
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3 AND lease_token = $4
        RETURNING true""",
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        token,
        seconds,
    )
    return bool(renewed)


async def note_create_name(
    conn: asyncpg.Connection, row: Mapping, token: uuid.UUID, full_name: str
) -> None:
    """Before an Add goes out: its FullName joins the names every later find-first searches,
    so an Add whose answer is lost is found again even after a rename."""
    await conn.execute(
        """UPDATE push_mappings SET create_names = CASE WHEN $5 = ANY(create_names)
                  THEN create_names ELSE array_append(create_names, $5) END
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3 AND lease_token = $4""",
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        token,
        full_name,
    )


async def known_full_name(
    conn: asyncpg.Connection, connection_id: uuid.UUID, list_id: str
) -> str | None:
    """The FullName of a customer qb-sync has read from the company file."""
    name: str | None = await conn.fetchval(
        """SELECT full_name FROM qbd_customers WHERE connection_id = $1 AND list_id = $2
              AND deleted_at IS NULL""",
        connection_id,
        list_id,
    )
    return name
