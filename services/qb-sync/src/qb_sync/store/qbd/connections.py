"""QuickBooks Desktop connections (`qbd_connections`): one per tenant's company file, its Web
Connector user name, password hash, OwnerID and FileID."""

from __future__ import annotations

import uuid

import asyncpg

from qb_sync.domain.qbd.passwords import hash_password
from qb_sync.domain.qbd.records import ConnectionOverview, QbdConnection


async def create_connection(
    conn: asyncpg.Connection, tenant_id: str, username: str, password: str, owner_id: str
) -> QbdConnection:
    file_id = "{" + str(uuid.uuid4()).upper() + "}"
    row = await conn.fetchrow(
        """INSERT INTO qbd_connections (connection_id, tenant_id, username, password_hash,
                                        owner_id, file_id)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
        uuid.uuid4(),
        tenant_id,
        username,
        hash_password(password),
        owner_id,
        file_id,
    )
    return QbdConnection(**{k: v for k, v in dict(row).items() if k != "created_at"})


async def connection_by_username(conn: asyncpg.Connection, username: str) -> QbdConnection | None:
    row = await conn.fetchrow(
        """SELECT connection_id, tenant_id, username, password_hash, owner_id, file_id,
                  company_file FROM qbd_connections WHERE username = $1""",
        username,
    )
    return QbdConnection(**dict(row)) if row else None


async def connection_of_tenant(
    conn: asyncpg.Connection, tenant_id: str, connection_id: uuid.UUID
) -> QbdConnection | None:
    row = await conn.fetchrow(
        """SELECT connection_id, tenant_id, username, password_hash, owner_id, file_id,
                  company_file FROM qbd_connections WHERE connection_id = $1 AND tenant_id = $2""",
        connection_id,
        tenant_id,
    )
    return QbdConnection(**dict(row)) if row else None


async def connections_of_tenant(
    conn: asyncpg.Connection, tenant_id: str
) -> list[ConnectionOverview]:
    """The tenant's connections, oldest first, each with its newest session and request counts."""
    rows = await conn.fetch(
        """SELECT c.connection_id, c.username, c.file_id, c.company_file, c.created_at,
                  s.created_at AS last_session_at, s.last_seen_at, s.status AS session_status,
                  COALESCE(s.last_error, '') AS last_error,
                  count(r.*) FILTER (WHERE r.status IN ('queued', 'sent')) AS queued,
                  count(r.*) FILTER (WHERE r.status = 'uncertain') AS uncertain,
                  count(r.*) FILTER (WHERE r.status = 'failed') AS failed
           FROM qbd_connections c
           LEFT JOIN LATERAL (
               SELECT created_at, last_seen_at, status, last_error FROM qbd_sessions
               WHERE connection_id = c.connection_id ORDER BY created_at DESC LIMIT 1
           ) s ON true
           LEFT JOIN qbd_requests r ON r.connection_id = c.connection_id
           WHERE c.tenant_id = $1
           GROUP BY c.connection_id, s.created_at, s.last_seen_at, s.status, s.last_error
           ORDER BY c.created_at, c.connection_id""",
        tenant_id,
    )
    return [ConnectionOverview(**dict(row)) for row in rows]
