"""Updates whose outcome is unknown. Before an update goes out its sparse body is stored with the
row (fenced by the lease token); an answer clears it (outcomes.py). If none ever comes (read
timeout, connection cut, qb-sync killed after QuickBooks committed), the next push finds it and
re-reads QuickBooks before deciding what to send (usecases/push_update.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from qb_sync.store.push.leases import update_if_still_ours
from qb_sync.store.push.rows import Mapping

Json = dict[str, Any]


async def mark_in_doubt(pool: asyncpg.Pool, row: Mapping, token: uuid.UUID, sent: Json) -> bool:
    """Record `sent` as in doubt (merged with any earlier body still in doubt); False when the
    lease is no longer ours."""
    return await update_if_still_ours(
        pool,
        row,
        token,
        "write_in_doubt = COALESCE(write_in_doubt, '{}'::jsonb) || $5::jsonb",
        json.dumps(sent),
    )


async def wake_in_doubt(conn: Any, tenant_id: str, realm_id: str, qb_ids: list[str]) -> None:
    """QuickBooks showed a newer version of these customers (CDC, webhook): rows that still have
    an update in doubt on them are due now, so the push re-reads and repairs them (a failed one
    too: its last update may have landed after all)."""
    if not qb_ids:
        return
    await conn.execute(
        """UPDATE push_mappings SET status = 'pending', due_at = now(), attempts = 0,
                  updated_at = now()
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = ANY($3::text[])
              AND write_in_doubt IS NOT NULL AND status IN ('pending', 'failed', 'synced')
              AND (lease_until IS NULL OR lease_until < now())""",
        tenant_id,
        realm_id,
        qb_ids,
    )
