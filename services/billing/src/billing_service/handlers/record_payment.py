"""Record a payment from billing's API through the very path a PaymentReceived event takes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from billing_service.domain.facts import fact_from_event
from billing_service.handlers.apply_billing_events import apply_corrections_waiting_for
from billing_service.store.ledger import SOURCE, write_facts
from platform_events import new_envelope
from platform_events.contracts.billing import PaymentReceived
from platform_kit.logs import correlation_id_var
from platform_kit.outbox import add_to_outbox, outgoing

# A unique-key race is only lost to a writer that has committed, so a second try sees its entry.
_ATTEMPTS = 3
BALANCE_OUT_OF_RANGE = "the account's balance would pass the largest amount it can hold"


@dataclass(frozen=True)
class PaymentResult:
    status: str  # recorded | duplicate | conflict | rejected | unknown_customer
    entry_id: uuid.UUID | None
    event_id: uuid.UUID
    reason: str | None = None


async def record_payment(
    pool: asyncpg.Pool,
    *,
    consumer: str,
    transactions_topic: str,
    tenant_id: str,
    payment: PaymentReceived,
) -> PaymentResult:
    """Same idempotency rules as the event: the payment id is the natural key.

    The recorded fact is also published on the transactions topic (through the outbox); its
    event id is already in this consumer's inbox, so billing skips its own echo. write_facts
    takes the customer's lock first, so two concurrent requests with one payment id (a client
    retrying after a timeout) run one after the other: the second sees the first's entry. The
    payment id is unique per tenant, not per customer: a request that loses the unique-key race
    to a writer of the same id for another customer tries again and gets the conflict answer.
    """
    envelope = new_envelope(
        payment,
        source=SOURCE,
        subject=payment.customer_id,
        tenant_id=tenant_id,
        sequence=0,
        correlation_id=correlation_id_var.get(),
    )
    fact = fact_from_event(
        payment,
        event_id=envelope.id,
        tenant_id=tenant_id,
        occurred_at=envelope.time,
        correlation_id=envelope.correlation_id,
    )
    async with pool.acquire() as conn:
        for attempt in range(_ATTEMPTS):
            tx = conn.transaction()
            await tx.start()
            try:
                outcome = await write_facts(conn, consumer, [fact], today=datetime.now(UTC).date())
                if outcome.rejected:
                    await tx.rollback()  # the caller gets the reason now; nothing to dead-letter
                    return PaymentResult("rejected", None, envelope.id, outcome.rejected[0].reason)
                if outcome.waiting:  # the API checked the customer; never park a caller's payment
                    await tx.rollback()
                    return PaymentResult("unknown_customer", None, envelope.id)
                if outcome.applied:
                    await add_to_outbox(conn, [outgoing(envelope, topic=transactions_topic)])
                    # A reversal that came before this payment waits for it: its echo on the
                    # topic is skipped (already in the inbox), so no poll would ever drain it.
                    await apply_corrections_waiting_for(
                        conn, consumer, [(tenant_id, fact.idempotency_key)]
                    )
            except asyncpg.NumericValueOutOfRangeError:
                # A balance or total would pass what a bigint holds (about 9.2e18 minor units).
                await tx.rollback()
                return PaymentResult("rejected", None, envelope.id, BALANCE_OUT_OF_RANGE)
            except asyncpg.UniqueViolationError:
                # The payment id is unique per tenant, the lock is per customer: a writer of the
                # same id for another customer committed first. Try again to see its entry (a
                # conflict, or a duplicate) as any later request would.
                await tx.rollback()
                if attempt + 1 == _ATTEMPTS:
                    raise
                continue
            except BaseException:
                await tx.rollback()
                raise
            await tx.commit()
            break
    if outcome.applied:
        return PaymentResult("recorded", fact.entry_id, envelope.id)
    existing = outcome.existing_entry.get(fact.idempotency_key)
    if outcome.duplicates:
        return PaymentResult("duplicate", existing, envelope.id)
    return PaymentResult("conflict", existing, envelope.id)
