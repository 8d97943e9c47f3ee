"""What the machine allows, measured on the same stack in the same run as the platform.

Three raw parts, each doing only the unavoidable work of an ingest or a relay, with nothing of
the platform's bookkeeping (no inbox, no locks, no balances, no outbox):
- consume + parse: a read-committed aiokafka consumer reads the messages and parses each
  envelope with the contract models, as every platform consumer must;
- COPY: the same rows (one ledger-shaped row per message) written by COPY into a logged table
  without indexes, in one transaction;
- produce: the same records sent by an idempotent transactional producer (acks=all), one Kafka
  transaction per 1,000 records, as the relay batches them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer
from harness import create_topics

from platform_events import parse_event
from platform_kit.kafka import transactional_producer

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]  # value, key, headers


@dataclass(frozen=True)
class Ceiling:
    consume_parse: float  # messages/s
    copy_rows: float  # rows/s
    produce: float  # records/s

    def lines(self) -> list[str]:
        return [
            f"  consume + parse (aiokafka, read committed, contract models): {self.consume_parse:,.0f} msg/s",
            f"  COPY into a logged table (one ledger-shaped row per message):  {self.copy_rows:,.0f} rows/s",
            f"  produce, idempotent + transactional (1,000 per transaction):   {self.produce:,.0f} records/s",
        ]


async def produce(bootstrap: str, topic: str, records: list[Record], per_txn: int = 1000) -> float:
    """Sends `records` to `topic`; returns records/s."""
    producer = transactional_producer(bootstrap, f"bench-ceiling-{uuid.uuid4().hex[:8]}")
    await producer.start()
    try:
        started = time.perf_counter()
        for start in range(0, len(records), per_txn):
            async with producer.transaction():
                futures = [
                    await producer.send(topic, value, key=key, headers=headers)
                    for value, key, headers in records[start : start + per_txn]
                ]
                for future in futures:
                    await future
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def consume_parse(bootstrap: str, topic: str, expected: int) -> tuple[float, list[tuple]]:
    """Reads `expected` messages from the start of `topic`, parsing each; returns msg/s (from the
    first message received) and one ledger-shaped row per message for `copy_rows`."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-ceiling-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    parsed = []
    started = 0.0
    try:
        while len(parsed) < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            started = started or time.perf_counter()
            for records in batches.values():
                parsed += [parse_event(record.value) for record in records]
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    return len(parsed) / elapsed, [_row(envelope, data) for envelope, data in parsed]


def _row(envelope, data) -> tuple:  # type: ignore[no-untyped-def]
    amount = getattr(data, "amount", None)
    reference = next(v for k, v in data if k.endswith("_id") and k != "customer_id")
    return (
        uuid.uuid4(),
        envelope.tenant_id,
        data.customer_id,
        "USD",
        data.event_type,
        amount.amount_minor if amount else 0,
        reference,
        f"{data.event_type}:{reference}",
        "0" * 64,  # a content hash's width
        envelope.id,
        envelope.time,
        datetime.now(UTC),
    )


COPY_COLUMNS = [
    "entry_id",
    "tenant_id",
    "customer_id",
    "currency",
    "entry_type",
    "amount_minor",
    "reference_id",
    "idempotency_key",
    "content_hash",
    "source_event_id",
    "effective_at",
    "recorded_at",
]


async def copy_rows(dsn: str, rows: list[tuple]) -> float:
    """COPYs `rows` into a fresh logged table (dropped after); returns rows/s."""
    table = f"bench_ceiling_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"""CREATE TABLE {table} (entry_id uuid, tenant_id text, customer_id text,
                currency text, entry_type text, amount_minor bigint, reference_id text,
                idempotency_key text, content_hash text, source_event_id uuid,
                effective_at timestamptz, recorded_at timestamptz)"""
        )
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table(table, records=rows, columns=COPY_COLUMNS)
        elapsed = time.perf_counter() - started
        await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()
    return len(rows) / elapsed


async def measure(bootstrap: str, dsn: str, records: list[Record]) -> Ceiling:
    """All three parts on `records`: produced to a fresh topic, read back and parsed, COPYd."""
    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [topic])
    produced = await produce(bootstrap, topic, records)
    consumed, rows = await consume_parse(bootstrap, topic, len(records))
    copied = await copy_rows(dsn, rows)
    return Ceiling(consumed, copied, produced)
