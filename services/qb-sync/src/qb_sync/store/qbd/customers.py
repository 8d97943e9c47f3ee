"""Customers read from a QuickBooks Desktop company file (`qbd_customers`), keyed by the
connection of the job that read them."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from qb_sync.domain.qbd.qbxml import ImportedCustomer


async def newest_time_modified(conn: asyncpg.Connection, request_id: int) -> datetime | None:
    """The newest TimeModified imported on the connection of this job."""
    newest: datetime | None = await conn.fetchval(
        """SELECT max(time_modified::timestamptz) FROM qbd_customers c
           JOIN qbd_requests r USING (connection_id) WHERE r.request_id = $1""",
        request_id,
    )
    return newest


async def mark_deleted(conn: asyncpg.Connection, request_id: int, list_ids: list[str]) -> None:
    await conn.execute(
        """UPDATE qbd_customers c SET deleted_at = now() FROM qbd_requests r
           WHERE r.request_id = $1 AND c.connection_id = r.connection_id
             AND c.list_id = ANY($2::text[]) AND c.deleted_at IS NULL""",
        request_id,
        list_ids,
    )


async def upsert(conn: asyncpg.Connection, request_id: int, customer: ImportedCustomer) -> None:
    await conn.execute(
        """INSERT INTO qbd_customers (connection_id, list_id, edit_sequence, name, full_name,
                                      parent_list_id, sublevel, is_active, time_modified, fields)
           SELECT connection_id, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb
           FROM qbd_requests WHERE request_id = $1
           ON CONFLICT (connection_id, list_id) DO UPDATE SET
               edit_sequence = EXCLUDED.edit_sequence, name = EXCLUDED.name,
               full_name = EXCLUDED.full_name, parent_list_id = EXCLUDED.parent_list_id,
               sublevel = EXCLUDED.sublevel, is_active = EXCLUDED.is_active,
               time_modified = EXCLUDED.time_modified, fields = EXCLUDED.fields,
               imported_at = now(), deleted_at = NULL""",
        request_id,
        customer.list_id,
        customer.edit_sequence,
        customer.name,
        customer.full_name,
        customer.parent_list_id,
        customer.sublevel,
        customer.is_active,
        customer.time_modified,
        json.dumps(customer.fields),
    )
