"""Consumer handler: customer facts and billing transactions, a whole poll per transaction.

The kit's runner opens the transaction and commits Kafka offsets after it; this handler records
the inbox itself (set-based) and returns the facts that must be dead-lettered.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from billing_service.domain.facts import fact_from_event
from billing_service.store.customers import upsert_customers
from billing_service.store.flags import refresh_flags
from billing_service.store.ledger import write_facts
from platform_events.contracts import billing, customer
from platform_kit.inbox import Failure, InboundEvent, PermanentError, new_event_ids
from platform_kit.outbox import add_to_outbox

# Exact type sets: isinstance on pydantic models goes through ABC checks, slow in a hot loop.
CUSTOMER_FACTS: frozenset[type] = frozenset(
    {
        customer.CustomerCreated,
        customer.CustomerUpdated,
        customer.CustomerInactivated,
        customer.CustomerReactivated,
    }
)
TRANSACTIONS: frozenset[type] = frozenset(
    {
        billing.InvoiceIssued,
        billing.InvoiceVoided,
        billing.PaymentReceived,
        billing.PaymentReversed,
        billing.RefundIssued,
        billing.CreditApplied,
        billing.AdjustmentPosted,
    }
)


def today() -> datetime:
    return datetime.now(UTC)


class ApplyBillingEvents:
    async def apply_batch(
        self, conn: asyncpg.Connection, consumer: str, events: list[InboundEvent]
    ) -> list[Failure]:
        fresh = await _unseen(conn, consumer, events)
        others = [e for e in fresh if type(e.data) not in TRANSACTIONS]
        if others:  # customer facts (and event types billing ignores) are applied first
            await new_event_ids(conn, consumer, [e.envelope.id for e in others])
            changed = await upsert_customers(
                conn,
                (
                    (e.envelope.tenant_id, e.data.customer)  # type: ignore[attr-defined]
                    for e in others
                    if type(e.data) in CUSTOMER_FACTS
                ),
            )
            await add_to_outbox(conn, await refresh_flags(conn, sorted(changed), today().date()))
        by_id = {e.envelope.id: e for e in fresh}
        facts = [
            fact_from_event(
                e.data,
                event_id=e.envelope.id,
                tenant_id=e.envelope.tenant_id,
                occurred_at=e.envelope.time,
                correlation_id=e.envelope.correlation_id,
            )
            for e in fresh
            if type(e.data) in TRANSACTIONS
        ]
        if not facts:
            return []
        outcome = await write_facts(conn, consumer, facts, today=today().date())
        return [
            Failure(by_id[r.fact.event_id], PermanentError(r.reason), 1) for r in outcome.rejected
        ]


async def _unseen(
    conn: asyncpg.Connection, consumer: str, events: list[InboundEvent]
) -> list[InboundEvent]:
    """Drop events whose id is already in the inbox, and repeats of an id within the poll."""
    seen = {
        r["event_id"]
        for r in await conn.fetch(
            "SELECT event_id FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
            consumer,
            [e.envelope.id for e in events],
        )
    }
    fresh: list[InboundEvent] = []
    for event in events:
        if event.envelope.id not in seen:
            seen.add(event.envelope.id)
            fresh.append(event)
    return fresh
