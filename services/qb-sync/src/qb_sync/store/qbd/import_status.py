"""How far a Desktop company's import got, in the pull status shape QuickBooks Online companies
answer with (`GET /quickbooks/connections/{realm}/pull`): from its import jobs
(`qbd_requests`) and the customers read (`qbd_customers`)."""

from __future__ import annotations

import uuid

import asyncpg

from qb_sync.store.pull_state import PullState

_IMPORTS = "('customer_import', 'customer_changes')"


async def desktop_pull_state(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, connection_id: uuid.UUID
) -> PullState | None:
    row = await conn.fetchrow(
        f"""SELECT
              (SELECT min(created_at) FROM qbd_requests r WHERE r.connection_id = c.connection_id
                  AND r.kind IN {_IMPORTS} AND r.status IN ('queued', 'sent', 'uncertain'))
                  AS requested,
              (SELECT min(updated_at) FROM qbd_requests r WHERE r.connection_id = c.connection_id
                  AND r.kind IN {_IMPORTS} AND r.status = 'sent') AS started,
              (SELECT count(*) FROM qbd_customers q WHERE q.connection_id = c.connection_id
                  AND q.deleted_at IS NULL) AS seen,
              (SELECT max(updated_at) FROM qbd_requests r WHERE r.connection_id = c.connection_id
                  AND r.kind IN {_IMPORTS} AND r.status = 'done') AS finished,
              (SELECT max(time_modified::timestamptz) FROM qbd_customers q
                WHERE q.connection_id = c.connection_id) AS watermark,
              (SELECT CASE WHEN r.status = 'done' THEN NULL ELSE r.last_status END
                 FROM qbd_requests r WHERE r.connection_id = c.connection_id
                  AND r.kind IN {_IMPORTS}
                ORDER BY r.request_id DESC LIMIT 1) AS last_error
           FROM qbd_connections c WHERE c.tenant_id = $1 AND c.connection_id = $2""",
        tenant_id,
        connection_id,
    )
    if row is None:
        return None
    return PullState(
        tenant_id=tenant_id,
        realm_id=str(connection_id),
        import_requested_at=row["requested"],
        import_started_at=row["started"],
        import_after_id=0,
        import_seen=row["seen"],
        import_finished_at=row["finished"],
        cdc_watermark=row["watermark"],
        cdc_due_at=None,  # the Web Connector's schedule decides, not qb-sync
        cdc_last_run_at=row["finished"],
        last_error=row["last_error"],  # the latest import's, unless it is done
    )
