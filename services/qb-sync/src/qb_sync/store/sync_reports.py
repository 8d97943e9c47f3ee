"""Sync outcomes for the customer service (`QuickBooksCustomerLinked` / `QuickBooksSyncFailed`),
written to the outbox in the caller's transaction, keyed by the platform customer."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from platform_events.contracts.quickbooks import QuickBooksSyncFailed
from platform_events.envelope import EventData, new_envelope
from platform_kit.outbox import add_to_outbox, outgoing

SOURCE = "qb-sync"


async def report(
    conn: asyncpg.Connection,
    tenant_id: str,
    customer_id: str,
    events: Sequence[EventData],
    sequence: int = 0,
    causation_id: str | None = None,
) -> None:
    if not events:
        return
    await add_to_outbox(
        conn,
        [
            outgoing(
                new_envelope(
                    data,
                    source=SOURCE,
                    subject=customer_id,
                    tenant_id=tenant_id,
                    sequence=sequence,
                    causation_id=causation_id,
                ),
                key=customer_id,
            )
            for data in events
        ],
    )


async def report_failed(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    customer_id: str,
    *,
    status: str,
    code: str,
    message: str,
    attempts: int = 1,
    candidate: str | None = None,
) -> None:
    await report(
        conn,
        tenant_id,
        customer_id,
        [
            QuickBooksSyncFailed(
                realm_id=realm_id,
                customer_id=customer_id,
                status=status,
                error_code=code,
                error_message=message,
                attempts=max(1, attempts),
                candidate_qb_customer_id=candidate,
            )
        ],
    )
