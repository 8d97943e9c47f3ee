"""What a merge changes besides the survivor's mirror: the merged-away id's final mirror event
(built from `pull_known_customers`, since QuickBooks no longer returns that customer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from platform_events.contracts.quickbooks import QuickBooksCustomerMirrored
from platform_events.envelope import new_envelope
from platform_kit.outbox import add_to_outbox, outgoing
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
    """Mirror the merged-away id one last time: inactive, pointing at its survivor, with the next
    SyncToken so every consumer that skips stale versions applies it. False when already done."""
    last = await conn.fetchrow(
        """SELECT sync_token, display_name FROM pull_known_customers
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3 FOR UPDATE""",
        tenant_id,
        realm_id,
        merge.merged_id,
    )
    token = (last["sync_token"] if last else 0) + 1
    data = QuickBooksCustomerMirrored(
        realm_id=realm_id,
        qb_customer_id=merge.merged_id,
        sync_token=token,
        display_name=last["display_name"] if last else "",
        active=False,
        merged_into_qb_customer_id=merge.surviving_id,
    )
    key = f"{realm_id}:{merge.merged_id}"
    await add_to_outbox(
        conn,
        [
            outgoing(
                new_envelope(data, source=SOURCE, subject=key, tenant_id=tenant_id, sequence=token),
                key=key,
            )
        ],
    )
    await conn.execute(
        """INSERT INTO pull_known_customers (tenant_id, realm_id, qb_customer_id, sync_token,
                                             display_name)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, realm_id, qb_customer_id) DO UPDATE
              SET sync_token = EXCLUDED.sync_token""",
        tenant_id,
        realm_id,
        merge.merged_id,
        token,
        data.display_name,
    )
    return True


async def remap_after_merge(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, merge: Merge, survivor_token: int
) -> int:
    """Move qb-sync's own mapping rows from the merged-away id to the survivor.

    Pending engineer A's mapping table (push/): until it exists there is nothing of qb-sync's to
    move. The customer service moves its own link when it reads the merged-away mirror event."""
    return 0
