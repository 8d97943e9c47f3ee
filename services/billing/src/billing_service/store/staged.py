"""The consumer's fast path: a poll's transactions COPYd into a staging table, and PostgreSQL
decides and applies those that are certainly applicable in a few set-based statements.

Certainly applicable (else the fact is left, untouched, for the reference path, store/ledger.py
write_facts, which then runs in the same transaction after this):
- the first fact of its natural key in the poll, with no ledger entry under that key, no earlier
  refusal of its event, no open refusal of its key, its customer known with no transaction still
  parked for it;
- a plain fact (invoice, payment, refund, credit, adjustment): its amount and allocations pass
  the rules of domain/rules.py, and every version billing ever saw of its customer has the fact's
  currency and, for an invoice, was active: so the customer as of any time passes it, whichever
  version the event's time picks;
- a correction (void, reversal): the entry it corrects belongs to the same customer and is in the
  ledger or is a plain fact taken here, and no earlier correction is parked waiting for it.
Those are written as write_facts writes them: entries (a correction mirrors the original's
amount, currency, order and allocations), allocations, inbox rows, balances with their
`BalanceChanged` events (store/balances.py) and flags. Plain facts come before corrections, as in
write_facts, so first-content-wins and the duplicate/conflict checks of what is left see them.

Why: per fact, the reference path costs about 80 us of Python (rules, rows, totals, statement
arguments) on the consumer's one core; here the process only builds one COPY row per fact, and
PostgreSQL, on the other core, does the rest (bench/billing_ingest.py).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from billing_service.domain.entries import SIGN
from billing_service.domain.facts import Fact, entry_id_for
from billing_service.store.balance_sequences import numbered
from billing_service.store.balances import announce_constants, announce_statement
from billing_service.store.flags import refresh_flags
from platform_kit.outbox import add_to_outbox, bucket_of

# Created once per session (IF NOT EXISTS) and emptied at each commit. Emptied at the start of
# each use too: the kit's slow path applies several groups in one transaction.
_PREPARE = """
CREATE TEMP TABLE IF NOT EXISTS billing_stage (
    ord integer NOT NULL, event_id uuid NOT NULL, tenant_id text NOT NULL,
    customer_id text NOT NULL, entry_type text NOT NULL, reference_id text NOT NULL,
    idempotency_key text NOT NULL, reverses_key text, reverses_entry_id uuid,
    entry_id uuid NOT NULL,
    content_hash text NOT NULL, amount_minor bigint, currency text, order_id text,
    due_date date, method text, reason text, note text, occurred_at timestamptz NOT NULL,
    correlation_id text, alloc_orders text[], alloc_amounts bigint[], bucket smallint NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS billing_taken (
    phase smallint NOT NULL, ord integer NOT NULL, event_id uuid NOT NULL,
    entry_id uuid NOT NULL, tenant_id text NOT NULL, customer_id text NOT NULL,
    currency text NOT NULL, entry_type text NOT NULL, amount_minor bigint NOT NULL,
    reverses_entry_id uuid, order_id text, idempotency_key text NOT NULL,
    correlation_id text, bucket smallint NOT NULL
) ON COMMIT DELETE ROWS;
CREATE INDEX IF NOT EXISTS billing_taken_entry ON billing_taken (entry_id);
DELETE FROM billing_stage;
DELETE FROM billing_taken;
"""

STAGE_COLUMNS = (
    "ord",
    "event_id",
    "tenant_id",
    "customer_id",
    "entry_type",
    "reference_id",
    "idempotency_key",
    "reverses_key",
    "reverses_entry_id",
    "entry_id",
    "content_hash",
    "amount_minor",
    "currency",
    "order_id",
    "due_date",
    "method",
    "reason",
    "note",
    "occurred_at",
    "correlation_id",
    "alloc_orders",
    "alloc_amounts",
    "bucket",
)

# The sign of an entry type's (positive) amount, written from domain/entries.py SIGN so the two
# paths cannot disagree on it.
_NEGATIVE = ", ".join(f"'{t}'" for t, sign in SIGN.items() if sign < 0)
_SIGN = f"CASE WHEN s.entry_type IN ({_NEGATIVE}) THEN -1 ELSE 1 END"

# Conditions every taken fact meets (`s` a staged row; only the first fact of each natural key in
# the poll is staged): new to the ledger, never refused, its customer known and not waited for.
# A natural key is looked up by its entry id (derived from it, domain/facts.py entry_id_for):
# the only index on that column is the unique one, whereas for (tenant_id, idempotency_key) a
# planner without statistics yet (a young table) picked an index on tenant_id alone and read
# every entry of the tenant per fact (15 ms each at 20,000 entries).
_NEW_AND_KNOWN = """
    NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.entry_id = s.entry_id)
    AND NOT EXISTS (SELECT 1 FROM rejections r WHERE r.event_id = s.event_id)
    AND NOT EXISTS (SELECT 1 FROM rejections r WHERE r.resolved_at IS NULL
                    AND r.tenant_id = s.tenant_id AND r.idempotency_key = s.idempotency_key)
    AND NOT EXISTS (SELECT 1 FROM pending_transactions p WHERE p.waits_for = 'customer'
                    AND p.tenant_id = s.tenant_id AND p.customer_id = s.customer_id)"""

# Plain facts first, then corrections (which may correct a plain fact just taken). Statements
# without parameters, sent as one simple query: planned afresh for each poll, so the plans
# follow the staging tables' sizes (a plan cached for a poll of one fact would not).
_TAKE = f"""
INSERT INTO billing_taken
SELECT 0, s.ord, s.event_id, s.entry_id, s.tenant_id, s.customer_id, s.currency, s.entry_type,
       {_SIGN} * s.amount_minor, NULL, s.order_id, s.idempotency_key, s.correlation_id,
       s.bucket
FROM billing_stage s
JOIN customers c ON c.tenant_id = s.tenant_id AND c.customer_id = s.customer_id
WHERE s.reverses_key IS NULL
  AND c.currency = s.currency AND (c.active OR s.entry_type <> 'invoice')
  AND CASE WHEN s.entry_type = 'adjustment' THEN s.amount_minor <> 0 ELSE s.amount_minor > 0 END
  AND (s.alloc_orders IS NULL
       OR ((SELECT count(DISTINCT o) FROM unnest(s.alloc_orders) o)
               = cardinality(s.alloc_orders)
           AND (SELECT sum(a) FROM unnest(s.alloc_amounts) a) <= s.amount_minor))
  AND NOT EXISTS (SELECT 1 FROM customer_versions v
                  WHERE v.tenant_id = s.tenant_id AND v.customer_id = s.customer_id
                    AND (v.currency <> s.currency OR (s.entry_type = 'invoice' AND NOT v.active)))
  AND {_NEW_AND_KNOWN};
INSERT INTO billing_taken
SELECT 1, s.ord, s.event_id, s.entry_id, s.tenant_id, s.customer_id,
       coalesce(e.currency, t.currency), s.entry_type, -coalesce(e.amount_minor, t.amount_minor),
       coalesce(e.entry_id, t.entry_id), coalesce(s.order_id, e.order_id, t.order_id),
       s.idempotency_key, s.correlation_id, s.bucket
FROM billing_stage s
JOIN customers c ON c.tenant_id = s.tenant_id AND c.customer_id = s.customer_id
LEFT JOIN ledger_entries e ON e.entry_id = s.reverses_entry_id
LEFT JOIN billing_taken t ON t.entry_id = s.reverses_entry_id AND t.phase = 0
WHERE s.reverses_key IS NOT NULL
  AND coalesce(e.customer_id, t.customer_id) = s.customer_id
  AND NOT EXISTS (SELECT 1 FROM pending_transactions p
                  WHERE p.tenant_id = s.tenant_id AND p.waits_for = s.reverses_key)
  AND {_NEW_AND_KNOWN};
"""

# The taken facts written as write_facts writes them: entries in its order (plain facts, then
# corrections), plain facts' allocations, inbox rows, balances and their events; then the
# corrections' allocations, mirroring what they correct (in the ledger by then). Without nested
# loops: the planner estimates one row for each CTE, and a nested loop over two CTEs of a few
# hundred accounts each (`e` of the announce) took 100 ms a poll.
_WRITE_HEAD = """new_entries AS (
    INSERT INTO ledger_entries (entry_id, tenant_id, customer_id, currency, entry_type,
        amount_minor, reference_id, idempotency_key, content_hash, reverses_entry_id, order_id,
        due_date, method, reason, note, source_event_id, effective_at)
    SELECT t.entry_id, t.tenant_id, t.customer_id, t.currency, t.entry_type, t.amount_minor,
        s.reference_id, t.idempotency_key, s.content_hash, t.reverses_entry_id, t.order_id,
        s.due_date, s.method, s.reason, s.note, t.event_id, s.occurred_at
    FROM billing_taken t JOIN billing_stage s USING (ord)
    ORDER BY t.phase, t.ord
), new_allocations AS (
    INSERT INTO order_allocations (entry_id, tenant_id, customer_id, currency, order_id,
        entry_type, amount_minor)
    SELECT entry_id, tenant_id, customer_id, currency, order_id, entry_type, amount_minor
    FROM billing_taken WHERE phase = 0 AND entry_type = 'invoice' AND order_id IS NOT NULL
    UNION ALL
    SELECT t.entry_id, t.tenant_id, t.customer_id, t.currency, a.order_id, t.entry_type,
           -a.amount
    FROM billing_taken t JOIN billing_stage s USING (ord),
         unnest(s.alloc_orders, s.alloc_amounts) AS a(order_id, amount)
    WHERE t.phase = 0 AND t.entry_type = 'payment'
), inboxed AS (
    INSERT INTO inbox (consumer, event_id) SELECT {consumer}, event_id FROM billing_taken
    ON CONFLICT DO NOTHING
), last_of_customer AS (
    SELECT DISTINCT ON (tenant_id, customer_id) tenant_id, customer_id, correlation_id
    FROM billing_taken ORDER BY tenant_id, customer_id, phase DESC, ord DESC
), d AS (
    SELECT a.tenant_id, a.customer_id, a.currency, a.current_minor, a.invoiced, a.paid,
           a.refunded, a.credits, a.adjustments, a.entries, a.last_entry_id,
           l.correlation_id, a.causation_id, a.bucket
    FROM (
        SELECT tenant_id, customer_id, currency,
            sum(amount_minor) AS current_minor,
            coalesce(sum(amount_minor) FILTER (
                WHERE entry_type IN ('invoice', 'invoice_void')), 0) AS invoiced,
            -coalesce(sum(amount_minor) FILTER (
                WHERE entry_type IN ('payment', 'payment_reversal')), 0) AS paid,
            coalesce(sum(amount_minor) FILTER (WHERE entry_type = 'refund'), 0) AS refunded,
            -coalesce(sum(amount_minor) FILTER (WHERE entry_type = 'credit'), 0) AS credits,
            coalesce(sum(amount_minor) FILTER (WHERE entry_type = 'adjustment'), 0)
                AS adjustments,
            count(*) AS entries,
            (array_agg(entry_id ORDER BY phase DESC, ord DESC))[1] AS last_entry_id,
            (array_agg(event_id::text ORDER BY phase DESC, ord DESC))[1] AS causation_id,
            min(bucket) AS bucket
        FROM billing_taken GROUP BY tenant_id, customer_id, currency
    ) a JOIN last_of_customer l USING (tenant_id, customer_id)
)"""

_MIRROR = """;
SET LOCAL enable_nestloop = DEFAULT;
SET LOCAL jit = DEFAULT;
INSERT INTO order_allocations (entry_id, tenant_id, customer_id, currency, order_id,
    entry_type, amount_minor)
SELECT t.entry_id, t.tenant_id, t.customer_id, t.currency, a.order_id, t.entry_type,
       -a.amount_minor
FROM billing_taken t JOIN order_allocations a ON a.entry_id = t.reverses_entry_id
WHERE t.phase = 1;
"""

# What the caller needs back: the facts left for write_facts, the natural keys taken that parked
# corrections wait for, and the accounts touched with the cause of each one's change (as
# write_facts names them: the customer's last fact's correlation, the account's last event).
_RESULTS = """
SELECT
    (SELECT array_agg(event_id) FROM billing_stage
     WHERE ord NOT IN (SELECT ord FROM billing_taken)) AS left_ids,
    (SELECT array_agg(ARRAY[t.tenant_id, t.idempotency_key]) FROM billing_taken t
     WHERE t.phase = 0 AND EXISTS (SELECT 1 FROM pending_transactions p
                                   WHERE p.tenant_id = t.tenant_id
                                     AND p.waits_for = t.idempotency_key)) AS waited_for,
    (SELECT array_agg(ARRAY[a.tenant_id, a.customer_id, a.currency, a.correlation_id,
                            a.causation_id] ORDER BY a.tenant_id, a.customer_id, a.currency)
     FROM (SELECT DISTINCT ON (tenant_id, customer_id, currency) tenant_id, customer_id,
                  currency, event_id::text AS causation_id,
                  last_value(correlation_id) OVER (
                      PARTITION BY tenant_id, customer_id ORDER BY phase, ord
                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS correlation_id
           FROM billing_taken
           ORDER BY tenant_id, customer_id, currency, phase DESC, ord DESC) a) AS accounts
"""


def _literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings, PostgreSQL's default since 9.1)."""
    return "'" + text.replace("'", "''") + "'"


@functools.cache
def _statements(consumer: str) -> str:
    constants = [_literal(c) for c in announce_constants()]
    write = announce_statement(_WRITE_HEAD.replace("{consumer}", _literal(consumer)), constants)
    # Off for that statement only (and JIT with it: the cost of a disabled nested loop is so high
    # that the JIT would compile the statement, for 1.6 s).
    off = "SET LOCAL enable_nestloop = off;\nSET LOCAL jit = off;\n"
    return _TAKE + off + write + _MIRROR


@dataclass
class Staged:
    """What the fast path did not take (for write_facts), and what it wrote that others wait for."""

    left: set[uuid.UUID] = field(default_factory=set)
    waited_for: list[tuple[str, str]] = field(default_factory=list)  # (tenant, natural key)


def stage_row(ord: int, fact: Fact) -> tuple[object, ...]:
    allocations = fact.allocations
    return (
        ord,
        fact.event_id,
        fact.tenant_id,
        fact.customer_id,
        fact.entry_type,
        fact.reference_id,
        fact.idempotency_key,
        fact.reverses_key,
        entry_id_for(fact.tenant_id, fact.reverses_key) if fact.reverses_key else None,
        fact.entry_id,
        fact.content_hash,
        fact.amount_minor,
        fact.currency,
        fact.order_id,
        fact.due_date,
        fact.method,
        fact.reason,
        fact.note,
        fact.occurred_at,
        fact.correlation_id,
        [o for o, _ in allocations] if allocations else None,
        [a for _, a in allocations] if allocations else None,
        bucket_of(fact.customer_id),
    )


async def apply_staged(
    conn: asyncpg.Connection, consumer: str, facts: Sequence[Fact], *, today: date
) -> Staged:
    """Apply the certainly applicable facts (see the module's docstring); the caller holds the
    customers' locks and has dropped event ids seen before. Returns what it left."""
    if not facts:
        return Staged()
    rows: list[tuple[object, ...]] = []
    repeats: set[uuid.UUID] = set()  # a natural key seen earlier in the poll: left to write_facts
    keys: set[tuple[str, str]] = set()
    for i, fact in enumerate(facts):
        key = (fact.tenant_id, fact.idempotency_key)
        if key in keys:
            repeats.add(fact.event_id)
        else:
            keys.add(key)
            rows.append(stage_row(i, fact))
    await conn.execute(_PREPARE)
    await conn.copy_records_to_table("billing_stage", records=rows, columns=STAGE_COLUMNS)
    await conn.execute(_statements(consumer))
    row = await conn.fetchrow(_RESULTS)
    accounts = [(a[0], a[1], a[2]) for a in row["accounts"] or ()]
    if accounts:
        causes = {(a[0], a[1], a[2]): (a[3], a[4]) for a in row["accounts"]}
        events = await refresh_flags(conn, accounts, today, causes)
        await add_to_outbox(conn, await numbered(conn, events))
    return Staged(
        left=repeats.union(row["left_ids"] or ()),
        waited_for=[(k[0], k[1]) for k in row["waited_for"] or ()],
    )
