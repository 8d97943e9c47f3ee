"""List and replay dead letters.

    python -m platform_kit.dlq list customer.events.dlq
    python -m platform_kit.dlq replay customer.events.dlq [--offset N ...]

Replay sends each dead letter's original bytes, key and headers back to its source topic (the
event id is unchanged, so anything already applied stays applied once) and commits the DLQ offset
under the `dlq-replayer` group, so a replayed letter is not replayed twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from platform_kit.dead_letters import without_dead_letter_headers
from platform_kit.kafka import decode_headers, idempotent_producer

REPLAYER_GROUP = "dlq-replayer"


async def read_dead_letters(
    bootstrap: str, dlq_topic: str, group_id: str | None = None
) -> list[Any]:
    """Every record currently in the DLQ (from the group's position, or from the start)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    # Let aiokafka's no-group coordinator task start: stopping before it ran raises CancelledError.
    await asyncio.sleep(0)
    try:
        tps = [TopicPartition(dlq_topic, p) for p in await _partitions(bootstrap, dlq_topic)]
        if not tps:
            return []
        consumer.assign(tps)
        if group_id is None:
            await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[Any] = []
        for tp in tps:
            while await consumer.position(tp) < end[tp]:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                records += [r for r in batch.get(tp, []) if r.offset < end[tp]]
        return records
    finally:
        await consumer.stop()


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = (await admin.describe_topics([topic]))[0]
        return sorted(p["partition"] for p in described.get("partitions", []))
    finally:
        await admin.close()


def describe(record: Any) -> dict[str, Any]:
    headers = decode_headers(record.headers or [])
    return {
        "dlq_partition": record.partition,
        "dlq_offset": record.offset,
        "source": f"{headers.get('dlq-source-topic')}[{headers.get('dlq-source-partition')}]"
        f"@{headers.get('dlq-source-offset')}",
        "consumer": headers.get("dlq-consumer"),
        "error_type": headers.get("dlq-error-type"),
        "reason": headers.get("dlq-reason"),
        "detail": headers.get("dlq-detail"),
        "attempts": headers.get("dlq-attempts"),
        "event_type": headers.get("ce_type"),
        "event_id": headers.get("ce_id"),
    }


async def replay(
    bootstrap: str, dlq_topic: str, offsets: set[int] | None = None, partition: int | None = None
) -> int:
    """`offsets` replays only those; `partition` narrows them to one partition of the DLQ."""
    records = await read_dead_letters(bootstrap, dlq_topic, group_id=REPLAYER_GROUP)
    producer = idempotent_producer(bootstrap, "dlq-replayer")
    await producer.start()
    replayed = 0
    try:
        for record in records:
            if offsets and record.offset not in offsets:
                continue
            if offsets and partition is not None and record.partition != partition:
                continue
            headers = without_dead_letter_headers(record.headers or ())
            source = decode_headers(record.headers or []).get("dlq-source-topic")
            if source:
                await producer.send_and_wait(
                    source, value=record.value, key=record.key, headers=headers
                )
                replayed += 1
    finally:
        await producer.stop()
    if not offsets:  # a selective replay leaves the rest waiting for a later full replay
        await _commit(bootstrap, dlq_topic, records)
    return replayed


async def _commit(bootstrap: str, dlq_topic: str, records: list[Any]) -> None:
    if not records:
        return
    last: dict[int, int] = {}
    for record in records:
        last[record.partition] = max(last.get(record.partition, -1), record.offset)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=REPLAYER_GROUP, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(dlq_topic, p) for p in last]
        consumer.assign(tps)
        await consumer.commit(
            {TopicPartition(dlq_topic, p): OffsetAndMetadata(o + 1, "") for p, o in last.items()}
        )
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("topic", help="the dead-letter topic, e.g. billing.transactions.dlq")
    parser.add_argument("--offset", type=int, action="append", help="replay only these DLQ offsets")
    parser.add_argument("--partition", type=int, help="with --offset: only in this partition")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    args = parser.parse_args()
    if args.command == "list":
        for record in asyncio.run(read_dead_letters(args.bootstrap, args.topic)):
            print(json.dumps(describe(record)))
    else:
        count = asyncio.run(
            replay(args.bootstrap, args.topic, set(args.offset or []), args.partition)
        )
        print(f"replayed {count} dead letters from {args.topic}")


if __name__ == "__main__":
    main()
