"""Mapping state rows (`push_mappings`), customer snapshots (`push_customers`) and name claims.

Intent (consumer, API) and outcome (worker) are separate transactions; between them a worker
holds a lease (`lease_until` + a fresh `lease_token`), never a database transaction, so
QuickBooks latency never holds locks and a killed worker's rows are taken again once the lease
expires. Every write a worker makes on a leased row is fenced by its token: once the lease was
taken over (or invalidated by a link or a merge), the old holder writes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from qb_sync.domain.fields import content_hash, desired
from qb_sync.domain.names import name_key
from qb_sync.store.sync_reports import report_failed

Json = dict[str, Any]

# Fixed namespace: the same (realm, customer, generation) always gives the same requestid.
REQUEST_ID_NAMESPACE = uuid.UUID("6f1c1e0e-3d59-4f57-9b8e-2f7a8c1d0b55")


def create_request_id(realm_id: str, customer_id: str, generation: str) -> str:
    """36 characters, under QuickBooks' 50-character requestid limit."""
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"{realm_id}:{customer_id}:{generation}"))


def next_request_id(request_id: str) -> str:
    """The requestid of the next create after QuickBooks refused this one (nothing was created,
    so a new body may go out, under a new id: one requestid never carries two bodies)."""
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"next:{request_id}"))


class LeaseLost(Exception):
    """The row's lease is no longer ours: stop, write nothing."""


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
            lease_token=row["lease_token"],
            create_payload=row["create_payload"],
            create_names=tuple(row["create_names"] or ()),
            platform_content=js(row["platform_content"]),
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
    existing row keeps it and any frozen create (a redelivered or repeated request must resend
    the same create under the same requestid)."""
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


async def mirrored_content(
    conn: Any, tenant_id: str, realm_id: str, qb_customer_id: str
) -> tuple[int, Json] | None:
    """The last mirrored version of a QuickBooks customer: (SyncToken, fields.current view)."""
    row = await conn.fetchrow(
        """SELECT sync_token, content FROM mirror_versions
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3
              AND content IS NOT NULL""",
        tenant_id,
        realm_id,
        qb_customer_id,
    )
    if row is None:
        return None
    content = row["content"]
    return int(row["sync_token"]), json.loads(content) if isinstance(content, str) else content


async def newer_mapping(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, qb_customer_id: str, sequence: int
) -> bool:
    """Record a mapping change of the QuickBooks customer; True when a newer one (a higher
    MappingSaved.mapping_sequence) was applied already, so this one arrived late."""
    stored: int = await conn.fetchval(
        """INSERT INTO push_mapping_sequences (tenant_id, realm_id, qb_customer_id, sequence)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, realm_id, qb_customer_id) DO UPDATE
              SET sequence = GREATEST(push_mapping_sequences.sequence, EXCLUDED.sequence)
        RETURNING sequence""",
        tenant_id,
        realm_id,
        qb_customer_id,
        sequence,
    )
    return stored > sequence


async def record_link(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, customer_id: str, qb_customer_id: str
) -> None:
    """The user linked (or created here from) a QuickBooks customer: record it as synced, no
    call. What QuickBooks holds is taken from the mirror (the base of later three-way merges,
    with its SyncToken); the platform's current values are taken as agreed, so only later
    platform changes are pushed, as sparse updates. Without a mirrored version the customer is
    read on the first update."""
    snapshot = await load_snapshot(conn, tenant_id, customer_id)
    platform = desired(snapshot) if snapshot else None
    mirrored = await mirrored_content(conn, tenant_id, realm_id, qb_customer_id)
    # The customer service owns the mapping: another row on this QuickBooks customer (linked by
    # name while this choice was on its way) loses it, and the customer service is told.
    why = (
        f"QuickBooks customer {qb_customer_id} was linked to customer {customer_id} in the "
        "mapping form"
    )
    displaced = await conn.fetch(
        """UPDATE push_mappings SET qb_customer_id = NULL, sync_token = NULL, status = 'needs_link',
                  last_error_code = 'linked_elsewhere', last_error_message = $5,
                  candidate_qb_customer_id = NULL, pushed_content = NULL, platform_content = NULL,
                  pushed_hash = NULL, due_at = NULL, lease_until = NULL, lease_owner = NULL,
                  lease_token = NULL, failure_reported = true, updated_at = now()
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3 AND customer_id <> $4
        RETURNING customer_id""",
        tenant_id,
        realm_id,
        qb_customer_id,
        customer_id,
        why,
    )
    for row in displaced:
        await report_failed(
            conn,
            tenant_id,
            realm_id,
            row["customer_id"],
            status="needs_link",
            code="linked_elsewhere",
            message=why,
        )
    await conn.execute(
        """INSERT INTO push_mappings (tenant_id, realm_id, customer_id, qb_customer_id, status,
                                      create_request_id, sync_token, pushed_content,
                                      platform_content, pushed_hash)
           VALUES ($1, $2, $3, $4, 'synced', $5, $6, $7::jsonb, $8::jsonb, $9)
           ON CONFLICT (tenant_id, realm_id, customer_id) DO UPDATE
              SET qb_customer_id = EXCLUDED.qb_customer_id, sync_token = EXCLUDED.sync_token,
                  status = 'synced', pushed_content = EXCLUDED.pushed_content,
                  platform_content = EXCLUDED.platform_content,
                  pushed_hash = EXCLUDED.pushed_hash, due_at = NULL, attempts = 0,
                  last_error_code = NULL, last_error_message = NULL, conflict = NULL,
                  candidate_qb_customer_id = NULL, create_payload = NULL, create_names = '{}',
                  lease_until = NULL, lease_owner = NULL, lease_token = NULL,
                  updated_at = now()""",
        tenant_id,
        realm_id,
        customer_id,
        qb_customer_id,
        create_request_id(realm_id, customer_id, f"link:{qb_customer_id}"),
        mirrored[0] if mirrored else None,
        json.dumps(mirrored[1]) if mirrored else None,
        json.dumps(platform) if platform is not None else None,
        content_hash(platform),
    )
    await release_claims(conn, tenant_id, realm_id, customer_id)


async def unlink(conn: asyncpg.Connection, tenant_id: str, realm_id: str, customer_id: str) -> None:
    await conn.execute(
        "DELETE FROM push_mappings WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3",
        tenant_id,
        realm_id,
        customer_id,
    )
    await release_claims(conn, tenant_id, realm_id, customer_id)


async def customer_changed(conn: asyncpg.Connection, tenant_id: str, snapshot: Json) -> None:
    """A newer snapshot: every linked row whose platform values now differ becomes pending.
    Rows in conflict or needs_link wait for a person; a row being pushed is marked dirty."""
    wanted = desired(snapshot)
    digest = content_hash(wanted)
    # Linked rows with no platform values yet (linked before the snapshot arrived) adopt them.
    await conn.execute(
        """UPDATE push_mappings SET platform_content = $3::jsonb, pushed_hash = $4,
                  updated_at = now()
            WHERE tenant_id = $1 AND customer_id = $2 AND qb_customer_id IS NOT NULL
              AND platform_content IS NULL""",
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
    # A create in flight, or a push that found no data, must look again once it is done.
    await conn.execute(
        """UPDATE push_mappings SET dirty = true
            WHERE tenant_id = $1 AND customer_id = $2
              AND (qb_customer_id IS NULL OR last_error_code = $3)
              AND lease_until > now()""",
        tenant_id,
        snapshot["customer_id"],
        WAITING_FOR_CUSTOMER,
    )
    # Rows that waited for this customer's data go now (their waits back off, see
    # `Pusher._write`). After the statement above: a push finishing meanwhile is seen here.
    await conn.execute(
        """UPDATE push_mappings SET due_at = now(), updated_at = now()
            WHERE tenant_id = $1 AND customer_id = $2 AND status = 'pending'
              AND last_error_code = $3
              AND (lease_until IS NULL OR lease_until < now())""",
        tenant_id,
        snapshot["customer_id"],
        WAITING_FOR_CUSTOMER,
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


PARENT_NOT_SYNCED = "parent_not_synced"
# A row whose customer qb-sync has not seen yet: woken by the snapshot, polled at most this often.
WAITING_FOR_CUSTOMER = "customer_data"
MAX_CUSTOMER_WAIT_SECONDS = 60.0


async def wake_children(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, parent_id: str
) -> None:
    """The parent is linked now: children that gave up waiting for it try again."""
    # The literal code (not a parameter) lets the partial index push_mappings_parent_waits serve.
    await conn.execute(
        """UPDATE push_mappings m SET status = 'pending', due_at = now(), attempts = 0,
                  updated_at = now()
             FROM push_customers c
            WHERE m.tenant_id = $1 AND m.realm_id = $2
              AND m.last_error_code = 'parent_not_synced' AND m.status IN ('failed', 'pending')
              AND c.tenant_id = m.tenant_id AND c.customer_id = m.customer_id
              AND c.snapshot ->> 'parent_id' = $3""",
        tenant_id,
        realm_id,
        parent_id,
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


# -- name claims ---------------------------------------------------------------------------------


async def freeze_create(
    pool: asyncpg.Pool, row: Mapping, lease_token: uuid.UUID, name: str, payload: str
) -> str | None:
    """Before a create goes out for the first time: claim its name in the company and store the
    exact body with the row. Returns the customer holding the name when it is another one (then
    nothing is stored); raises LeaseLost when the lease was taken over meanwhile."""
    async with pool.acquire() as conn, conn.transaction():
        holder = await claim_name(conn, row.tenant_id, row.realm_id, row.customer_id, name)
        if holder != row.customer_id:
            return holder
        stored = await conn.fetchval(
            """UPDATE push_mappings SET create_payload = $5,
                      create_names = CASE WHEN $6 = ANY(create_names) THEN create_names
                                          ELSE array_append(create_names, $6) END,
                      updated_at = now()
                WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3
                  AND lease_token = $4
            RETURNING true""",
            row.tenant_id,
            row.realm_id,
            row.customer_id,
            lease_token,
            payload,
            name,
        )
        if not stored:
            raise LeaseLost(row.customer_id)
    return None


async def claim_name(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, customer_id: str, name: str
) -> str:
    """Claim `name` (compared loosely) in the company for `customer_id`; returns its holder."""
    for _ in range(3):  # a claim committed by another transaction meanwhile: read it again
        holder: str | None = await conn.fetchval(
            """WITH claimed AS (
                   INSERT INTO push_name_claims (tenant_id, realm_id, name_key, customer_id)
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING customer_id)
               SELECT customer_id FROM claimed
               UNION ALL
               SELECT customer_id FROM push_name_claims
                WHERE tenant_id = $1 AND realm_id = $2 AND name_key = $3
               LIMIT 1""",
            tenant_id,
            realm_id,
            name_key(name),
            customer_id,
        )
        if holder is not None:
            return holder
    raise LeaseLost(f"could not claim the name {name!r}")


async def release_claims(conn: Any, tenant_id: str, realm_id: str, customer_id: str) -> None:
    await conn.execute(
        """DELETE FROM push_name_claims
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
        tenant_id,
        realm_id,
        customer_id,
    )


# -- leases --------------------------------------------------------------------------------------

_DUE = """status = 'pending' AND due_at <= now()
          AND (lease_until IS NULL OR lease_until < now())
          AND starts_with(tenant_id, $1)
          AND (NOT $2 OR EXISTS (
                SELECT 1 FROM qb_connections c
                 WHERE c.tenant_id = push_mappings.tenant_id
                   AND c.realm_id = push_mappings.realm_id
                   AND c.status = 'connected'))"""


async def due_realms(
    pool: asyncpg.Pool, *, connected_only: bool = True, tenant_prefix: str = ""
) -> list[tuple[str, str]]:
    """Companies with rows ready to push."""
    rows = await pool.fetch(
        f"SELECT DISTINCT tenant_id, realm_id FROM push_mappings WHERE {_DUE}",
        tenant_prefix,
        connected_only,
    )
    return [(r["tenant_id"], r["realm_id"]) for r in rows]


async def lease_due(
    pool: asyncpg.Pool,
    owner: str,
    limit: int,
    seconds: float,
    *,
    realms: Sequence[tuple[str, str]] | None = None,
    connected_only: bool = True,
    tenant_prefix: str = "",
) -> list[Mapping]:
    """Claim due pending rows (of `realms` only, when given), each with a fresh lease token.
    SKIP LOCKED keeps concurrent workers off each other's rows; an expired lease (a killed
    worker) makes a row claimable again. With `connected_only`, rows of a QuickBooks company
    that is not connected (or must be reconnected) wait, pending."""
    tenants = [t for t, _ in realms] if realms is not None else None
    realm_ids = [r for _, r in realms] if realms is not None else None
    rows = await pool.fetch(
        f"""UPDATE push_mappings m
              SET lease_until = now() + make_interval(secs => $5), lease_owner = $3,
                  lease_token = gen_random_uuid(), dirty = false
             FROM (SELECT tenant_id, realm_id, customer_id FROM push_mappings
                    WHERE {_DUE}
                      AND ($6::text[] IS NULL OR (tenant_id, realm_id) IN
                           (SELECT * FROM unnest($6::text[], $7::text[])))
                    ORDER BY due_at LIMIT $4
                    FOR UPDATE SKIP LOCKED) due
            WHERE m.tenant_id = due.tenant_id AND m.realm_id = due.realm_id
              AND m.customer_id = due.customer_id
        RETURNING m.*""",
        tenant_prefix,
        connected_only,
        owner,
        limit,
        seconds,
        tenants,
        realm_ids,
    )
    return [Mapping.of(r) for r in rows]


async def renew_lease(pool: asyncpg.Pool, row: Mapping, token: uuid.UUID, seconds: float) -> bool:
    """Push the lease's end out again; False once the lease is no longer this token's."""
    renewed = await pool.fetchval(
        """UPDATE push_mappings SET lease_until = now() + make_interval(secs => $5)
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3 AND lease_token = $4
        RETURNING true""",
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        token,
        seconds,
    )
    return bool(renewed)


async def lock_if_still_ours(
    conn: asyncpg.Connection, row: Mapping, token: uuid.UUID
) -> asyncpg.Record | None:
    """The row, locked for the outcome, if it is still leased under `token`."""
    record: asyncpg.Record | None = await conn.fetchrow(
        """SELECT * FROM push_mappings WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3
              AND lease_token = $4 FOR UPDATE""",
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        token,
    )
    return record
