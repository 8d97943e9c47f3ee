"""Web Connector tickets, in PostgreSQL so any replica can take the next call. A ticket is a
CSPRNG token shown to the Web Connector once; only its SHA-256 is stored. It is bound to one
connection, and dies when closed, when a newer session of the same connection starts, after
IDLE of silence or MAX_AGE in all."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

import asyncpg

from qb_sync.domain.qbd.records import Session

IDLE = timedelta(minutes=15)
MAX_AGE = timedelta(hours=2)
# A request sent and never answered: a query is simply queued again; a push job may have written.
_UNANSWERED = "CASE WHEN kind = 'customer_push' THEN 'uncertain' ELSE 'queued' END"


def ticket_hash(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


async def open_session(conn: asyncpg.Connection, connection_id: uuid.UUID) -> str:
    """A new ticket; older open sessions of the connection are closed (one live session per
    connection), and a request they had in flight goes back to the queue: a query to be resent,
    a push job as `uncertain` (its write may have been applied: a query resolves it first)."""
    # Sessions first: closing one waits for a call it is answering (it holds its session row),
    # so a request that call marks sent is seen sent below and goes back to the queue.
    await conn.execute(
        """UPDATE qbd_sessions SET status = 'closed',
                  last_error = 'superseded by a newer Web Connector session'
           WHERE connection_id = $1 AND status = 'open'""",
        connection_id,
    )
    await conn.execute(
        f"""UPDATE qbd_requests SET status = {_UNANSWERED}, sent_ticket = NULL, updated_at = now()
           WHERE connection_id = $1 AND status = 'sent'""",
        connection_id,
    )
    ticket = secrets.token_urlsafe(32)
    await conn.execute(
        """INSERT INTO qbd_sessions (ticket_hash, connection_id, expires_at)
           VALUES ($1, $2, now() + $3::interval)""",
        ticket_hash(ticket),
        connection_id,
        MAX_AGE,
    )
    return ticket


async def find_session(
    conn: asyncpg.Connection, ticket: str, *, lock: bool = False
) -> Session | None:
    """The open, unexpired session of a ticket (touching it), or None."""
    row = await conn.fetchrow(
        f"""SELECT s.ticket_hash, s.connection_id, c.tenant_id, c.owner_id, c.file_id,
                   s.file_checked, s.qbxml_version, s.in_flight, s.last_error
            FROM qbd_sessions s JOIN qbd_connections c USING (connection_id)
            WHERE s.ticket_hash = $1 AND s.status = 'open' AND s.expires_at > now()
              AND s.last_seen_at > now() - $2::interval
            {"FOR UPDATE OF s" if lock else ""}""",
        ticket_hash(ticket),
        IDLE,
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE qbd_sessions SET last_seen_at = now() WHERE ticket_hash = $1", row["ticket_hash"]
    )
    return Session(**dict(row))


async def last_error(conn: asyncpg.Connection, ticket: str) -> str | None:
    """The last error of a ticket's session, open or closed (getLastError follows a failure)."""
    value: str | None = await conn.fetchval(
        "SELECT last_error FROM qbd_sessions WHERE ticket_hash = $1", ticket_hash(ticket)
    )
    return value


async def update_session(conn: asyncpg.Connection, session: Session, **changes: object) -> None:
    columns = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
    await conn.execute(
        f"UPDATE qbd_sessions SET {columns} WHERE ticket_hash = $1",
        session.ticket_hash,
        *changes.values(),
    )


async def still_waiting(conn: asyncpg.Connection, session: Session, limit: timedelta) -> bool:
    """Note that the session waits for work held elsewhere; False once it has waited `limit`
    since it last got a request (`waiting_since` is cleared when it gets one)."""
    within: bool = await conn.fetchval(
        """UPDATE qbd_sessions SET waiting_since = COALESCE(waiting_since, now())
           WHERE ticket_hash = $1 RETURNING waiting_since > now() - $2::interval""",
        session.ticket_hash,
        limit,
    )
    return within


async def close_session(conn: asyncpg.Connection, ticket: str, error: str | None = None) -> bool:
    """Close a session; its in-flight requests, if any, go back to the queue (a push job as
    `uncertain`)."""
    row = await conn.fetchrow(
        """UPDATE qbd_sessions SET status = 'closed', last_error = COALESCE($2, last_error)
           WHERE ticket_hash = $1 AND status = 'open' RETURNING in_flight, connection_id""",
        ticket_hash(ticket),
        error,
    )
    if row is None:
        return False
    if row["in_flight"] is not None:  # every request of the message set it had out
        await conn.execute(
            f"""UPDATE qbd_requests SET status = {_UNANSWERED}, sent_ticket = NULL,
                      updated_at = now()
               WHERE connection_id = $1 AND sent_ticket = $2 AND status = 'sent'""",
            row["connection_id"],
            ticket_hash(ticket),
        )
    return True
