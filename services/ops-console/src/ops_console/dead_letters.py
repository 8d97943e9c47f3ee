"""Dead-letter topics for the console: how many letters each holds, the letters themselves with
their original bytes made readable, and replay through the kit's `platform_kit.dlq` (the same
code as `python -m platform_kit.dlq replay`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

import platform_kit.dlq as dlq
from platform_events.topics import TOPICS
from platform_kit.http import ApiError
from platform_kit.kafka import decode_headers

DLQ_TOPICS = [spec.dlq for spec in TOPICS]


def known_topic(topic: str) -> str:
    if topic not in DLQ_TOPICS:
        raise ApiError(404, "not_found", f"{topic} is not a dead-letter topic")
    return topic


async def topic_counts(bootstrap: str) -> list[dict[str, Any]]:
    """Per DLQ topic: letters held, and how many of them the last full replay has not passed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    await asyncio.sleep(0)  # see platform_kit.dlq.read_dead_letters
    try:
        described = await admin.describe_topics(DLQ_TOPICS)
        tps = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            for p in t.get("partitions", [])
        ]
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        replayed = await admin.list_consumer_group_offsets(dlq.REPLAYER_GROUP)
    finally:
        await consumer.stop()
        await admin.close()
    out = []
    for topic in DLQ_TOPICS:
        mine = [tp for tp in tps if tp.topic == topic]
        total = sum(end[tp] - begin[tp] for tp in mine)
        waiting = sum(
            end[tp] - max(begin[tp], replayed[tp].offset if tp in replayed else -1) for tp in mine
        )
        out.append({"topic": topic, "total": total, "waiting": waiting})
    return out


async def letters(bootstrap: str, topic: str, shown: int) -> list[dict[str, Any]]:
    """The newest `shown` letters of the topic, newest first."""
    records = await dlq.read_dead_letters(bootstrap, topic)
    replayed = await _replayed_positions(bootstrap, topic)
    records.sort(key=lambda r: (r.timestamp, r.partition, r.offset), reverse=True)
    return [_letter(r, replayed) for r in records[:shown]]


async def _replayed_positions(bootstrap: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(dlq.REPLAYER_GROUP)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def _letter(record: Any, replayed: dict[int, int]) -> dict[str, Any]:
    body, body_format = pretty_bytes(record.value)
    return {
        **dlq.describe(record),
        "timestamp_ms": record.timestamp,
        "key": record.key.decode(errors="replace") if record.key is not None else None,
        "headers": decode_headers(record.headers or []),
        "value": body,
        "value_format": body_format,
        # Passed by a full replay (a single replay is not recorded on the broker).
        "replayed": record.offset < replayed.get(record.partition, -1),
    }


def pretty_bytes(value: bytes | None) -> tuple[str, str]:
    """The original bytes as a person reads them: indented JSON, else text, else hex."""
    if value is None:
        return "", "empty"
    try:
        text = value.decode()
    except UnicodeDecodeError:
        return value.hex(" ", 1), "hex"
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False), "json"
    except ValueError:
        return text, "text"


async def replay(bootstrap: str, topic: str, partition: int | None, offset: int | None) -> int:
    if offset is None:
        return await dlq.replay(bootstrap, topic)
    return await dlq.replay(bootstrap, topic, {offset}, partition)
