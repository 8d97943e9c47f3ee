"""The real broker from Maven's jars does what the platform relies on, with our client (aiokafka).

Idempotent producer, transactions (read_committed sees only committed records), consumer groups
with committed offsets (docs/reference/local-kafka.md#aiokafka-against-a-4x-broker).
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.support.kafka_io import read_all

pytestmark = pytest.mark.integration


async def test_idempotent_producer_and_group_commit(kafka_bootstrap, test_topic):
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(test_topic, f"m{i}".encode(), key=b"same-key")
    finally:
        await producer.stop()
    group = f"smoke-{uuid.uuid4().hex[:6]}"
    consumer = AIOKafkaConsumer(
        test_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        got = []
        while len(got) < 10:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                got += records
        assert [r.value for r in sorted(got, key=lambda r: r.offset)] == [
            f"m{i}".encode() for i in range(10)
        ]
        await consumer.commit()
        tp = TopicPartition(test_topic, got[0].partition)
        assert await consumer.committed(tp) == 10
    finally:
        await consumer.stop()


async def test_transactions_hide_aborted_records_from_read_committed(kafka_bootstrap, test_topic):
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"smoke-{uuid.uuid4().hex[:6]}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(test_topic, b"committed", key=b"k")
        await producer.begin_transaction()
        await producer.send_and_wait(test_topic, b"aborted", key=b"k")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send_and_wait(test_topic, b"after", key=b"k")
    finally:
        await producer.stop()
    records = await read_all(
        kafka_bootstrap, test_topic, expected=2, timeout=20, committed_only=True
    )
    values = [r.value for r in records]
    assert b"aborted" not in values
    assert values == [b"committed", b"after"]
