"""The work queue of QuickBooks Desktop jobs (`qbd_requests`, migrations/009_qbd_web_connector.sql). Each job is one row; the Web Connector session picks the
oldest queued one, marks it `sent` with its ticket, and the response moves it on."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from qb_sync.domain.qbd.records import Job

MAX_ATTEMPTS = 3  # then a job is parked as failed: never sent forever


async def enqueue(conn: asyncpg.Connection, connection_id: uuid.UUID, kind: str) -> int:
    request_id: int = await conn.fetchval(
        "INSERT INTO qbd_requests (connection_id, kind) VALUES ($1, $2) RETURNING request_id",
        connection_id,
        kind,
    )
    return request_id


async def enqueue_once(conn: asyncpg.Connection, connection_id: uuid.UUID, kind: str) -> int:
    """The open job of this kind, or a new one: asking twice queues one import."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"qbd:{connection_id}")
        open_id: int | None = await conn.fetchval(
            """SELECT request_id FROM qbd_requests WHERE connection_id = $1 AND kind = $2
               AND status IN ('queued', 'sent', 'uncertain') ORDER BY request_id LIMIT 1""",
            connection_id,
            kind,
        )
        return open_id if open_id is not None else await enqueue(conn, connection_id, kind)


async def has_work(conn: asyncpg.Connection, connection_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM qbd_requests WHERE connection_id = $1
                              AND status IN ('queued', 'sent', 'uncertain'))""",
            connection_id,
        )
    )


async def next_job(conn: asyncpg.Connection, connection_id: uuid.UUID) -> Job | None:
    """Uncertain writes first (they are resolved by a query before anything else is written),
    then the oldest queued job."""
    row = await conn.fetchrow(
        """SELECT request_id, kind, state, attempts FROM qbd_requests
           WHERE connection_id = $1 AND status IN ('queued', 'uncertain')
           ORDER BY status = 'uncertain' DESC, request_id LIMIT 1 FOR UPDATE SKIP LOCKED""",
        connection_id,
    )
    return _job(row) if row else None


async def jobs_in_flight(
    conn: asyncpg.Connection, connection_id: uuid.UUID, ticket_hash: bytes
) -> list[Job]:
    """The jobs whose requests the session sent in its last message set (only that session's
    connection and ticket), in the order they went out."""
    rows = await conn.fetch(
        """SELECT request_id, kind, state, attempts FROM qbd_requests
           WHERE connection_id = $1 AND status = 'sent' AND sent_ticket = $2
           ORDER BY request_id FOR UPDATE""",
        connection_id,
        ticket_hash,
    )
    return [_job(row) for row in rows]


async def mark_sent(conn: asyncpg.Connection, job: Job, ticket_hash: bytes) -> None:
    await conn.execute(
        """UPDATE qbd_requests SET status = 'sent', sent_ticket = $2, updated_at = now()
           WHERE request_id = $1""",
        job.request_id,
        ticket_hash,
    )


async def save_state(conn: asyncpg.Connection, request_id: int, state: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE qbd_requests SET state = $2::jsonb WHERE request_id = $1",
        request_id,
        json.dumps(state),
    )


async def settle(
    conn: asyncpg.Connection,
    job: Job,
    status: str,
    state: dict[str, Any] | None = None,
    last_status: str | None = None,
    attempts: int | None = None,
) -> None:
    await conn.execute(
        """UPDATE qbd_requests SET status = $2, state = $3::jsonb, last_status = $4,
                  attempts = $5, sent_ticket = NULL, updated_at = now()
           WHERE request_id = $1""",
        job.request_id,
        status,
        json.dumps(job.state if state is None else state),
        last_status,
        job.attempts if attempts is None else attempts,
    )


async def failed_attempt(conn: asyncpg.Connection, job: Job, reason: str) -> None:
    """QuickBooks could not take the job's message set: try again next session, up to
    MAX_ATTEMPTS, then park it as failed."""
    attempts = job.attempts + 1
    status = "failed" if attempts >= MAX_ATTEMPTS else "queued"
    await settle(conn, job, status, last_status=reason[:500], attempts=attempts)


def _job(row: asyncpg.Record) -> Job:
    state = row["state"]
    return Job(
        row["request_id"],
        row["kind"],
        json.loads(state) if isinstance(state, str) else dict(state),
        row["attempts"],
    )
