"""Connection rows: the only code that reads or writes `qb_connections` (tokens stay encrypted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from qb_sync.domain.tokens import Grant
from qb_sync.store.token_cipher import TokenCipher


@dataclass(frozen=True)
class Connection:
    tenant_id: str
    realm_id: str
    status: str
    access_token: str
    refresh_token: str | None
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    token_version: int
    last_error: str | None
    connected_at: datetime


class RealmTaken(Exception):
    """The QuickBooks company is already connected to another tenant."""


_COLUMNS = """tenant_id, realm_id, status, access_token_enc, refresh_token_enc, access_expires_at,
              refresh_expires_at, token_version, last_error, connected_at"""


def _decode(row: asyncpg.Record, cipher: TokenCipher) -> Connection:
    return Connection(
        tenant_id=row["tenant_id"],
        realm_id=row["realm_id"],
        status=row["status"],
        access_token=cipher.decrypt(row["access_token_enc"]),
        refresh_token=cipher.maybe_decrypt(row["refresh_token_enc"]),
        access_expires_at=row["access_expires_at"],
        refresh_expires_at=row["refresh_expires_at"],
        token_version=row["token_version"],
        last_error=row["last_error"],
        connected_at=row["connected_at"],
    )


async def get_connection(
    conn: asyncpg.Connection | asyncpg.Pool,
    cipher: TokenCipher,
    tenant_id: str,
    realm_id: str,
    *,
    for_update: bool = False,
) -> Connection | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM qb_connections WHERE tenant_id = $1 AND realm_id = $2"
        + (" FOR UPDATE" if for_update else ""),
        tenant_id,
        realm_id,
    )
    return _decode(row, cipher) if row else None


async def list_connections(
    conn: asyncpg.Connection | asyncpg.Pool, cipher: TokenCipher, tenant_id: str | None = None
) -> list[Connection]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM qb_connections WHERE $1::text IS NULL OR tenant_id = $1 "
        "ORDER BY tenant_id, realm_id",
        tenant_id,
    )
    return [_decode(r, cipher) for r in rows]


async def tenant_of_realm(conn: asyncpg.Connection | asyncpg.Pool, realm_id: str) -> str | None:
    """Webhooks carry only the realm; `None` when no tenant has it connected."""
    value = await conn.fetchval(
        "SELECT tenant_id FROM qb_connections WHERE realm_id = $1 AND status <> 'disconnected'",
        realm_id,
    )
    return str(value) if value is not None else None


def _sealed(cipher: TokenCipher, grant: Grant) -> tuple[object, ...]:
    """The grant as its columns are stored: tokens encrypted, then their expiries."""
    return (
        cipher.encrypt(grant.access_token),
        cipher.maybe_encrypt(grant.refresh_token),
        grant.access_expires_at,
        grant.refresh_expires_at,
    )


async def status_of(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, realm_id: str
) -> str | None:
    """connected | reauth_required | disconnected; None when the company was never connected."""
    status: str | None = await conn.fetchval(
        "SELECT status FROM qb_connections WHERE tenant_id = $1 AND realm_id = $2",
        tenant_id,
        realm_id,
    )
    return status


async def save_connection(
    conn: asyncpg.Connection, cipher: TokenCipher, tenant_id: str, realm_id: str, grant: Grant
) -> None:
    """Connect (or reconnect) a realm with a fresh token pair."""
    owner = await conn.fetchval(
        "SELECT tenant_id FROM qb_connections WHERE realm_id = $1 FOR UPDATE", realm_id
    )
    if owner is not None and owner != tenant_id:
        raise RealmTaken(realm_id)
    await conn.execute(
        """INSERT INTO qb_connections (tenant_id, realm_id, status, access_token_enc,
               refresh_token_enc, access_expires_at, refresh_expires_at)
           VALUES ($1, $2, 'connected', $3, $4, $5, $6)
           ON CONFLICT (tenant_id, realm_id) DO UPDATE SET
               status = 'connected', access_token_enc = EXCLUDED.access_token_enc,
               refresh_token_enc = EXCLUDED.refresh_token_enc,
               access_expires_at = EXCLUDED.access_expires_at,
               refresh_expires_at = EXCLUDED.refresh_expires_at,
               token_version = qb_connections.token_version + 1, last_error = NULL,
               updated_at = now()""",
        tenant_id,
        realm_id,
        *_sealed(cipher, grant),
    )


async def store_refreshed(
    conn: asyncpg.Connection, cipher: TokenCipher, tenant_id: str, realm_id: str, grant: Grant
) -> None:
    await conn.execute(
        """UPDATE qb_connections SET access_token_enc = $3,
               refresh_token_enc = COALESCE($4, refresh_token_enc),
               access_expires_at = $5, refresh_expires_at = COALESCE($6, refresh_expires_at),
               token_version = token_version + 1, refreshed_at = now(), last_error = NULL,
               updated_at = now()
           WHERE tenant_id = $1 AND realm_id = $2""",
        tenant_id,
        realm_id,
        *_sealed(cipher, grant),
    )


async def set_status(
    conn: asyncpg.Connection | asyncpg.Pool,
    tenant_id: str,
    realm_id: str,
    status: str,
    error: str | None = None,
) -> bool:
    done = await conn.execute(
        """UPDATE qb_connections SET status = $3, last_error = $4, updated_at = now()
           WHERE tenant_id = $1 AND realm_id = $2""",
        tenant_id,
        realm_id,
        status,
        error,
    )
    return str(done).endswith(" 1")
