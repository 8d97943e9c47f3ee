"""Intent on push rows: what customer.events and people ask for (push this customer, it is
linked to that QuickBooks customer, unlink it, its data changed, retry it, a conflict settled).
Only intent: no QuickBooks call, and a row a worker holds is marked `dirty` rather than
overwritten, so the worker's outcome does not lose the change."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from qb_sync.domain.fields import content_hash, desired
from qb_sync.domain.outcomes import WAITING_FOR_CUSTOMER
from qb_sync.domain.request_ids import create_request_id
from qb_sync.store.mirror import mirrored_content
from qb_sync.store.push.name_claims import release_claims
from qb_sync.store.push.rows import NO_LEASE
from qb_sync.store.push.snapshots import load_snapshot
from qb_sync.store.sync_reports import report_failed

Json = dict[str, Any]


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


async def request_push(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    customer_id: str,
    generation: str,
    cause: str | None = None,
) -> None:
    """Make the row pending now. A new row gets its create requestid here, before any call; an
    existing row keeps it and any frozen create (a redelivered or repeated request must resend
    the same create under the same requestid). `cause`: the id of the event that asked, named
    by the outcome's event."""
    await conn.execute(
        """INSERT INTO push_mappings (tenant_id, realm_id, customer_id, status, create_request_id,
                                      due_at, cause_event_id)
           VALUES ($1, $2, $3, 'pending', $4, now(), $5)
           ON CONFLICT (tenant_id, realm_id, customer_id) DO UPDATE
              SET status = 'pending', due_at = now(), attempts = 0, conflict = NULL,
                  candidate_qb_customer_id = NULL, auto_retries = 0,
                  dirty = push_mappings.lease_until IS NOT NULL
                          AND push_mappings.lease_until > now(),
                  cause_event_id = EXCLUDED.cause_event_id,
                  updated_at = now()""",
        tenant_id,
        realm_id,
        customer_id,
        create_request_id(realm_id, customer_id, generation),
        cause,
    )


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
        f"""UPDATE push_mappings SET qb_customer_id = NULL, sync_token = NULL, status = 'needs_link',
                  last_error_code = 'linked_elsewhere', last_error_message = $5,
                  candidate_qb_customer_id = NULL, pushed_content = NULL, platform_content = NULL,
                  pushed_hash = NULL, due_at = NULL, {NO_LEASE},
                  failure_reported = true, write_in_doubt = NULL, updated_at = now()
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
        f"""INSERT INTO push_mappings (tenant_id, realm_id, customer_id, qb_customer_id, status,
                                      create_request_id, sync_token, pushed_content,
                                      platform_content, pushed_hash)
           VALUES ($1, $2, $3, $4, 'synced', $5, $6, $7::jsonb, $8::jsonb, $9)
           ON CONFLICT (tenant_id, realm_id, customer_id) DO UPDATE
              SET qb_customer_id = EXCLUDED.qb_customer_id, sync_token = EXCLUDED.sync_token,
                  status = 'synced', pushed_content = EXCLUDED.pushed_content,
                  platform_content = EXCLUDED.platform_content,
                  pushed_hash = EXCLUDED.pushed_hash, due_at = NULL, attempts = 0,
                  last_error_code = NULL, last_error_message = NULL, conflict = NULL,
                  candidate_qb_customer_id = NULL, create_payload = NULL, create_names = '{{}}',
                  {NO_LEASE}, write_in_doubt = NULL, updated_at = now()""",
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
    """A newer snapshot: every linked row whose platform values now differ becomes pending, and
    so does one with an update in doubt (the change may undo what that update wrote). Rows in
    conflict or needs_link wait for a person; a row being pushed is marked dirty."""
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
              AND qb_customer_id IS NOT NULL
              AND (pushed_hash IS DISTINCT FROM $3 OR write_in_doubt IS NOT NULL)
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


async def retry_now(conn: Any, tenant_id: str, realm_id: str, customer_id: str) -> None:
    """A person asked to try a failed or needs_link row again: pending now, attempts from 0."""
    await conn.execute(
        """UPDATE push_mappings SET status = 'pending', due_at = now(), attempts = 0,
                  candidate_qb_customer_id = NULL, auto_retries = 0, updated_at = now()
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
        tenant_id,
        realm_id,
        customer_id,
    )


async def reopen_settled(
    conn: Any,
    tenant_id: str,
    realm_id: str,
    customer_id: str,
    platform: Json,
    pushed_content: Json | None,
) -> None:
    """A conflict settled: pending now, with the platform values counted as reconciled and what
    QuickBooks holds (None: read it again on the next push)."""
    await conn.execute(
        """UPDATE push_mappings SET status = 'pending', due_at = now(), attempts = 0,
                  conflict = NULL, platform_content = $4::jsonb, pushed_hash = $5,
                  pushed_content = $6::jsonb, updated_at = now()
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
        tenant_id,
        realm_id,
        customer_id,
        json.dumps(platform),
        content_hash(platform),
        json.dumps(pushed_content) if pushed_content is not None else None,
    )


async def due_after_reconnect(conn: Any, tenant_id: str, realm_id: str) -> None:
    """The company was connected again: rows that waited for it are due at once."""
    await conn.execute(
        """UPDATE push_mappings SET due_at = now(), updated_at = now()
            WHERE tenant_id = $1 AND realm_id = $2 AND status = 'pending'
              AND last_error_code = 'reauth_required'""",
        tenant_id,
        realm_id,
    )
