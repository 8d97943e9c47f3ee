"""Pull bookkeeping per realm (`pull_state`, `qb_merges`): what is due, cursors, watermarks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

import asyncpg

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class PullState:
    tenant_id: str
    realm_id: str
    import_requested_at: datetime | None
    import_started_at: datetime | None
    import_after_id: int
    import_seen: int
    import_finished_at: datetime | None
    cdc_watermark: datetime | None
    cdc_due_at: datetime | None
    cdc_last_run_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Merge:
    merged_id: str
    surviving_id: str | None  # None: seen in CDC (or a 610), the survivor is not known


async def request_import(conn: Db, tenant_id: str, realm_id: str) -> None:
    """Ask for a full import (connect, "refresh", CDC gap too old). Idempotent: asking again while
    one is pending or running makes it run once more after the current pass."""
    await _stamp_now(conn, tenant_id, realm_id, "import_requested_at")


async def request_cdc(conn: Db, tenant_id: str, realm_id: str) -> None:
    """Run CDC for this realm as soon as possible (a webhook said something changed)."""
    await _stamp_now(conn, tenant_id, realm_id, "cdc_due_at")


async def _stamp_now(
    conn: Db, tenant_id: str, realm_id: str, column: Literal["import_requested_at", "cdc_due_at"]
) -> None:
    """The realm's `column` set to now (its pull_state row made on the first request)."""
    await conn.execute(
        f"""INSERT INTO pull_state (tenant_id, realm_id, {column})
           VALUES ($1, $2, clock_timestamp())
           ON CONFLICT (tenant_id, realm_id) DO UPDATE
              SET {column} = clock_timestamp(), updated_at = now()""",
        tenant_id,
        realm_id,
    )


async def record_merge(
    conn: Db, tenant_id: str, realm_id: str, merged_id: str, surviving_id: str | None
) -> bool:
    """Record that `merged_id` was merged away, into `surviving_id` when known (webhooks name
    it; a CDC stub or a 610 does not). Learning the survivor later applies the merge again."""
    done = await conn.fetchval(
        """INSERT INTO qb_merges (tenant_id, realm_id, merged_id, surviving_id)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, realm_id, merged_id) DO UPDATE
              SET surviving_id = EXCLUDED.surviving_id, applied_at = NULL, received_at = now()
            WHERE qb_merges.surviving_id IS NULL AND EXCLUDED.surviving_id IS NOT NULL
           RETURNING true""",
        tenant_id,
        realm_id,
        merged_id,
        surviving_id,
    )
    return bool(done)


async def pending_merges(conn: Db, tenant_id: str, realm_id: str) -> list[Merge]:
    rows = await conn.fetch(
        """SELECT merged_id, surviving_id FROM qb_merges
            WHERE tenant_id = $1 AND realm_id = $2 AND applied_at IS NULL ORDER BY received_at""",
        tenant_id,
        realm_id,
    )
    return [Merge(r["merged_id"], r["surviving_id"]) for r in rows]


async def mark_merge_applied(conn: Db, tenant_id: str, realm_id: str, merged_id: str) -> None:
    await conn.execute(
        """UPDATE qb_merges SET applied_at = now()
            WHERE tenant_id = $1 AND realm_id = $2 AND merged_id = $3""",
        tenant_id,
        realm_id,
        merged_id,
    )


async def get_state(conn: Db, tenant_id: str, realm_id: str) -> PullState | None:
    row = await conn.fetchrow(
        """SELECT tenant_id, realm_id, import_requested_at, import_started_at, import_after_id,
                  import_seen, import_finished_at, cdc_watermark, cdc_due_at, cdc_last_run_at,
                  last_error
             FROM pull_state WHERE tenant_id = $1 AND realm_id = $2""",
        tenant_id,
        realm_id,
    )
    return PullState(**dict(row)) if row else None


async def due_realms(conn: Db, tenant_prefix: str = "") -> list[tuple[str, str]]:
    """Connected realms with work: an import asked for, CDC due, or a merge to apply."""
    rows = await conn.fetch(
        """SELECT p.tenant_id, p.realm_id FROM pull_state p
             JOIN qb_connections c USING (tenant_id, realm_id)
            WHERE c.status = 'connected' AND starts_with(p.tenant_id, $1)
              -- after a failure, wait a little before the next try
              AND (p.last_error IS NULL OR p.updated_at < clock_timestamp() - interval '5 seconds')
              AND (p.import_requested_at IS NOT NULL
                   OR p.cdc_due_at <= clock_timestamp()
                   OR EXISTS (SELECT 1 FROM qb_merges m
                               WHERE m.tenant_id = p.tenant_id AND m.realm_id = p.realm_id
                                 AND m.applied_at IS NULL))
            ORDER BY p.updated_at""",
        tenant_prefix,
    )
    return [(r["tenant_id"], r["realm_id"]) for r in rows]


async def known_survivor(conn: Db, tenant_id: str, realm_id: str, merged_id: str) -> str | None:
    """The customer `merged_id` went into, when a merge naming it waits to be applied."""
    survivor: str | None = await conn.fetchval(
        """SELECT surviving_id FROM qb_merges
            WHERE tenant_id = $1 AND realm_id = $2 AND merged_id = $3
              AND surviving_id IS NOT NULL AND applied_at IS NULL""",
        tenant_id,
        realm_id,
        merged_id,
    )
    return survivor


async def begin_import(pool: asyncpg.Pool, tenant_id: str, realm_id: str) -> bool:
    """Start the requested import, or resume the one a crash interrupted (its cursor kept).
    False when no import is requested."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """SELECT import_requested_at, import_started_at FROM pull_state
                WHERE tenant_id = $1 AND realm_id = $2 FOR UPDATE""",
            tenant_id,
            realm_id,
        )
        if row is None or row["import_requested_at"] is None:
            return False
        started = row["import_started_at"]
        if started is None or started < row["import_requested_at"]:
            # A new pass (not the resumption of one a crash interrupted).
            await _update_state(
                conn,
                tenant_id,
                realm_id,
                """import_started_at = clock_timestamp(),
                    import_after_id = 0, import_seen = 0, last_error = NULL""",
            )
    return True


async def record_import_page(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, after_id: int, seen: int
) -> None:
    """The import's cursor, moved in the transaction that mirrored the page."""
    await _update_state(
        conn,
        tenant_id,
        realm_id,
        """import_after_id = $3,
            import_seen = import_seen + $4""",
        after_id,
        seen,
    )


async def finish_import(
    conn: Db, tenant_id: str, realm_id: str, cdc_interval_seconds: float
) -> None:
    """The import is done: CDC carries on from the time it started (whatever changed during it
    is read again). An import asked for meanwhile stays requested."""
    await _update_state(
        conn,
        tenant_id,
        realm_id,
        """import_requested_at = CASE WHEN import_requested_at <= import_started_at
                 THEN NULL ELSE import_requested_at END,
            import_finished_at = clock_timestamp(),
            cdc_watermark = GREATEST(cdc_watermark, import_started_at),
            cdc_due_at = COALESCE(cdc_due_at, clock_timestamp() + make_interval(secs => $3))""",
        cdc_interval_seconds,
    )


async def record_cdc_run(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    run_started: datetime,
    cdc_interval_seconds: float,
) -> None:
    """A CDC pass committed: the watermark moves to when it started; the next one is due after
    the interval unless a webhook made one due sooner."""
    await _update_state(
        conn,
        tenant_id,
        realm_id,
        """cdc_watermark = GREATEST(cdc_watermark, $3),
            cdc_last_run_at = $3, last_error = NULL,
            cdc_due_at = CASE WHEN cdc_due_at IS NULL OR cdc_due_at <= $3
                 THEN $3 + make_interval(secs => $4)
                 ELSE cdc_due_at END""",
        run_started,
        cdc_interval_seconds,
    )


async def record_failure(
    conn: Db, tenant_id: str, realm_id: str, message: str, retry_after_seconds: float
) -> None:
    """A pass failed: remember why; CDC is tried again after a pause (an import stays due)."""
    await _update_state(
        conn,
        tenant_id,
        realm_id,
        """last_error = $3,
            cdc_due_at = CASE WHEN import_requested_at IS NULL
                 THEN clock_timestamp() + make_interval(secs => $4)
                 ELSE cdc_due_at END""",
        message,
        retry_after_seconds,
    )


async def _update_state(
    conn: Db, tenant_id: str, realm_id: str, assignments: str, *values: object
) -> None:
    """`UPDATE pull_state SET <assignments>` on the realm's row (`values` bind from $3 on)."""
    await conn.execute(
        f"""UPDATE pull_state SET {assignments}, updated_at = now()
            WHERE tenant_id = $1 AND realm_id = $2""",
        tenant_id,
        realm_id,
        *values,
    )


@asynccontextmanager
async def pass_lock(pool: asyncpg.Pool, tenant_id: str, realm_id: str) -> AsyncIterator[bool]:
    """A session advisory lock on one pooled connection for one pass over the realm: yields
    whether it was taken (False: another instance runs this realm now). A killed process's lock
    ends with its connection."""
    async with pool.acquire() as conn:
        key = f"qb-pull:{tenant_id}:{realm_id}"
        locked = bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key))
        try:
            yield locked
        finally:
            if locked:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)
