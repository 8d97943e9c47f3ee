"""Writing a push attempt's outcome onto its row. Each function runs in the transaction that
locked the row under its lease token (`leases.lock_if_still_ours`) and ends the lease."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from qb_sync.domain.fields import content_hash
from qb_sync.domain.outcomes import MAX_CUSTOMER_WAIT_SECONDS
from qb_sync.store.push.leases import end_lease_with
from qb_sync.store.push.rows import Mapping

Json = dict[str, Any]


def _json(value: Json | None) -> str | None:
    return json.dumps(value) if value is not None else None


async def mark_in_step(
    conn: asyncpg.Connection,
    row: Mapping,
    *,
    qb_id: str | None,
    sync_token: int | None,
    qb_content: Json | None,
    platform: Json | None,
    more: bool,
) -> None:
    """Linked (`qb_id` given: the create's frozen body and names are done with), updated or
    unchanged: synced, or pending again at once when there is `more` to send."""
    await end_lease_with(
        conn,
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        """qb_customer_id = COALESCE($4, qb_customer_id),
           sync_token = COALESCE($5, sync_token),
           status = CASE WHEN $9 THEN 'pending' ELSE 'synced' END,
           due_at = CASE WHEN $9 THEN now() END,
           pushed_content = COALESCE($6::jsonb, pushed_content),
           platform_content = $7::jsonb, pushed_hash = $8, attempts = 0,
           last_error_code = NULL, last_error_message = NULL, conflict = NULL,
           candidate_qb_customer_id = NULL, failure_reported = false,
           create_payload = CASE WHEN $10 THEN NULL ELSE create_payload END,
           create_names = CASE WHEN $10 THEN '{}' ELSE create_names END,
           write_in_doubt = NULL, auto_retries = 0""",
        qb_id,
        sync_token,
        _json(qb_content),
        _json(platform),
        content_hash(platform),
        more,
        qb_id is not None,
    )


async def mark_waiting(
    conn: asyncpg.Connection,
    row: Mapping,
    *,
    delay: float,
    code: str,
    message: str | None,
    doubling: bool,
) -> None:
    """Pending again after `delay`, attempts not counted. With `doubling`, a row that waited for
    the same code before waits twice as long as last time (up to MAX_CUSTOMER_WAIT_SECONDS)."""
    await end_lease_with(
        conn,
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        """due_at = now() + make_interval(secs =>
               CASE WHEN $7 AND last_error_code = $5 AND due_at > updated_at
                    THEN LEAST($8, GREATEST($4,
                         2 * EXTRACT(EPOCH FROM due_at - updated_at)::float8))
                    ELSE $4 END),
           last_error_code = $5, last_error_message = $6""",
        delay,
        code,
        message,
        doubling,
        MAX_CUSTOMER_WAIT_SECONDS,
    )


async def schedule_retry(
    conn: asyncpg.Connection, row: Mapping, *, delay: float, code: str | None, message: str | None
) -> None:
    """One more attempt counted; pending again after `delay`."""
    await end_lease_with(
        conn,
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        """attempts = attempts + 1, due_at = now() + make_interval(secs => $4),
           last_error_code = $5, last_error_message = $6""",
        delay,
        code,
        message,
    )


async def mark_stopped(
    conn: asyncpg.Connection,
    row: Mapping,
    *,
    status: str,
    code: str | None,
    message: str | None,
    candidate: str | None,
    conflict: Json | None,
    sync_token: int | None,
    qb_content: Json | None,
    unfreeze: bool,
    create_request_id: str,
    answered: bool,
) -> None:
    """failed, conflict or needs_link: not due again until a person or an event moves it.
    `unfreeze` drops the frozen create body (the next create goes out under
    `create_request_id`, a new one). `answered`: the outcome carries what QuickBooks holds now
    (`qb_content`), so no update is in doubt any more; a fault or timeouts keep it in doubt and
    the next push reads QuickBooks first."""
    await end_lease_with(
        conn,
        row.tenant_id,
        row.realm_id,
        row.customer_id,
        """status = $4, attempts = attempts + 1, due_at = NULL,
           last_error_code = $5, last_error_message = $6,
           candidate_qb_customer_id = $7, conflict = $8::jsonb,
           sync_token = COALESCE($9, sync_token),
           pushed_content = COALESCE($10::jsonb, pushed_content),
           failure_reported = true,
           create_payload = CASE WHEN $11 THEN NULL ELSE create_payload END,
           create_request_id = $12,
           write_in_doubt = CASE WHEN $13 THEN NULL ELSE write_in_doubt END""",
        status,
        code,
        message,
        candidate,
        _json(conflict),
        sync_token,
        _json(qb_content),
        unfreeze,
        create_request_id,
        answered,
    )
