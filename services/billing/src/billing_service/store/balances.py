"""Add a batch's totals to its accounts and announce each new balance, in one statement.

The balances upsert, the per-customer numbering of billing.balances events (migration 004,
balance_sequences.py) and the outbox rows of `BalanceChanged` are one SQL statement: PostgreSQL
builds the envelopes (JSON as the contract reads it, headers as platform_events.wire writes
them) on its own core, so the consumer's Python process does no per-account event work
(bench/billing_ingest.py --profile: building, numbering and serialising these events in Python
took about a tenth of billing's samples). tests/billing/test_balance_events.py checks that the
rows read back as the contract's `BalanceChanged` with the headers `kafka_headers` gives.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import asyncpg

from billing_service.domain.entries import Totals
from billing_service.store.customers import AccountKey
from billing_service.store.flags import NO_CAUSE, SOURCE, Causes
from platform_events.contracts.billing import BalanceChanged
from platform_events.topics import topic_for_event
from platform_events.wire import CONTENT_TYPE, SPECVERSION
from platform_kit.outbox import bucket_of

_TOPIC = topic_for_event(BalanceChanged.event_type).name

# The statement after its first CTE `d` (the accounts, sorted so concurrent writers lock rows in
# one order, with their deltas, last entry, cause and outbox bucket); {topic}, {source}, {type},
# {spec} and {ctype} are the SQL of the constants. A customer's events are numbered
# in account (currency) order, as the outbox ids are assigned (ORDER BY of the final insert), so
# sequence order is publishing order.
_ANNOUNCE_AFTER_D = """, b AS (
    INSERT INTO balances AS b (tenant_id, customer_id, currency, current_balance_minor,
        total_invoiced_minor, total_paid_minor, total_refunded_minor, total_credits_minor,
        total_adjustments_minor, entry_count, last_entry_id)
    SELECT tenant_id, customer_id, currency, current_minor, invoiced, paid, refunded, credits,
        adjustments, entries, last_entry_id FROM d
    ON CONFLICT (tenant_id, customer_id, currency) DO UPDATE SET
        current_balance_minor = b.current_balance_minor + excluded.current_balance_minor,
        total_invoiced_minor = b.total_invoiced_minor + excluded.total_invoiced_minor,
        total_paid_minor = b.total_paid_minor + excluded.total_paid_minor,
        total_refunded_minor = b.total_refunded_minor + excluded.total_refunded_minor,
        total_credits_minor = b.total_credits_minor + excluded.total_credits_minor,
        total_adjustments_minor = b.total_adjustments_minor + excluded.total_adjustments_minor,
        entry_count = b.entry_count + excluded.entry_count,
        last_entry_id = excluded.last_entry_id,
        updated_at = now()
    RETURNING b.*
), s AS (
    INSERT INTO balance_event_sequences AS s (tenant_id, customer_id, last)
    SELECT tenant_id, customer_id, count(*) FROM d GROUP BY tenant_id, customer_id
    ON CONFLICT (tenant_id, customer_id) DO UPDATE SET last = s.last + excluded.last
    RETURNING tenant_id, customer_id, last
), e AS (
    SELECT b.*, d.correlation_id, d.causation_id, d.bucket, gen_random_uuid() AS event_id,
        to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
        s.last - count(*) OVER w + row_number() OVER w AS sequence
    FROM b JOIN d USING (tenant_id, customer_id, currency) JOIN s USING (tenant_id, customer_id)
    WINDOW w AS (PARTITION BY b.tenant_id, b.customer_id ORDER BY b.currency COLLATE "C"
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
)
INSERT INTO outbox (event_id, topic, key, bucket, headers, payload)
SELECT event_id, {topic}, customer_id, bucket,
    jsonb_strip_nulls(jsonb_build_object(
        'ce_specversion', {spec}::text, 'ce_id', event_id::text, 'ce_source', {source}::text,
        'ce_type', {type}::text, 'ce_time', at, 'ce_subject', customer_id,
        'ce_sequence', sequence::text, 'ce_tenantid', tenant_id, 'content-type', {ctype}::text,
        'tenant_id', tenant_id,
        'ce_correlationid', nullif(correlation_id, ''), 'correlation_id', nullif(correlation_id, ''),
        'ce_causationid', nullif(causation_id, ''))),
    convert_to(json_build_object(
        'specversion', {spec}::text, 'id', event_id, 'type', {type}::text, 'source', {source}::text,
        'time', at, 'subject', customer_id, 'tenant_id', tenant_id,
        'correlation_id', correlation_id, 'causation_id', causation_id, 'sequence', sequence,
        'data', json_build_object(
            'customer_id', customer_id, 'currency', currency,
            'current_balance_minor', current_balance_minor,
            'total_invoiced_minor', total_invoiced_minor, 'total_paid_minor', total_paid_minor,
            'total_refunded_minor', total_refunded_minor,
            'total_credits_minor', total_credits_minor,
            'total_adjustments_minor', total_adjustments_minor,
            'caused_by_entry', last_entry_id::text))::text, 'UTF8')
FROM e ORDER BY tenant_id COLLATE "C", customer_id COLLATE "C", currency COLLATE "C"
"""


def announce_statement(d_cte: str, constants: Sequence[str]) -> str:
    """The upsert-and-announce statement with `d_cte` (CTEs ending in "d AS (...)", its columns
    as `d` above) giving the accounts, and the SQL of the five constants (topic, source, type,
    specversion, content type: parameters such as "$15", or literals; see `announce_constants`)."""
    names = ("topic", "source", "type", "spec", "ctype")
    return "WITH " + d_cte + _ANNOUNCE_AFTER_D.format(**dict(zip(names, constants, strict=True)))


def announce_constants() -> tuple[str, str, str, str, str]:
    return (_TOPIC, SOURCE, BalanceChanged.event_type, SPECVERSION, CONTENT_TYPE)


# $1..$14: the accounts and their deltas, last entry, cause and outbox bucket, from the client.
_UPSERT_AND_ANNOUNCE = announce_statement(
    """d AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
        $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::uuid[],
        $12::text[], $13::text[], $14::smallint[])
        AS d(tenant_id, customer_id, currency, current_minor, invoiced, paid, refunded, credits,
             adjustments, entries, last_entry_id, correlation_id, causation_id, bucket)
)""",
    ("$15", "$16", "$17", "$18", "$19"),
)


async def add_and_announce(
    conn: asyncpg.Connection,
    deltas: Mapping[AccountKey, Totals],
    last_entry: Mapping[AccountKey, uuid.UUID],
    causes: Causes,
) -> None:
    """Add each account's totals and put its `BalanceChanged` (naming `causes[account]`, the
    correlation and the event of its last entry) in the outbox. The caller holds the customers'
    locks and numbers any further events of theirs after this (balance_sequences.numbered)."""
    if not deltas:
        return
    accounts = sorted(deltas)
    totals = [deltas[a] for a in accounts]
    cause = [causes.get(a, NO_CAUSE) for a in accounts]
    await conn.execute(
        _UPSERT_AND_ANNOUNCE,
        [a[0] for a in accounts],
        [a[1] for a in accounts],
        [a[2] for a in accounts],
        [t.current for t in totals],
        [t.invoiced for t in totals],
        [t.paid for t in totals],
        [t.refunded for t in totals],
        [t.credits for t in totals],
        [t.adjustments for t in totals],
        [t.entries for t in totals],
        [last_entry[a] for a in accounts],
        [c[0] for c in cause],
        [c[1] for c in cause],
        [bucket_of(a[1]) for a in accounts],
        *announce_constants(),
    )
