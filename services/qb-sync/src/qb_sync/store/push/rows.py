"""A push row (`push_mappings`): one platform customer in one QuickBooks company, and the reads
of it. Writes are in the sibling modules, one per kind (intent, leases, outcomes, merges).

Intent (consumer, API) and outcome (worker) are separate transactions; between them a worker
holds a lease (`lease_until` + a fresh `lease_token`), never a database transaction, so
QuickBooks latency never holds locks and a killed worker's rows are taken again once the lease
expires. Every write a worker makes on a leased row is fenced by its token: once the lease was
taken over (or invalidated by a link or a merge), the old holder writes nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import asyncpg

Json = dict[str, Any]

ROW = "tenant_id = $1 AND realm_id = $2 AND customer_id = $3"
"""The WHERE of one push row, its key bound as $1-$3."""
LEASED_ROW = f"{ROW} AND lease_token = $4"
"""The WHERE of one push row still leased under the token bound as $4: the fence of every
write a lease holder makes."""
NO_LEASE = "lease_until = NULL, lease_owner = NULL, lease_token = NULL"
"""The assignments that end a row's lease (a late holder's writes then find nothing)."""


@dataclass(frozen=True)
class Mapping:
    tenant_id: str
    realm_id: str
    customer_id: str
    qb_customer_id: str | None
    sync_token: int | None
    status: str
    create_request_id: str
    pushed_content: Json | None
    pushed_hash: str | None
    attempts: int
    last_error_code: str | None
    last_error_message: str | None
    candidate_qb_customer_id: str | None
    conflict: Json | None
    due_at: datetime | None
    lease_owner: str | None
    updated_at: datetime
    lease_token: uuid.UUID | None = None
    create_payload: str | None = None
    create_names: tuple[str, ...] = ()
    platform_content: Json | None = None
    write_in_doubt: Json | None = None  # an update sent whose answer never came
    auto_retries: int = 0
    cause_event_id: str | None = None  # the event that asked for this push

    @staticmethod
    def of(row: asyncpg.Record) -> Mapping:
        """A `push_mappings` row (every column: `SELECT *` or `RETURNING *`)."""
        values = {f.name: row[f.name] for f in fields(Mapping)}
        for name in _JSON_COLUMNS:  # jsonb arrives as text unless a codec is set
            raw = values[name]
            values[name] = json.loads(raw) if isinstance(raw, str) else raw
        values["create_names"] = tuple(values["create_names"] or ())
        return Mapping(**values)


_JSON_COLUMNS = ("pushed_content", "conflict", "platform_content", "write_in_doubt")


async def get_mapping(conn: Any, tenant_id: str, realm_id: str, customer_id: str) -> Mapping | None:
    row = await conn.fetchrow(
        f"SELECT * FROM push_mappings WHERE {ROW}",
        tenant_id,
        realm_id,
        customer_id,
    )
    return Mapping.of(row) if row else None


async def owner_of(conn: Any, tenant_id: str, realm_id: str, qb_customer_id: str) -> str | None:
    result: str | None = await conn.fetchval(
        """SELECT customer_id FROM push_mappings WHERE tenant_id = $1 AND realm_id = $2
              AND qb_customer_id = $3""",
        tenant_id,
        realm_id,
        qb_customer_id,
    )
    return result


async def list_rows(
    conn: Any, tenant_id: str, status: str | None, realm_id: str | None, limit: int
) -> list[Mapping]:
    """The tenant's rows, newest change first, optionally of one status or company."""
    rows = await conn.fetch(
        """SELECT * FROM push_mappings WHERE tenant_id = $1
              AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR realm_id = $3)
            ORDER BY updated_at DESC, customer_id LIMIT $4""",
        tenant_id,
        status,
        realm_id,
        limit,
    )
    return [Mapping.of(r) for r in rows]
