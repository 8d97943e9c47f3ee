"""Consumer handler: customer facts and billing transactions, a whole poll per transaction.

The kit's runner opens the transaction and commits Kafka offsets after it; this handler records
the inbox itself (set-based) and returns the events that must be dead-lettered.

The outcome must not depend on how events are cut into polls, nor on the kit's slow path (one
event per call, in partition order, when a batch raised). So:
- every customer the poll touches is locked first, in one global order (store/locks.py);
- customer facts are applied before the poll's transactions, and a transaction is judged by the
  customer as of its own time (CustomerFacts.as_of), not by whatever the poll happened to hold;
- what cannot apply yet (customer unknown, corrected entry unknown) is parked and applied when
  the dependency arrives, never retried or dead-lettered (store/pending.py);
- an unexpected error in a batch rolls back to a savepoint and the batch is applied again here,
  customer facts first and then each transaction on its own, so one bad event fails alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from billing_service.domain.facts import Fact, fact_from_event
from billing_service.store.balance_sequences import numbered
from billing_service.store.customers import accounts_of, upsert_customers
from billing_service.store.flags import refresh_flags
from billing_service.store.ledger import write_facts
from billing_service.store.locks import lock_customers
from billing_service.store.pending import (
    Parked,
    dead_letter_through_outbox,
    handled_or_parked,
    park,
    take_waiting_for_customers,
    take_waiting_for_keys,
)
from billing_service.store.staged import apply_staged
from platform_events.contracts import billing, customer
from platform_events.topics import BILLING_TRANSACTIONS
from platform_kit.inbox import (
    CONFLICT,
    DUPLICATE,
    PARKED,
    Failure,
    InboundEvent,
    PermanentError,
    note_outcome,
    record_event_ids,
)
from platform_kit.outbox import add_to_outbox

log = logging.getLogger(__name__)

# Exact type sets: isinstance on pydantic models goes through ABC checks, slow in a hot loop.
CUSTOMER_FACTS: frozenset[type] = frozenset(
    {
        customer.CustomerCreated,
        customer.CustomerUpdated,
        customer.CustomerInactivated,
        customer.CustomerReactivated,
    }
)
# Every type the topic registry declares on billing.transactions.
TRANSACTIONS: frozenset[type] = frozenset(BILLING_TRANSACTIONS.event_types)

_CORRECTIONS: frozenset[type] = frozenset[type]((billing.InvoiceVoided, billing.PaymentReversed))

# Worth retrying the whole batch (the kit does): the database, not the event, is the problem.
RETRYABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


def today() -> datetime:
    return datetime.now(UTC)


class ApplyBillingEvents:
    """`staged`: take the poll's certainly applicable transactions through the set-based fast
    path (store/staged.py) first; False applies everything through write_facts alone, the
    reference the fast path is tested against."""

    def __init__(self, *, staged: bool = True) -> None:
        self.staged = staged

    async def apply_batch(
        self, conn: asyncpg.Connection, consumer: str, events: list[InboundEvent]
    ) -> list[Failure]:
        fresh = await _unseen(conn, consumer, events)
        if not fresh:
            return []
        try:
            async with conn.transaction():  # a savepoint inside the kit's transaction
                return await _Poll(conn, consumer, self.staged).apply(fresh)
        except RETRYABLE:
            raise
        except Exception:
            log.warning("billing batch failed; applying its events one by one", exc_info=True)
        return await _apply_isolated(conn, consumer, fresh, self.staged)


async def _apply_isolated(
    conn: asyncpg.Connection, consumer: str, events: list[InboundEvent], staged: bool
) -> list[Failure]:
    """Customer facts first (all together, else one by one), then each transaction alone."""
    facts = [e for e in events if type(e.data) not in TRANSACTIONS]
    groups = ([facts] if facts else []) + [[e] for e in events if type(e.data) in TRANSACTIONS]
    failures: list[Failure] = []
    for group in groups:
        try:
            async with conn.transaction():
                failures += await _Poll(conn, consumer, staged).apply(group)
            continue
        except RETRYABLE:
            raise
        except Exception as exc:
            if len(group) == 1:
                log.error("event %s failed: %r", group[0].envelope.id, exc)
                failures.append(Failure(group[0], exc, 1))
                continue
        for event in group:
            try:
                async with conn.transaction():
                    failures += await _Poll(conn, consumer, staged).apply([event])
            except RETRYABLE:
                raise
            except Exception as exc:
                log.error("event %s failed: %r", event.envelope.id, exc)
                failures.append(Failure(event, exc, 1))
    return failures


class _Poll:
    """Applies one set of events; drained transactions come along in the same transaction."""

    def __init__(self, conn: asyncpg.Connection, consumer: str, staged: bool = False) -> None:
        self.conn = conn
        self.consumer = consumer
        self.staged = staged
        self.today = today().date()
        self.failures: list[Failure] = []

    async def apply(self, events: list[InboundEvent]) -> list[Failure]:
        conn = self.conn
        await lock_customers(conn, (_customer_of(e) for e in events))
        others = [e for e in events if type(e.data) not in TRANSACTIONS]
        changed: list[tuple[str, str, str]] = []
        if others:  # customer facts (and event types billing ignores)
            await record_event_ids(conn, self.consumer, [e.envelope.id for e in others])
            changed = await upsert_customers(
                conn,
                (
                    (e.envelope.tenant_id, e.data.customer, e.envelope.time)  # type: ignore[attr-defined]
                    for e in others
                    if type(e.data) in CUSTOMER_FACTS
                ),
            )
        if changed:  # transactions that were waiting for these customers come first
            known = sorted({(t, c) for t, c, _ in changed})
            await self._write(await take_waiting_for_customers(conn, known))
        await self._write([Parked(e, -1) for e in events if type(e.data) in TRANSACTIONS])
        if changed:  # a new credit limit is a change to evaluate, like a new balance
            accounts = await accounts_of(conn, sorted({(t, c) for t, c, _ in changed}))
            # Each account's flags change because of its customer's latest fact in the batch.
            by_customer = {
                (e.envelope.tenant_id, e.data.customer.customer_id): (  # type: ignore[attr-defined]
                    e.envelope.correlation_id,
                    str(e.envelope.id),
                )
                for e in others
                if type(e.data) in CUSTOMER_FACTS
            }
            causes = {a: by_customer[a[:2]] for a in accounts if a[:2] in by_customer}
            flags = await refresh_flags(conn, accounts, self.today, causes)
            await add_to_outbox(conn, await numbered(conn, flags))
        return self.failures

    async def _write(self, items: Sequence[Parked]) -> None:
        """Write transactions in arrival order, where order decides which content is first.

        Plain facts first; then corrections parked earlier for an entry just written (they
        arrived before this batch's corrections, so they come first: the first content of a
        natural key wins); then this batch's own corrections. The fast path (newly consumed
        transactions only) takes what is certainly applicable first, plain facts before
        corrections, and leaves the rest, in order, to the same steps.
        """
        written: list[tuple[str, str]] = []
        if self.staged and items and all(p.seq < 0 for p in items):
            staged = await apply_staged(
                self.conn, self.consumer, [_fact(p) for p in items], today=self.today
            )
            items = [p for p in items if p.event.envelope.id in staged.left]
            written += staged.waited_for
        plain = [p for p in items if type(p.event.data) not in _CORRECTIONS]
        written += await self._write_some(plain)
        if written:
            await self._write_some(await take_waiting_for_keys(self.conn, written))
        await self._write_some([p for p in items if type(p.event.data) in _CORRECTIONS])

    async def _write_some(self, items: Sequence[Parked]) -> list[tuple[str, str]]:
        """Write; returns the (tenant, natural key) of the plain entries it wrote.

        `seq` >= 0 marks a transaction drained from the pending table."""
        if not items:
            return []
        by_id = {p.event.envelope.id: p for p in items}
        facts = [_fact(p) for p in items]
        outcome = await write_facts(self.conn, self.consumer, facts, today=self.today, locked=True)
        note_outcome((f.event_id for f in outcome.duplicates), DUPLICATE)
        note_outcome((f.event_id for f in outcome.conflicts), CONFLICT)
        note_outcome((w.fact.event_id for w in outcome.waiting), PARKED)
        if outcome.waiting:
            await park(
                self.conn,
                [
                    (by_id[w.fact.event_id].event, w.waits_for, _seq(by_id[w.fact.event_id]))
                    for w in outcome.waiting
                ],
            )
            log.info(
                "parked %d transactions until what they need arrives (first: %s waits for %s)",
                len(outcome.waiting),
                outcome.waiting[0].fact.idempotency_key,
                outcome.waiting[0].waits_for,
            )
        for r in outcome.rejected:
            item = by_id[r.fact.event_id]
            if _seq(item) is None:
                self.failures.append(Failure(item.event, PermanentError(r.reason), 1))
            else:  # drained: its offset is long committed, so the letter goes with this commit
                await dead_letter_through_outbox(self.conn, self.consumer, item.event, r.reason)
        return [(f.tenant_id, f.idempotency_key) for f in outcome.applied if not f.reverses_key]


async def apply_corrections_waiting_for(
    conn: asyncpg.Connection, consumer: str, keys: Sequence[tuple[str, str]]
) -> None:
    """Corrections parked for these (tenant, natural key) entries, which a writer other than
    the consumer (the record-payment API) has just put in the ledger, applied in its transaction
    as a poll applies them: in arrival order, a refused one dead-lettered through the outbox."""
    await _Poll(conn, consumer)._write_some(await take_waiting_for_keys(conn, keys))


def _fact(item: Parked) -> Fact:
    return fact_from_event(
        item.event.data,
        event_id=item.event.envelope.id,
        tenant_id=item.event.envelope.tenant_id,
        occurred_at=item.event.envelope.time,
        correlation_id=item.event.envelope.correlation_id,
    )


def _seq(item: Parked) -> int | None:
    return item.seq if item.seq >= 0 else None


def _customer_of(event: InboundEvent) -> tuple[str, str]:
    data: Any = event.data
    customer_id = data.customer.customer_id if type(data) in CUSTOMER_FACTS else None
    return (event.envelope.tenant_id, str(customer_id or getattr(data, "customer_id", "")))


async def _unseen(
    conn: asyncpg.Connection, consumer: str, events: list[InboundEvent]
) -> list[InboundEvent]:
    """Drop events already handled (in the inbox, or parked), and repeats of an id in the poll."""
    seen = await handled_or_parked(conn, consumer, [e.envelope.id for e in events])
    note_outcome(seen, DUPLICATE)
    fresh: list[InboundEvent] = []
    for event in events:
        if event.envelope.id not in seen:
            seen.add(event.envelope.id)
            fresh.append(event)
    return fresh
