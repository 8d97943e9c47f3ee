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
from qb_sync.mirror import publish_mirror
from qb_sync.pull.state import Merge

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
            "merged_into_qb_customer_id": merge.surviving_id,
        },
    )


async def remap_after_merge(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, merge: Merge, survivor_token: int
) -> int:
    """Move qb-sync's mapping rows (push_mappings) from the merged-away id to the survivor and
    tell the customer service (`QuickBooksCustomerLinked(how="merged")`). When the survivor is
    already linked to another platform customer, nothing is stolen: the row becomes `needs_link`
    with the survivor as candidate and a `QuickBooksSyncFailed` says why. Returns rows moved."""
    rows = await conn.fetch(
        """SELECT customer_id FROM push_mappings
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3 FOR UPDATE""",
        tenant_id,
        realm_id,
        merge.merged_id,
    )
    if not rows:
        return 0
    holder = await conn.fetchval(
        """SELECT customer_id FROM push_mappings
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3""",
        tenant_id,
        realm_id,
        merge.surviving_id,
    )
    events = []
    moved = 0
    for row in rows:
        customer_id = row["customer_id"]
        if holder is None and moved == 0:
            await conn.execute(
                """UPDATE push_mappings SET qb_customer_id = $4, sync_token = $5,
                          updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                tenant_id,
                realm_id,
                customer_id,
                merge.surviving_id,
                survivor_token,
            )
            moved += 1
            data: QuickBooksCustomerLinked | QuickBooksSyncFailed = QuickBooksCustomerLinked(
                realm_id=realm_id,
                customer_id=customer_id,
                qb_customer_id=merge.surviving_id,
                sync_token=survivor_token,
                how="merged",
            )
        else:
            message = (
                f"QuickBooks merged customer {merge.merged_id} into {merge.surviving_id}, "
                "which is linked to another customer"
            )
            await conn.execute(
                """UPDATE push_mappings SET status = 'needs_link', last_error_code = 'merged',
                          last_error_message = $4, candidate_qb_customer_id = $5,
                          updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                tenant_id,
                realm_id,
                customer_id,
                message,
                merge.surviving_id,
            )
            data = QuickBooksSyncFailed(
                realm_id=realm_id,
                customer_id=customer_id,
                status="needs_link",
                error_code="merged",
                error_message=message,
                attempts=1,
                candidate_qb_customer_id=merge.surviving_id,
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
