"""QuickBooks customers the pull side has mirrored (`pull_known_customers`): their last name, for
the merged-away id's final mirror event, since QuickBooks no longer returns that customer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from qb_sync.store.mirror import publish_mirror
from qb_sync.store.pull_state import Merge


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
