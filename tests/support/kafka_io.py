"""Test helpers to read and write the real broker."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from platform_events import EventData, new_envelope
from platform_kit.kafka import encode_headers
from platform_kit.outbox import kafka_headers


async def read_all(
    bootstrap: str, topic: str, expected: int, timeout: float = 60, committed_only: bool = False
) -> list[Any]:
    """Read `topic` from the beginning until `expected` records arrived (or the timeout)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed" if committed_only else "read_uncommitted",
    )
    await consumer.start()
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for recs in batch.values():
                records.extend(recs)
    finally:
        await consumer.stop()
    return records


async def publish_events(
    bootstrap: str, topic: str, items: list[tuple[EventData, str]], *, tenant: str = "t1"
) -> list[uuid.UUID]:
    """Publish events (data, subject) as a producer outside the platform would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    ids = []
    try:
        futures = []
        for seq, (data, subject) in enumerate(items, start=1):
            envelope = new_envelope(
                data, source="test", subject=subject, tenant_id=tenant, sequence=seq
            )
            ids.append(envelope.id)
            futures.append(
                await producer.send(
                    topic,
                    envelope.model_dump_json().encode(),
                    key=subject.encode(),
                    headers=encode_headers(kafka_headers(envelope)),
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return ids


async def publish_raw(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    key: bytes | None = None,
    headers: list | None = None,
) -> None:
    """Without `key`, each value is keyed by its envelope's subject, as a producer must."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(
                topic, value, key=key or _subject_of(value), headers=headers or []
            )
    finally:
        await producer.stop()


def _subject_of(value: bytes) -> bytes:
    try:
        return str(json.loads(value)["subject"]).encode()
    except (ValueError, KeyError, TypeError):
        return b"k"
