"""A dead letter can be listed and, after a fix, replayed into its source topic and applied once."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from platform_events import new_envelope
from platform_events.contracts.billing import InvoiceVoided
from platform_kit.consumer import ConsumerRunner
from platform_kit.dlq import describe, read_dead_letters, replay
from platform_kit.inbox import InboundEvent, PermanentError
from platform_kit.kafka import encode_headers
from platform_kit.outbox import kafka_headers
from tests.support.kafka_io import publish_raw, read_all

pytestmark = pytest.mark.integration


class RefusesBlockedCustomers:
    async def apply(self, conn: asyncpg.Connection, event: InboundEvent) -> None:
        data = event.data
        assert isinstance(data, InvoiceVoided)
        if await conn.fetchval("SELECT true FROM blocked WHERE customer_id = $1", data.customer_id):
            raise PermanentError(f"customer {data.customer_id} is blocked")
        await conn.execute("INSERT INTO voided (invoice_id) VALUES ($1)", data.invoice_id)


async def test_replayed_dead_letter_is_applied_once_after_the_fix(
    kit_pool, kafka_bootstrap, test_topic
):
    await kit_pool.execute("CREATE TABLE blocked (customer_id text PRIMARY KEY)")
    await kit_pool.execute("CREATE TABLE voided (invoice_id text PRIMARY KEY)")
    await kit_pool.execute("INSERT INTO blocked VALUES ('erin')")
    envelope = new_envelope(
        InvoiceVoided(customer_id="erin", invoice_id="inv-9"),
        source="test",
        subject="erin",
        tenant_id="t1",
        sequence=1,
    )
    await publish_raw(
        kafka_bootstrap,
        test_topic,
        [envelope.model_dump_json().encode()],
        key=b"erin",
        headers=encode_headers(kafka_headers(envelope)),
    )
    runner = ConsumerRunner(
        name=f"replay-{uuid.uuid4().hex[:6]}",
        topics=[test_topic],
        pool=kit_pool,
        bootstrap=kafka_bootstrap,
        handler=RefusesBlockedCustomers(),
    )
    runner.start()
    try:
        for _ in range(300):
            if runner.dead_lettered:
                break
            await asyncio.sleep(0.1)
        letters = await read_dead_letters(kafka_bootstrap, f"{test_topic}.dlq")
        assert len(letters) == 1
        listed = describe(letters[0])
        assert listed["reason"] == "customer erin is blocked"
        assert listed["event_id"] == str(envelope.id)

        await kit_pool.execute("DELETE FROM blocked")  # the fix
        assert await replay(kafka_bootstrap, f"{test_topic}.dlq") == 1
        assert await replay(kafka_bootstrap, f"{test_topic}.dlq") == 0  # not twice
        for _ in range(300):
            if await kit_pool.fetchval("SELECT count(*) FROM voided") == 1:
                break
            await asyncio.sleep(0.1)
    finally:
        await runner.stop()
    assert await kit_pool.fetch("SELECT invoice_id FROM voided") == [("inv-9",)]


async def test_replaying_one_letter_sends_only_that_partitions_letter(kafka_bootstrap, test_topic):
    """Offsets restart at 0 in every partition: one letter is its partition and its offset."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for partition in (0, 1):  # each is offset 0 of its partition
            await producer.send_and_wait(
                f"{test_topic}.dlq",
                f"letter-{partition}".encode(),
                key=b"k",
                partition=partition,
                headers=[("dlq-source-topic", test_topic.encode())],
            )
    finally:
        await producer.stop()

    assert await replay(kafka_bootstrap, f"{test_topic}.dlq", {0}, partition=1) == 1
    replayed = await read_all(kafka_bootstrap, test_topic, expected=2, timeout=5)
    assert [r.value for r in replayed] == [b"letter-1"]
