"""Push rows of QuickBooks Desktop companies (realm = the Desktop connection id). They are not
leased by the push worker (leases.py) but by the company's Web Connector session, one row at a
time, each with its own job (store/qbd/push_jobs.py, usecases/qbd/customer_push.py)."""

from __future__ import annotations

import uuid

import asyncpg

from qb_sync.store.push.leases import update_if_still_ours
from qb_sync.store.push.rows import Mapping

LEASE_OWNER = "qbd-web-connector"
_OPEN_JOB = """EXISTS (SELECT 1 FROM qbd_requests r WHERE r.connection_id = $3
                  AND r.kind = 'customer_push' AND r.customer_id = p.customer_id
                  AND r.status IN ('queued', 'sent', 'uncertain'))"""
_DUE = f"""p.tenant_id = $1 AND p.realm_id = $2 AND p.status = 'pending' AND p.due_at <= now()
          AND (p.lease_until IS NULL OR p.lease_until < now()) AND NOT {_OPEN_JOB}"""


def _retried_in_session(session_param: str) -> str:
    """A row whose push was retried (locked record, QuickBooks threw) in this Web Connector
    session waits for the next one: a retry coming due within the same session would spend its
    attempts in seconds while the record stays locked."""
    return f"""EXISTS (SELECT 1 FROM qbd_requests r WHERE r.connection_id = $3
                  AND r.kind = 'customer_push' AND r.customer_id = p.customer_id
                  AND r.state ->> 'session' = {session_param} AND r.last_status LIKE 'retry%')"""


async def has_due_desktop_push(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    connection_id: uuid.UUID,
    session_key: str | None = None,
) -> bool:
    """A push row of the company is due (for the session `session_key`: one it may take)."""
    return bool(
        await conn.fetchval(
            f"""SELECT EXISTS (SELECT 1 FROM push_mappings p WHERE {_DUE}
                   AND ($4::text IS NULL OR NOT {_retried_in_session("$4")}))""",
            tenant_id,
            realm_id,
            connection_id,
            session_key,
        )
    )


async def lease_desktop_row(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    connection_id: uuid.UUID,
    lease_seconds: float,
    session_key: str,
) -> tuple[str, uuid.UUID] | None:
    """Lease the company's longest-due push row that has no open job and was not retried in
    this session: (customer id, lease token)."""
    leased = await conn.fetchrow(
        # MATERIALIZED: evaluated once. Rescanned as the inner side of a join, the LIMIT 1
        # subquery would skip the row it just locked and lease a second one.
        f"""WITH due AS MATERIALIZED (
                SELECT p.customer_id FROM push_mappings p
                 WHERE {_DUE} AND NOT {_retried_in_session("$5")}
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
        session_key,
    )
    return (leased["customer_id"], leased["lease_token"]) if leased else None


async def note_create_name(
    conn: asyncpg.Connection, row: Mapping, token: uuid.UUID, full_name: str
) -> None:
    """Before an Add goes out: its FullName joins the names every later find-first searches,
    so an Add whose answer is lost is found again even after a rename."""
    await update_if_still_ours(
        conn,
        row,
        token,
        """create_names = CASE WHEN $5 = ANY(create_names)
              THEN create_names ELSE array_append(create_names, $5) END""",
        full_name,
    )
