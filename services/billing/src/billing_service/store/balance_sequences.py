"""Sequences of billing.balances events: one counter per customer (the topic's key), shared by
balance changes of every currency, flags and rejections (migration 004).

Every writer numbers its events while it holds the customer's lock (store/locks.py), so the
numbers grow in commit order, which is the order the relay publishes them in.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import asyncpg

from platform_kit.outbox import OutgoingEvent


async def numbered(
    conn: asyncpg.Connection, events: Sequence[OutgoingEvent]
) -> list[OutgoingEvent]:
    """The events with the next sequences of their customers, in the order given."""
    if not events:
        return []
    counts = Counter((e.envelope.tenant_id, e.envelope.subject) for e in events)
    keys = sorted(counts)
    rows = await conn.fetch(
        """INSERT INTO balance_event_sequences AS s (tenant_id, customer_id, last)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
           ON CONFLICT (tenant_id, customer_id) DO UPDATE SET last = s.last + excluded.last
           RETURNING tenant_id, customer_id, last""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [counts[k] for k in keys],
    )
    following = {
        (r["tenant_id"], r["customer_id"]): r["last"]
        - counts[(r["tenant_id"], r["customer_id"])]
        + 1
        for r in rows
    }
    out: list[OutgoingEvent] = []
    for event in events:
        key = (event.envelope.tenant_id, event.envelope.subject)
        sequence = following[key]
        following[key] = sequence + 1
        envelope = event.envelope.model_copy(update={"sequence": sequence})
        out.append(dataclasses.replace(event, envelope=envelope))
    return out
