"""The one write path into the ledger, for consumed events and for billing's own API alike.

Set-based: a whole batch of facts costs a fixed number of statements (unnest inserts, one balance
upsert per account), all inside the caller's transaction together with the inbox and outbox rows.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from billing_service.domain.entries import Totals
from billing_service.domain.facts import Fact
from billing_service.domain.rules import (
    Original,
    correction_reason,
    judged_by,
    rejection_reason,
    signed_allocations,
    signed_amount,
)
from billing_service.store.balance_sequences import numbered
from billing_service.store.balances import add_and_announce
from billing_service.store.customers import AccountKey, load_customers
from billing_service.store.flags import refresh_flags
from billing_service.store.locks import lock_customers
from billing_service.store.metrics import CONFLICTS_PARKED, TRANSACTIONS_REJECTED
from platform_events import new_envelope
from platform_events.contracts.billing import BillingTransactionRejected
from platform_kit.inbox import record_event_ids
from platform_kit.outbox import OutgoingEvent, add_to_outbox, outgoing

SOURCE = "billing"

LEDGER_COLUMNS = (
    "entry_id",
    "tenant_id",
    "customer_id",
    "currency",
    "entry_type",
    "amount_minor",
    "reference_id",
    "idempotency_key",
    "content_hash",
    "reverses_entry_id",
    "order_id",
    "due_date",
    "method",
    "reason",
    "note",
    "source_event_id",
    "effective_at",
)
ALLOCATION_COLUMNS = (
    "entry_id",
    "tenant_id",
    "customer_id",
    "currency",
    "order_id",
    "entry_type",
    "amount_minor",
)
log = logging.getLogger(__name__)

# What a fact waits for when its customer is not known yet (else: the natural key it corrects).
WAITS_FOR_CUSTOMER = "customer"


@dataclass(frozen=True)
class Rejected:
    fact: Fact
    reason: str


@dataclass(frozen=True)
class Waiting:
    """Not applicable yet: `waits_for` is WAITS_FOR_CUSTOMER or the natural key it corrects."""

    fact: Fact
    waits_for: str


@dataclass
class WriteOutcome:
    applied: list[Fact] = field(default_factory=list)
    duplicates: list[Fact] = field(default_factory=list)
    conflicts: list[Fact] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    existing_entry: dict[str, uuid.UUID] = field(default_factory=dict)  # natural key -> entry


@dataclass(slots=True)  # not frozen: one per fact, and a frozen __init__ costs 2x (the profile)
class _Stored:
    entry_id: uuid.UUID
    content_hash: str
    customer_id: str
    currency: str
    amount_minor: int
    order_id: str | None


async def write_facts(
    conn: asyncpg.Connection,
    consumer: str,
    facts: list[Fact],
    *,
    today: date,
    locked: bool = False,
) -> WriteOutcome:
    """Apply new facts once each. The caller has already dropped event ids seen in the inbox.

    `locked`: the caller already holds the customer locks of these facts (store/locks.py).
    Facts that cannot apply yet are returned as `waiting`; parking them is the caller's job.
    """
    outcome = WriteOutcome()
    if not facts:
        return outcome
    if not locked:
        await lock_customers(conn, ((f.tenant_id, f.customer_id) for f in facts))
    customers = await load_customers(conn, ((f.tenant_id, f.customer_id) for f in facts))
    stored = await _load_by_key(conn, facts)
    refused_before = await _refused_before(conn, facts)
    originals_needed: list[_Stored] = []

    batch: dict[tuple[str, str], _Stored] = {}  # (tenant, natural key) -> applied in this batch
    originals: dict[uuid.UUID, Original | None] = {}
    # Corrections after the facts they may correct: a void may precede its invoice in a batch.
    ordered = [f for f in facts if f.reverses_key is None]
    ordered += [f for f in facts if f.reverses_key is not None]
    for fact in ordered:
        key = (fact.tenant_id, fact.idempotency_key)
        prior = stored.get(key) or batch.get(key)
        if prior is not None:
            if prior.content_hash == fact.content_hash:
                outcome.duplicates.append(fact)
            else:
                outcome.conflicts.append(fact)
            outcome.existing_entry[fact.idempotency_key] = prior.entry_id
            continue
        customer = customers.get((fact.tenant_id, fact.customer_id))
        if customer is None:
            outcome.waiting.append(Waiting(fact, WAITS_FOR_CUSTOMER))
            continue
        judge = judged_by(fact, customer, refused_before=fact.event_id in refused_before)
        reason = rejection_reason(fact, judge)
        original: Original | None = None
        if reason is None and fact.reverses_key is not None:
            rkey = (fact.tenant_id, fact.reverses_key)
            base = stored.get(rkey) or batch.get(rkey)
            if base is None:
                outcome.waiting.append(Waiting(fact, fact.reverses_key))
                continue
            if rkey in stored:
                originals_needed.append(base)
            original = Original(
                entry_id=base.entry_id,
                customer_id=base.customer_id,
                currency=base.currency,
                amount_minor=base.amount_minor,
                order_id=base.order_id,
                allocations=(),
            )
            reason = correction_reason(fact, original)
        if reason is not None:
            outcome.rejected.append(Rejected(fact, reason))
            continue
        currency = original.currency if original else fact.currency
        assert currency is not None
        batch[key] = _Stored(
            entry_id=fact.entry_id,
            content_hash=fact.content_hash,
            customer_id=fact.customer_id,
            currency=currency,
            amount_minor=signed_amount(fact, original),
            order_id=fact.order_id,
        )
        originals[fact.event_id] = original
        outcome.applied.append(fact)

    corrections = [fid for fid, original in originals.items() if original is not None]
    if corrections:  # a correction mirrors the order allocations of what it corrects
        allocations_of = await _load_allocations(conn, [s.entry_id for s in originals_needed])
        allocations_of.update(_batch_allocations(outcome.applied, originals))
        for fact_id in corrections:
            original = originals[fact_id]
            assert original is not None
            originals[fact_id] = _with_allocations(original, allocations_of)

    events = await _insert_entries(conn, outcome.applied, originals, customers, today)
    await _park_conflicts(conn, outcome.conflicts, outcome.existing_entry, stored, batch)
    events += await _record_rejections(conn, outcome.rejected)
    await _resolve_rejections(conn, outcome.applied)
    handled = outcome.applied + outcome.duplicates + outcome.conflicts
    if handled:
        await record_event_ids(conn, consumer, [f.event_id for f in handled])
    await add_to_outbox(conn, await numbered(conn, events))
    return outcome


def _with_allocations(
    original: Original, allocations: dict[uuid.UUID, tuple[tuple[str, int], ...]]
) -> Original:
    assert isinstance(original.entry_id, uuid.UUID)
    return Original(
        entry_id=original.entry_id,
        customer_id=original.customer_id,
        currency=original.currency,
        amount_minor=original.amount_minor,
        order_id=original.order_id,
        allocations=allocations.get(original.entry_id, ()),
    )


def _batch_allocations(
    applied: list[Fact], originals: dict[uuid.UUID, Original | None]
) -> dict[uuid.UUID, tuple[tuple[str, int], ...]]:
    return {
        f.entry_id: signed_allocations(f, None)
        for f in applied
        if originals.get(f.event_id) is None
    }


async def _load_by_key(
    conn: asyncpg.Connection, facts: list[Fact]
) -> dict[tuple[str, str], _Stored]:
    keys = {(f.tenant_id, f.idempotency_key) for f in facts}
    keys |= {(f.tenant_id, f.reverses_key) for f in facts if f.reverses_key}
    ordered = sorted(keys)
    rows = await conn.fetch(
        """SELECT e.tenant_id, e.idempotency_key, e.entry_id, e.content_hash, e.customer_id,
                  e.currency, e.amount_minor, e.order_id
           FROM ledger_entries e
           JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, idempotency_key)
             USING (tenant_id, idempotency_key)""",
        [k[0] for k in ordered],
        [k[1] for k in ordered],
    )
    return {
        (r["tenant_id"], r["idempotency_key"]): _Stored(
            r["entry_id"],
            r["content_hash"],
            r["customer_id"],
            r["currency"],
            r["amount_minor"],
            r["order_id"],
        )
        for r in rows
    }


async def _refused_before(conn: asyncpg.Connection, facts: list[Fact]) -> set[uuid.UUID]:
    rows = await conn.fetch(
        # A join on the ids, not `= ANY`: see store/pending.py handled_or_parked.
        """SELECT r.event_id FROM unnest($1::uuid[]) AS u(id)
           JOIN rejections r ON r.event_id = u.id""",
        [f.event_id for f in facts],
    )
    return {r["event_id"] for r in rows}


async def _load_allocations(
    conn: asyncpg.Connection, entry_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[tuple[str, int], ...]]:
    if not entry_ids:
        return {}
    rows = await conn.fetch(
        """SELECT a.entry_id, a.order_id, a.amount_minor FROM unnest($1::uuid[]) AS u(id)
           JOIN order_allocations a ON a.entry_id = u.id""",
        entry_ids,
    )
    found: dict[uuid.UUID, list[tuple[str, int]]] = defaultdict(list)
    for r in rows:
        found[r["entry_id"]].append((r["order_id"], r["amount_minor"]))
    return {k: tuple(v) for k, v in found.items()}


async def _insert_entries(
    conn: asyncpg.Connection,
    facts: list[Fact],
    originals: dict[uuid.UUID, Original | None],
    customers: dict,  # type: ignore[type-arg]
    today: date,
) -> list[OutgoingEvent]:
    if not facts:
        return []
    entries: list[tuple[object, ...]] = []
    allocations: list[tuple[object, ...]] = []
    deltas: dict[AccountKey, Totals] = defaultdict(Totals)
    last_entry: dict[AccountKey, uuid.UUID] = {}
    last_event: dict[AccountKey, uuid.UUID] = {}  # the cause of each account's balance-changed
    for fact in facts:
        original = originals.get(fact.event_id)
        currency = original.currency if original else fact.currency
        assert currency is not None
        amount = signed_amount(fact, original)
        account = (fact.tenant_id, fact.customer_id, currency)
        deltas[account] = deltas[account].add(fact.entry_type, amount)
        last_entry[account] = fact.entry_id
        last_event[account] = fact.event_id
        entry_type = fact.entry_type
        entries.append(
            (
                fact.entry_id,
                fact.tenant_id,
                fact.customer_id,
                currency,
                entry_type,
                amount,
                fact.reference_id,
                fact.idempotency_key,
                fact.content_hash,
                original.entry_id if original else None,
                fact.order_id or (original.order_id if original else None),
                fact.due_date,
                fact.method,
                fact.reason,
                fact.note,
                fact.event_id,
                fact.occurred_at,
            )
        )
        for order_id, order_amount in signed_allocations(fact, original):
            allocations.append(
                (
                    fact.entry_id,
                    fact.tenant_id,
                    fact.customer_id,
                    currency,
                    order_id,
                    entry_type,
                    order_amount,
                )
            )
    # COPY rather than INSERT ... unnest: a fraction of the client's encoding work and of the
    # server's (bench/billing_ingest.py). Duplicates never get here: write_facts dropped them.
    await conn.copy_records_to_table("ledger_entries", records=entries, columns=LEDGER_COLUMNS)
    if allocations:
        await conn.copy_records_to_table(
            "order_allocations", records=allocations, columns=ALLOCATION_COLUMNS
        )
    correlation = {(f.tenant_id, f.customer_id): f.correlation_id for f in facts}
    causes = {
        account: (correlation.get(account[:2]), str(last_event[account])) for account in deltas
    }
    await add_and_announce(conn, deltas, last_entry, causes)
    events = await refresh_flags(conn, sorted(deltas), today, causes)
    return events


async def _park_conflicts(
    conn: asyncpg.Connection,
    conflicts: list[Fact],
    existing_entry: dict[str, uuid.UUID],
    stored: dict[tuple[str, str], _Stored],
    batch: dict[tuple[str, str], _Stored],
) -> None:
    """Same natural key, other content: parked for a person to decide, never applied.

    The prior fact is either in the ledger already or applied earlier in this batch; only its
    entry id and content hash are needed (a void carries no amount or currency of its own)."""
    if not conflicts:
        return
    rows = []
    for f in conflicts:
        key = (f.tenant_id, f.idempotency_key)
        prior = stored.get(key) or batch[key]
        rows.append(
            (
                f.event_id,
                f.tenant_id,
                f.customer_id,
                f.idempotency_key,
                prior.entry_id,
                prior.content_hash,
                f.content_hash,
                f.event_type,
            )
        )
    parked = {
        r["event_id"]
        for r in await conn.fetch(
            """INSERT INTO conflicts (event_id, tenant_id, customer_id, idempotency_key,
                   existing_entry_id, existing_hash, incoming_hash, event_type)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[],
                   $6::text[], $7::text[], $8::text[])
               ON CONFLICT DO NOTHING RETURNING event_id""",
            *(list(col) for col in zip(*rows, strict=True)),
        )
    }
    for f in conflicts:
        CONFLICTS_PARKED.labels(f.event_type).inc()
        if f.event_id in parked:
            log.warning(
                "conflict parked: tenant=%s customer=%s key=%s event=%s existing_entry=%s "
                "(same natural key, different content; not applied, see GET /v1/conflicts)",
                f.tenant_id,
                f.customer_id,
                f.idempotency_key,
                f.event_id,
                existing_entry.get(f.idempotency_key),
            )


async def _resolve_rejections(conn: asyncpg.Connection, applied: list[Fact]) -> None:
    """A refused fact whose natural key is now in the ledger (replayed after a fix) is resolved."""
    if not applied:
        return
    # Rarely any is open: one look at the partial index spares encoding and joining three arrays
    # of the whole batch every poll.
    if not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM rejections WHERE resolved_at IS NULL)"
    ):
        return
    await conn.execute(
        """UPDATE rejections r SET resolved_at = now(), resolved_by_entry_id = a.entry_id
           FROM unnest($1::text[], $2::text[], $3::uuid[]) AS a(tenant_id, idempotency_key, entry_id)
           WHERE r.resolved_at IS NULL AND r.tenant_id = a.tenant_id
             AND r.idempotency_key = a.idempotency_key""",
        [f.tenant_id for f in applied],
        [f.idempotency_key for f in applied],
        [f.entry_id for f in applied],
    )


async def _record_rejections(
    conn: asyncpg.Connection, rejected: list[Rejected]
) -> list[OutgoingEvent]:
    """Note each refusal once and tell the platform (BillingTransactionRejected).

    The inbox is not written for a rejected event, so replaying it after a fix applies it.
    """
    if not rejected:
        return []
    for r in rejected:
        TRANSACTIONS_REJECTED.labels(r.fact.event_type).inc()
    new_ids = {
        r["event_id"]
        for r in await conn.fetch(
            """INSERT INTO rejections (event_id, tenant_id, customer_id, event_type, reason,
                   idempotency_key)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                   $6::text[])
               ON CONFLICT DO NOTHING RETURNING event_id""",
            [r.fact.event_id for r in rejected],
            [r.fact.tenant_id for r in rejected],
            [r.fact.customer_id for r in rejected],
            [r.fact.event_type for r in rejected],
            [r.reason for r in rejected],
            [r.fact.idempotency_key for r in rejected],
        )
    }
    return [
        outgoing(
            new_envelope(
                BillingTransactionRejected(
                    customer_id=r.fact.customer_id,
                    rejected_event_id=str(r.fact.event_id),
                    rejected_type=r.fact.event_type,
                    reason=r.reason,
                ),
                source=SOURCE,
                subject=r.fact.customer_id,
                tenant_id=r.fact.tenant_id,
                sequence=0,  # numbered per customer (balance_sequences.py)
                correlation_id=r.fact.correlation_id,
                causation_id=str(r.fact.event_id),
            )
        )
        for r in rejected
        if r.fact.event_id in new_ids
    ]
