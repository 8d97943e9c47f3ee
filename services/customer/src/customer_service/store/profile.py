"""Contacts, notes and attachments of a customer. Callers own the transaction."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

CONTACT_FIELDS = ("name", "title", "email", "phone", "mobile", "fax", "notes")
# Set only by an import from QuickBooks (seed 003: the "billing" role and an address).
IMPORTED_CONTACT_FIELDS = ("role", "address")


async def lock_customer(conn: asyncpg.Connection, tenant_id: str, customer_id: str) -> bool:
    """Locks the customer row, so changes to one customer's contacts run one at a time."""
    try:
        key = uuid.UUID(customer_id)
    except ValueError:
        return False
    found = await conn.fetchval(
        "SELECT true FROM customers WHERE customer_id = $1 AND tenant_id = $2 FOR UPDATE",
        key,
        tenant_id,
    )
    return bool(found)


async def customer_exists(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, customer_id: str
) -> bool:
    try:
        key = uuid.UUID(customer_id)
    except ValueError:
        return False
    return bool(
        await conn.fetchval(
            "SELECT true FROM customers WHERE customer_id = $1 AND tenant_id = $2", key, tenant_id
        )
    )


# contacts -------------------------------------------------------------------------------------
async def list_contacts(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, customer_id: str
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT contact_id, {", ".join(CONTACT_FIELDS)}, role, address, is_primary, created_at
              FROM contacts
             WHERE customer_id = $1 AND tenant_id = $2 ORDER BY created_at, contact_id""",
        uuid.UUID(customer_id),
        tenant_id,
    )
    return [
        {
            **_with_text_id(r, "contact_id"),
            "address": json.loads(r["address"]) if r["address"] else None,
        }
        for r in rows
    ]


async def insert_contacts(
    conn: asyncpg.Connection, tenant_id: str, rows: list[tuple[str, str, dict[str, Any], bool]]
) -> None:
    """rows: (contact_id, customer_id, fields, is_primary)."""
    names = (*CONTACT_FIELDS, *IMPORTED_CONTACT_FIELDS)
    await conn.executemany(
        f"""INSERT INTO contacts (contact_id, tenant_id, customer_id, {", ".join(names)},
                                  is_primary)
            VALUES ($1, $2, $3, {", ".join(f"${i}" for i in range(4, 4 + len(names)))},
                    ${4 + len(names)})""",
        [
            (
                uuid.UUID(contact_id),
                tenant_id,
                uuid.UUID(customer_id),
                *[fields.get(name) for name in CONTACT_FIELDS],
                fields.get("role"),
                json.dumps(fields["address"]) if fields.get("address") else None,
                primary,
            )
            for contact_id, customer_id, fields, primary in rows
        ],
    )


async def update_contact(conn: asyncpg.Connection, contact_id: str, fields: dict[str, Any]) -> None:
    names = [n for n in CONTACT_FIELDS if n in fields]
    if not names:
        return
    assignments = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    await conn.execute(
        f"UPDATE contacts SET {assignments} WHERE contact_id = $1",
        uuid.UUID(contact_id),
        *[fields[n] for n in names],
    )


async def set_primary(conn: asyncpg.Connection, customer_id: str, contact_id: str | None) -> None:
    """Clears the old primary first: the unique index allows only one at any moment."""
    await conn.execute(
        "UPDATE contacts SET is_primary = false WHERE customer_id = $1 AND is_primary",
        uuid.UUID(customer_id),
    )
    if contact_id is not None:
        await conn.execute(
            "UPDATE contacts SET is_primary = true WHERE contact_id = $1", uuid.UUID(contact_id)
        )


async def delete_contact(conn: asyncpg.Connection, contact_id: str) -> None:
    await conn.execute("DELETE FROM contacts WHERE contact_id = $1", uuid.UUID(contact_id))


# notes ----------------------------------------------------------------------------------------
_NOTE = "note_id, author, body, created_at"


async def insert_note(
    conn: asyncpg.Connection | asyncpg.Pool,
    tenant_id: str,
    customer_id: str,
    author: str,
    body: str,
) -> dict[str, Any]:
    return await _insert(
        conn, "notes", "note_id", _NOTE, tenant_id, customer_id, {"author": author, "body": body}
    )


async def list_notes(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, customer_id: str
) -> list[dict[str, Any]]:
    return await _list(conn, "notes", "note_id", _NOTE, tenant_id, customer_id)


# attachments ----------------------------------------------------------------------------------
_ATTACHMENT_META = "attachment_id, filename, content_type, size_bytes, sha256, created_at"


async def insert_attachment(
    conn: asyncpg.Connection | asyncpg.Pool,
    tenant_id: str,
    customer_id: str,
    filename: str,
    content_type: str,
    content: bytes,
    sha256: str,
) -> dict[str, Any]:
    values = {
        "filename": filename,
        "content_type": content_type,
        "size_bytes": len(content),
        "sha256": sha256,
        "content": content,
    }
    return await _insert(
        conn, "attachments", "attachment_id", _ATTACHMENT_META, tenant_id, customer_id, values
    )


async def list_attachments(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, customer_id: str
) -> list[dict[str, Any]]:
    return await _list(
        conn, "attachments", "attachment_id", _ATTACHMENT_META, tenant_id, customer_id
    )


async def load_attachment(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, customer_id: str, attachment_id: str
) -> asyncpg.Record | None:
    try:
        ids = uuid.UUID(customer_id), uuid.UUID(attachment_id)
    except ValueError:
        return None
    return await conn.fetchrow(
        f"""SELECT {_ATTACHMENT_META}, content FROM attachments
             WHERE customer_id = $1 AND attachment_id = $2 AND tenant_id = $3""",
        *ids,
        tenant_id,
    )


# notes and attachments alike: rows of one customer under a uuid id, in the order written --------
async def _insert(
    conn: asyncpg.Connection | asyncpg.Pool,
    table: str,
    id_column: str,
    returning: str,
    tenant_id: str,
    customer_id: str,
    values: dict[str, Any],
) -> dict[str, Any]:
    columns = [id_column, "tenant_id", "customer_id", *values]
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    row = await conn.fetchrow(
        f"""INSERT INTO {table} ({", ".join(columns)}) VALUES ({placeholders})
            RETURNING {returning}""",
        uuid.uuid4(),
        tenant_id,
        uuid.UUID(customer_id),
        *values.values(),
    )
    assert row is not None
    return _with_text_id(row, id_column)


async def _list(
    conn: asyncpg.Connection | asyncpg.Pool,
    table: str,
    id_column: str,
    columns: str,
    tenant_id: str,
    customer_id: str,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT {columns} FROM {table}
             WHERE customer_id = $1 AND tenant_id = $2 ORDER BY created_at, {id_column}""",
        uuid.UUID(customer_id),
        tenant_id,
    )
    return [_with_text_id(r, id_column) for r in rows]


def _with_text_id(row: asyncpg.Record, id_column: str) -> dict[str, Any]:
    """The row as the API shows it: its uuid id as text."""
    return {**dict(row), id_column: str(row[id_column])}
