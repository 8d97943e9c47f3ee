"""Writing events to the outbox, in the caller's transaction.

A service never publishes to Kafka itself: it inserts the outbox row in the same transaction as its
state change, and the relay (relay.py) publishes it. So a crash can never separate the two.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from platform_events import Envelope
from platform_events.topics import topic_for_event
from platform_events.wire import kafka_headers

BUCKETS = 16


def bucket_of(key: str) -> int:
    return zlib.crc32(key.encode()) % BUCKETS


@dataclass(frozen=True)
class OutgoingEvent:
    envelope: Envelope
    topic: str
    key: str


def outgoing(envelope: Envelope, key: str | None = None, topic: str | None = None) -> OutgoingEvent:
    """Route an envelope to the topic the registry declares for its type, keyed by its subject."""
    return OutgoingEvent(
        envelope=envelope,
        topic=topic or topic_for_event(envelope.type).name,
        key=key or envelope.subject,
    )


async def add_to_outbox(conn: asyncpg.Connection, events: Sequence[OutgoingEvent]) -> None:
    """Insert events; must run inside the caller's open transaction."""
    if not events:
        return
    if not conn.is_in_transaction():
        raise RuntimeError("outbox rows must be written inside the state change's transaction")
    rows = [outbox_row(e) for e in events]
    await conn.execute(
        """INSERT INTO outbox (event_id, topic, key, bucket, headers, payload)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::smallint[],
                                $5::jsonb[], $6::bytea[])""",
        *(list(column) for column in zip(*rows, strict=True)),
    )


# The outbox columns a row's values fill, in outbox_row's order (for statements of their own).
OUTBOX_COLUMNS = "event_id, topic, key, bucket, headers, payload"


def outbox_row(event: OutgoingEvent) -> tuple[uuid.UUID, str, str, int, str, bytes]:
    """One outbox row's values (OUTBOX_COLUMNS), for a service that writes its state row and the
    outbox row in one statement; it must write both in one transaction, like add_to_outbox."""
    envelope = event.envelope
    return (
        envelope.id,
        event.topic,
        event.key,
        bucket_of(event.key),
        json.dumps(kafka_headers(envelope)),
        envelope.model_dump_json().encode(),
    )
