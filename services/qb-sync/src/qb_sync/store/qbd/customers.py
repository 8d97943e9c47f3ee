"""Customers read from a QuickBooks Desktop company file (`qbd_customers`), keyed by the
connection of the job that read them. Every change that shows is mirrored onto `qb.customers`
in the same transaction (store/qbd/mirror.py), so the customer service's directory follows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from qb_sync.domain.qbd.directory import mirror_fields
from qb_sync.domain.qbd.qbxml import ImportedCustomer
from qb_sync.store.qbd.mirror import publish_desktop_mirror


async def newest_time_modified(conn: asyncpg.Connection, request_id: int) -> datetime | None:
    """The newest TimeModified imported on the connection of this job."""
    newest: datetime | None = await conn.fetchval(
        """SELECT max(time_modified::timestamptz) FROM qbd_customers c
           JOIN qbd_requests r USING (connection_id) WHERE r.request_id = $1""",
        request_id,
    )
    return newest


async def mark_deleted(conn: asyncpg.Connection, request_id: int, list_ids: list[str]) -> None:
    rows = await conn.fetch(
        """UPDATE qbd_customers c SET deleted_at = now() FROM qbd_requests r
           WHERE r.request_id = $1 AND c.connection_id = r.connection_id
             AND c.list_id = ANY($2::text[]) AND c.deleted_at IS NULL
           RETURNING c.*""",
        request_id,
        list_ids,
    )
    for row in rows:
        await publish_desktop_mirror(
            conn, row["connection_id"], mirror_fields(_stored(row), deleted=True)
        )


def _stored(row: asyncpg.Record) -> ImportedCustomer:
    fields = row["fields"]
    return ImportedCustomer(
        list_id=row["list_id"],
        edit_sequence=row["edit_sequence"],
        name=row["name"],
        full_name=row["full_name"],
        parent_list_id=row["parent_list_id"],
        sublevel=row["sublevel"],
        is_active=row["is_active"],
        time_modified=row["time_modified"],
        fields=json.loads(fields) if isinstance(fields, str) else fields,
    )


async def upsert(conn: asyncpg.Connection, request_id: int, customer: ImportedCustomer) -> None:
    before: str | None = await conn.fetchval(
        """SELECT c.full_name FROM qbd_customers c JOIN qbd_requests r USING (connection_id)
            WHERE r.request_id = $1 AND c.list_id = $2""",
        request_id,
        customer.list_id,
    )
    connection_id = await conn.fetchval(
        """INSERT INTO qbd_customers (connection_id, list_id, edit_sequence, name, full_name,
                                      parent_list_id, sublevel, is_active, time_modified, fields)
           SELECT connection_id, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb
           FROM qbd_requests WHERE request_id = $1
           ON CONFLICT (connection_id, list_id) DO UPDATE SET
               edit_sequence = EXCLUDED.edit_sequence, name = EXCLUDED.name,
               full_name = EXCLUDED.full_name, parent_list_id = EXCLUDED.parent_list_id,
               sublevel = EXCLUDED.sublevel, is_active = EXCLUDED.is_active,
               time_modified = EXCLUDED.time_modified, fields = EXCLUDED.fields,
               imported_at = now(), deleted_at = NULL
           RETURNING connection_id""",
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
    if connection_id is not None:
        await publish_desktop_mirror(
            conn, connection_id, mirror_fields(customer), customer.fields.get("ExternalGUID")
        )
        if before is not None and before != customer.full_name:
            await _rename_jobs(conn, connection_id, before, customer.full_name)


async def _rename_jobs(
    conn: asyncpg.Connection, connection_id: Any, old_prefix: str, new_prefix: str
) -> None:
    """A renamed customer renames its jobs' FullNames (`Parent:Job`), which a query of changes
    need not return again (their own TimeModified may not move)."""
    rows = await conn.fetch(
        """UPDATE qbd_customers SET full_name = $3 || substr(full_name, length($2) + 1)
            WHERE connection_id = $1 AND left(full_name, length($2) + 1) = $2 || ':'
              AND deleted_at IS NULL
        RETURNING *""",
        connection_id,
        old_prefix,
        new_prefix,
    )
    for row in rows:
        await publish_desktop_mirror(conn, connection_id, mirror_fields(_stored(row)))


async def remirror(
    conn: asyncpg.Connection, realm_id: str, list_id: str, linked_customer_id: str | None
) -> bool:
    """A push outcome about a Desktop customer: the mirror of what the company file answered
    (upserted in this transaction), with the link the outcome records."""
    row = await conn.fetchrow(
        "SELECT * FROM qbd_customers WHERE connection_id = $1::uuid AND list_id = $2",
        realm_id,
        list_id,
    )
    if row is None:
        return False
    fields = mirror_fields(_stored(row), deleted=row["deleted_at"] is not None)
    return await publish_desktop_mirror(
        conn, row["connection_id"], fields, linked_customer_id=linked_customer_id
    )
