"""Push jobs of a Desktop company (`qbd_requests` kind `customer_push`,
migrations/011_qbd_push.sql): each holds one leased push row (store/push/desktop.py) while it
walks its steps in the Web Connector session (usecases/qbd/customer_push.py)."""

from __future__ import annotations

import json
import uuid

import asyncpg

from qb_sync.domain.qbd.records import Job


async def open_push_job(
    conn: asyncpg.Connection,
    connection_id: uuid.UUID,
    customer_id: str,
    token: uuid.UUID,
    session_key: str,
) -> Job:
    """The job of a row just leased under `token` by the session `session_key`."""
    state = {"customer_id": customer_id, "token": str(token), "session": session_key}
    request_id: int = await conn.fetchval(
        """INSERT INTO qbd_requests (connection_id, kind, customer_id, state)
           VALUES ($1, 'customer_push', $2, $3::jsonb) RETURNING request_id""",
        connection_id,
        customer_id,
        json.dumps(state),
    )
    return Job(request_id, "customer_push", state, 0)


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
