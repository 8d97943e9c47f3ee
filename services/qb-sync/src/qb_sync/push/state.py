"""Mapping state rows (`push_mappings`) and customer snapshots (`push_customers`).

Intent (consumer, API) and outcome (worker) are separate transactions; between them a worker
holds a lease (`lease_until`), never a database transaction, so QuickBooks latency never holds
locks and a killed worker's rows are taken again once the lease expires.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from qb_sync.push.fields import content_hash, desired

Json = dict[str, Any]

# Fixed namespace: the same (realm, customer, generation) always gives the same requestid.
REQUEST_ID_NAMESPACE = uuid.UUID("6f1c1e0e-3d59-4f57-9b8e-2f7a8c1d0b55")


def create_request_id(realm_id: str, customer_id: str, generation: str) -> str:
    """36 characters, under QuickBooks' 50-character requestid limit."""
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"{realm_id}:{customer_id}:{generation}"))


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

    @staticmethod
    def of(row: asyncpg.Record) -> Mapping:
        def js(value: Any) -> Json | None:
            return json.loads(value) if isinstance(value, str) else value

        return Mapping(
            tenant_id=row["tenant_id"],
            realm_id=row["realm_id"],
            customer_id=row["customer_id"],
            qb_customer_id=row["qb_customer_id"],
            sync_token=row["sync_token"],
            status=row["status"],
            create_request_id=row["create_request_id"],
            pushed_content=js(row["pushed_content"]),
            pushed_hash=row["pushed_hash"],
            attempts=row["attempts"],
            last_error_code=row["last_error_code"],
            last_error_message=row["last_error_message"],
            candidate_qb_customer_id=row["candidate_qb_customer_id"],
            conflict=js(row["conflict"]),
            due_at=row["due_at"],
            lease_owner=row["lease_owner"],
            updated_at=row["updated_at"],
        )


# -- snapshots -----------------------------------------------------------------------------------


async def save_snapshot(conn: asyncpg.Connection, tenant_id: str, snapshot: Json) -> bool:
    """Keep the newest version only; False when this one is not newer (redelivery, reorder)."""
    stored = await conn.fetchval(
        """INSERT INTO push_customers (tenant_id, customer_id, version, snapshot)
           VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (tenant_id, customer_id) DO UPDATE
              SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot, updated_at = now()
            WHERE push_customers.version < EXCLUDED.version
           RETURNING true""",
        tenant_id,
        snapshot["customer_id"],
        int(snapshot["version"]),
        json.dumps(snapshot),
    )
    return bool(stored)


async def save_snapshots(
    conn: asyncpg.Connection, items: list[tuple[str, Json]]
) -> list[tuple[str, Json]]:
    """Bulk `save_snapshot`: the newest version per customer, stored when newer than what is
    kept. Returns the (tenant, snapshot) pairs actually stored."""
    newest: dict[tuple[str, str], Json] = {}
    for tenant_id, snapshot in items:
        key = (tenant_id, str(snapshot["customer_id"]))
        if key not in newest or int(newest[key]["version"]) < int(snapshot["version"]):
            newest[key] = snapshot
    rows = await conn.fetch(
        """INSERT INTO push_customers (tenant_id, customer_id, version, snapshot)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::jsonb[])
           ON CONFLICT (tenant_id, customer_id) DO UPDATE
              SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot, updated_at = now()
            WHERE push_customers.version < EXCLUDED.version
           RETURNING tenant_id, customer_id""",
        [k[0] for k in newest],
        [k[1] for k in newest],
        [int(v["version"]) for v in newest.values()],
        [json.dumps(v) for v in newest.values()],
    )
    return [(r["tenant_id"], newest[(r["tenant_id"], r["customer_id"])]) for r in rows]


async def customers_changed(conn: asyncpg.Connection, changed: list[tuple[str, Json]]) -> None:
    """`customer_changed` for many customers; only those with mapping rows cost more."""
    if not changed:
        return
    mapped = await conn.fetch(
        """SELECT DISTINCT tenant_id, customer_id FROM push_mappings
            WHERE (tenant_id, customer_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))""",
        [t for t, _ in changed],
        [str(s["customer_id"]) for _, s in changed],
    )
    wanted = {(r["tenant_id"], r["customer_id"]) for r in mapped}
    for tenant_id, snapshot in changed:
        if (tenant_id, str(snapshot["customer_id"])) in wanted:
            await customer_changed(conn, tenant_id, snapshot)


async def load_snapshot(conn: Any, tenant_id: str, customer_id: str) -> Json | None:
    raw = await conn.fetchval(
        "SELECT snapshot FROM push_customers WHERE tenant_id = $1 AND customer_id = $2",
        tenant_id,
        customer_id,
    )
    if raw is None:
        return None
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


# -- intent --------------------------------------------------------------------------------------


async def request_push(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, customer_id: str, generation: str
) -> None:
    """Make the row pending now. A new row gets its create requestid here, before any call; an
    existing row keeps it (a redelivered or repeated request must reuse the same requestid)."""
    await conn.execute(
        """INSERT INTO push_mappings (tenant_id, realm_id, customer_id, status, create_request_id,
                                      due_at)
           VALUES ($1, $2, $3, 'pending', $4, now())
           ON CONFLICT (tenant_id, realm_id, customer_id) DO UPDATE
              SET status = 'pending', due_at = now(), attempts = 0, conflict = NULL,
                  candidate_qb_customer_id = NULL,
                  dirty = push_mappings.lease_until IS NOT NULL
                          AND push_mappings.lease_until > now(),
                  updated_at = now()""",
        tenant_id,
        realm_id,
        customer_id,
        create_request_id(realm_id, customer_id, generation),
    )


async def record_link(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, customer_id: str, qb_customer_id: str
) -> None:
    """The user linked (or created here from) a QuickBooks customer: record it as synced. The
    customer's current data is taken as what QuickBooks holds (linking never pushes); later
    platform changes are pushed as sparse updates. The SyncToken is read on the first update."""
    snapshot = await load_snapshot(conn, tenant_id, customer_id)
    base = desired(snapshot) if snapshot else None
    # The customer service owns the mapping: any other row on this QuickBooks customer is stale.
    await conn.execute(
        """DELETE FROM push_mappings WHERE tenant_id = $1 AND realm_id = $2
              AND qb_customer_id = $3 AND customer_id <> $4""",
        tenant_id,
        realm_id,
        qb_customer_id,
        customer_id,
    )
    await conn.execute(
        """INSERT INTO push_mappings (tenant_id, realm_id, customer_id, qb_customer_id, status,
                                      create_request_id, pushed_content, pushed_hash)
           VALUES ($1, $2, $3, $4, 'synced', $5, $6::jsonb, $7)
           ON CONFLICT (tenant_id, realm_id, customer_id) DO UPDATE
              SET qb_customer_id = EXCLUDED.qb_customer_id,
                  sync_token = CASE WHEN push_mappings.qb_customer_id = EXCLUDED.qb_customer_id
                                    THEN push_mappings.sync_token END,
                  status = 'synced', pushed_content = EXCLUDED.pushed_content,
                  pushed_hash = EXCLUDED.pushed_hash, due_at = NULL, attempts = 0,
                  last_error_code = NULL, last_error_message = NULL, conflict = NULL,
                  candidate_qb_customer_id = NULL, updated_at = now()""",
        tenant_id,
        realm_id,
        customer_id,
        qb_customer_id,
        create_request_id(realm_id, customer_id, f"link:{qb_customer_id}"),
        json.dumps(base) if base is not None else None,
        content_hash(base) if base is not None else None,
    )


async def unlink(conn: asyncpg.Connection, tenant_id: str, realm_id: str, customer_id: str) -> None:
    await conn.execute(
        "DELETE FROM push_mappings WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3",
        tenant_id,
        realm_id,
        customer_id,
    )


async def customer_changed(conn: asyncpg.Connection, tenant_id: str, snapshot: Json) -> None:
    """A newer snapshot: every linked row whose QuickBooks fields now differ becomes pending.
    Rows in conflict or needs_link wait for a person; a row being pushed is marked dirty."""
    wanted = desired(snapshot)
    digest = content_hash(wanted)
    # Linked rows with no base yet (linked before the snapshot arrived) adopt it silently.
    await conn.execute(
        """UPDATE push_mappings SET pushed_content = $3::jsonb, pushed_hash = $4, updated_at = now()
            WHERE tenant_id = $1 AND customer_id = $2 AND qb_customer_id IS NOT NULL
              AND pushed_content IS NULL""",
        tenant_id,
        snapshot["customer_id"],
        json.dumps(wanted),
        digest,
    )
    await conn.execute(
        """UPDATE push_mappings
              SET status = 'pending', due_at = now(), attempts = 0,
                  dirty = lease_until IS NOT NULL AND lease_until > now(), updated_at = now()
            WHERE tenant_id = $1 AND customer_id = $2
              AND qb_customer_id IS NOT NULL AND pushed_hash IS DISTINCT FROM $3
              AND status IN ('synced', 'failed', 'pending')""",
        tenant_id,
        snapshot["customer_id"],
        digest,
    )
    # A create in flight must look again at the data once it is done.
    await conn.execute(
        """UPDATE push_mappings SET dirty = true
            WHERE tenant_id = $1 AND customer_id = $2 AND qb_customer_id IS NULL
              AND lease_until > now()""",
        tenant_id,
        snapshot["customer_id"],
    )


async def ensure_parent_pending(
    conn: Any, tenant_id: str, realm_id: str, parent_id: str, child_request_id: str
) -> None:
    """A sub-customer needs its parent in QuickBooks first: queue the parent unless it has a row."""
    await conn.execute(
        """INSERT INTO push_mappings (tenant_id, realm_id, customer_id, status, create_request_id,
                                      due_at)
           VALUES ($1, $2, $3, 'pending', $4, now())
           ON CONFLICT (tenant_id, realm_id, customer_id) DO NOTHING""",
        tenant_id,
        realm_id,
        parent_id,
        create_request_id(realm_id, parent_id, f"parent-of:{child_request_id}"),
    )


# -- reads ---------------------------------------------------------------------------------------


async def get_mapping(conn: Any, tenant_id: str, realm_id: str, customer_id: str) -> Mapping | None:
    row = await conn.fetchrow(
        "SELECT * FROM push_mappings WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3",
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


# -- leases --------------------------------------------------------------------------------------


async def lease_due(
    pool: asyncpg.Pool,
    owner: str,
    limit: int,
    seconds: float,
    *,
    connected_only: bool = True,
    tenant_prefix: str = "",
) -> list[Mapping]:
    """Claim due pending rows. SKIP LOCKED keeps concurrent workers off each other's rows; an
    expired lease (a killed worker) makes a row claimable again. With `connected_only`, rows of
    a QuickBooks company that is not connected (or must be reconnected) wait, pending."""
    rows = await pool.fetch(
        """UPDATE push_mappings m
              SET lease_until = now() + make_interval(secs => $3), lease_owner = $1, dirty = false
             FROM (SELECT tenant_id, realm_id, customer_id FROM push_mappings
                    WHERE status = 'pending' AND due_at <= now()
                      AND (lease_until IS NULL OR lease_until < now())
                      AND starts_with(tenant_id, $5)
                      AND (NOT $4 OR EXISTS (
                            SELECT 1 FROM qb_connections c
                             WHERE c.tenant_id = push_mappings.tenant_id
                               AND c.realm_id = push_mappings.realm_id
                               AND c.status = 'connected'))
                    ORDER BY due_at LIMIT $2
                    FOR UPDATE SKIP LOCKED) due
            WHERE m.tenant_id = due.tenant_id AND m.realm_id = due.realm_id
              AND m.customer_id = due.customer_id
        RETURNING m.*""",
        owner,
        limit,
        seconds,
        connected_only,
        tenant_prefix,
    )
    return [Mapping.of(r) for r in rows]


async def lock_if_still_ours(
    conn: asyncpg.Connection, row: Mapping, owner: str
) -> asyncpg.Record | None:
    """The row, locked for the outcome, if this worker still holds its lease."""
    record: asyncpg.Record | None = await conn.fetchrow(
        """SELECT * FROM push_mappings WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3
              AND lease_owner = $4 FOR UPDATE""",
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        owner,
    )
    return record
