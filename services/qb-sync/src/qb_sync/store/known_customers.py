"""What a merge changes besides the survivor's mirror: the merged-away id's final mirror event
(its name from `pull_known_customers`, since QuickBooks no longer returns that customer) and the
mapping rows that pointed at it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from platform_events.contracts.quickbooks import QuickBooksCustomerLinked, QuickBooksSyncFailed
from platform_events.envelope import new_envelope
from platform_kit.outbox import add_to_outbox, outgoing
from qb_sync.store.mirror import publish_mirror
from qb_sync.store.pull_state import Merge

SOURCE = "qb-sync"


async def remember(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, customers: Sequence[dict[str, Any]]
) -> None:
    """Record the versions just mirrored (one round trip per page)."""
    if not customers:
        return
    await conn.executemany(
        """INSERT INTO pull_known_customers (tenant_id, realm_id, qb_customer_id, sync_token,
                                             display_name)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, realm_id, qb_customer_id) DO UPDATE
              SET sync_token = EXCLUDED.sync_token, display_name = EXCLUDED.display_name
            WHERE pull_known_customers.sync_token < EXCLUDED.sync_token""",
        [
            (tenant_id, realm_id, str(c["Id"]), int(c.get("SyncToken") or 0), c["DisplayName"])
            for c in customers
        ],
    )


async def publish_merged_away(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, merge: Merge
) -> bool:
    """Mirror the merged-away id one last time, through `publish_mirror`: inactive, pointing at
    its survivor, with the SyncToken after the last one mirrored, so every consumer that skips
    stale versions applies it. The name is the last one seen (QuickBooks no longer has it)."""
    last_token = await conn.fetchval(
        """SELECT sync_token FROM mirror_versions
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3""",
        tenant_id,
        realm_id,
        merge.merged_id,
    )
    name = await conn.fetchval(
        """SELECT display_name FROM pull_known_customers
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3""",
        tenant_id,
        realm_id,
        merge.merged_id,
    )
    return await publish_mirror(
        conn,
        tenant_id,
        realm_id,
        {
            "Id": merge.merged_id,
            "SyncToken": (last_token or 0) + 1,
            "DisplayName": name or "",
            "Active": False,
            "merged_into_qb_customer_id": merge.surviving_id,  # None: not known (CDC)
        },
    )


async def remap_after_merge(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, merge: Merge, survivor_token: int
) -> int:
    """Move qb-sync's mapping rows (push_mappings) from the merged-away id to the survivor and
    tell the customer service (`QuickBooksCustomerLinked(how="merged")`). When the survivor is
    already linked to another platform customer, nothing is stolen: the row becomes `needs_link`
    with the survivor as candidate and a `QuickBooksSyncFailed` says why. When the survivor is
    not known (the merge was seen in CDC, which names none), the row becomes `needs_link` for a
    person to choose, keeping the dead id so a later notification naming the survivor still
    moves it. A row a push worker holds loses its lease (the worker's outcome, about the dead id,
    is dropped) and is pushed again. Returns rows moved."""
    rows = await conn.fetch(
        """SELECT customer_id, status, last_error_code, lease_until > now() AS leased
             FROM push_mappings
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3 FOR UPDATE""",
        tenant_id,
        realm_id,
        merge.merged_id,
    )
    if not rows:
        return 0
    holder = (
        await conn.fetchval(
            """SELECT customer_id FROM push_mappings
                WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3""",
            tenant_id,
            realm_id,
            merge.surviving_id,
        )
        if merge.surviving_id is not None
        else None
    )
    events = []
    moved = 0
    for row in rows:
        customer_id = row["customer_id"]
        data: QuickBooksCustomerLinked | QuickBooksSyncFailed
        if merge.surviving_id is not None and holder is None and moved == 0:
            busy = bool(row["leased"]) or row["status"] == "pending"
            await conn.execute(
                """UPDATE push_mappings SET qb_customer_id = $4, sync_token = $5,
                          pushed_content = NULL,
                          status = CASE WHEN $6 THEN 'pending'
                                        WHEN status = 'needs_link' AND last_error_code = 'merged'
                                        THEN 'synced' ELSE status END,
                          due_at = CASE WHEN $6 THEN now() ELSE due_at END,
                          last_error_code = CASE WHEN last_error_code = 'merged' THEN NULL
                                                 ELSE last_error_code END,
                          last_error_message = CASE WHEN last_error_code = 'merged' THEN NULL
                                                    ELSE last_error_message END,
                          candidate_qb_customer_id = NULL,
                          lease_until = NULL, lease_owner = NULL, lease_token = NULL,
                          failure_reported = false, updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                tenant_id,
                realm_id,
                customer_id,
                merge.surviving_id,
                survivor_token,
                busy,
            )
            moved += 1
            data = QuickBooksCustomerLinked(
                realm_id=realm_id,
                customer_id=customer_id,
                qb_customer_id=merge.surviving_id,
                sync_token=survivor_token,
                how="merged",
            )
        else:
            if merge.surviving_id is None:
                if row["status"] == "needs_link" and row["last_error_code"] == "merged":
                    continue  # already told (a 610 on push, or an earlier CDC pass)
                message = (
                    f"QuickBooks merged customer {merge.merged_id} into another one (change data "
                    "capture does not say which); link the customer it went into"
                )
                candidate = None
            else:
                message = (
                    f"QuickBooks merged customer {merge.merged_id} into {merge.surviving_id}, "
                    "which is linked to another customer"
                )
                candidate = merge.surviving_id
            await conn.execute(
                """UPDATE push_mappings SET status = 'needs_link', last_error_code = 'merged',
                          last_error_message = $4, candidate_qb_customer_id = $5, due_at = NULL,
                          lease_until = NULL, lease_owner = NULL, lease_token = NULL,
                          failure_reported = true, updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                tenant_id,
                realm_id,
                customer_id,
                message,
                candidate,
            )
            data = QuickBooksSyncFailed(
                realm_id=realm_id,
                customer_id=customer_id,
                status="needs_link",
                error_code="merged",
                error_message=message,
                attempts=1,
                candidate_qb_customer_id=candidate,
            )
        events.append(
            outgoing(
                new_envelope(
                    data, source=SOURCE, subject=customer_id, tenant_id=tenant_id, sequence=0
                ),
                key=customer_id,
            )
        )
    await add_to_outbox(conn, events)
    return moved
