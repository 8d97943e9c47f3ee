"""Companies QuickBooks throttled, kept in PostgreSQL (`qbo_realm_pauses`).

After a 429 the gateway pauses the whole company in memory (qbo/limits.py) and records the pause
here: the sync status API shows it (until when, why) for the company and each of its rows, and a
restarted qb-sync honours it instead of earning another 429 and another pause right away."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RealmPause:
    realm_id: str
    paused_until: datetime
    reason: str
    paused_at: datetime


class RealmPauses:
    """What the gateway is given to remember pauses (qbo/gateway.py's `PauseRecord`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def paused(self, realm_id: str, seconds: float, reason: str) -> None:
        await self.pool.execute(
            """INSERT INTO qbo_realm_pauses (realm_id, paused_until, reason, paused_at)
               VALUES ($1, now() + make_interval(secs => $2), $3, now())
               ON CONFLICT (realm_id) DO UPDATE
                  SET paused_until = GREATEST(qbo_realm_pauses.paused_until,
                                              EXCLUDED.paused_until),
                      reason = EXCLUDED.reason, paused_at = EXCLUDED.paused_at""",
            realm_id,
            seconds,
            reason,
        )

    async def remaining(self, realm_id: str) -> float:
        """Seconds the company is still paused for (0 when it is not)."""
        left = await self.pool.fetchval(
            """SELECT EXTRACT(EPOCH FROM paused_until - now())::float8 FROM qbo_realm_pauses
                WHERE realm_id = $1""",
            realm_id,
        )
        return max(0.0, float(left or 0.0))


async def current_pauses(
    conn: Any, tenant_id: str, realm_ids: list[str] | None
) -> list[RealmPause]:
    """Pauses still running on the tenant's connected companies (all, or those in `realm_ids`)."""
    rows = await conn.fetch(
        """SELECT p.* FROM qbo_realm_pauses p
            WHERE p.paused_until > now()
              AND ($2::text[] IS NULL OR p.realm_id = ANY($2::text[]))
              AND EXISTS (SELECT 1 FROM qb_connections c
                           WHERE c.tenant_id = $1 AND c.realm_id = p.realm_id)
            ORDER BY p.realm_id""",
        tenant_id,
        realm_ids,
    )
    return [RealmPause(r["realm_id"], r["paused_until"], r["reason"], r["paused_at"]) for r in rows]
