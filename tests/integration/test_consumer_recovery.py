"""The consumer under failure, against the real broker and database: a handler bug on every event,
a programming error that looks like a connection problem, database connections killed mid-stream,
and a stalled batch (lag must keep growing, per partition)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY

from platform_events import new_envelope
from platform_events.contracts.billing import InvoiceVoided
from platform_kit.consumer import ConsumerRunner
from platform_kit.inbox import InboundEvent
from platform_kit.kafka import decode_headers
from tests.support.kafka_io import publish_events, publish_raw, read_all

pytestmark = pytest.mark.integration


def voided(customer: str, invoice: str) -> bytes:
    envelope = new_envelope(
        InvoiceVoided(customer_id=customer, invoice_id=invoice),
        source="test",
        subject=customer,
        tenant_id="t1",
        sequence=1,
    )
    return envelope.model_dump_json().encode()


@pytest.fixture
async def applied_table(kit_pool: asyncpg.Pool) -> asyncpg.Pool:
    # No unique key: an event applied twice would show as two rows.
    await kit_pool.execute("CREATE TABLE applied (event_id uuid NOT NULL, invoice_id text)")
    return kit_pool


class RecordsEvents:
    """Records every applied event; `bug-*` invoices hit a handler bug, `typo-*` a wrong query."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause

    async def apply(self, conn: asyncpg.Connection, event: InboundEvent) -> None:
        data = event.data
        assert isinstance(data, InvoiceVoided)
        if data.invoice_id.startswith("bug-"):
            await asyncio.sleep(0.15)
            raise RuntimeError("handler bug")
        if data.invoice_id.startswith("typo-"):
            await conn.fetchval("SELECT $1::int", 1, 2)  # asyncpg.InterfaceError: argument count
        if self.pause:
            await conn.execute("SELECT pg_sleep($1)", self.pause)
        await conn.execute(
            "INSERT INTO applied (event_id, invoice_id) VALUES ($1, $2)",
            event.envelope.id,
            data.invoice_id,
        )


async def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def applied_count(pool: asyncpg.Pool, prefix: str = ""):  # type: ignore[no-untyped-def]
    async def count() -> int:
        return int(
            await pool.fetchval(
                "SELECT count(*) FROM applied WHERE invoice_id LIKE $1", prefix + "%"
            )
        )

    return count


async def test_a_handler_failing_every_event_dead_letters_each_once_and_moves_on(
    applied_table, kafka_bootstrap, test_topic, caplog
):
    """Two members of one group. A poll's worth of failing events (2 attempts x 0.15 s each) takes
    far longer than the 6 s poll interval: a member that only commits once the whole poll is
    resolved gets evicted, its partitions move to the other member, and every event is
    dead-lettered again. Committing as it goes and cutting the poll short prevents that."""
    group = f"livelock-{uuid.uuid4().hex[:6]}"
    runners = [
        ConsumerRunner(
            name=f"{group}-{n}",
            group_id=group,
            topics=[test_topic],
            pool=applied_table,
            bootstrap=kafka_bootstrap,
            handler=RecordsEvents(),
            max_attempts=2,
            retry_base_seconds=0.05,
            max_poll_interval_ms=6000,
        )
        for n in range(2)
    ]
    caplog.set_level(logging.WARNING, logger="platform_kit.consumer")
    for runner in runners:
        runner.start()
    keys = [f"eve-{k}" for k in range(6)]
    try:

        async def both_assigned() -> bool:
            return all(r.consumer is not None and r.consumer.assignment() for r in runners)

        await wait_for(both_assigned, timeout=60)
        for key in keys:
            bugs = [voided(key, f"bug-{key}-{i}") for i in range(10)]
            await publish_raw(
                kafka_bootstrap, test_topic, [*bugs, voided(key, f"ok-{key}")], key=key.encode()
            )
        await wait_for(lambda: _equals(applied_count(applied_table, "ok-"), len(keys)), timeout=180)

        async def all_committed() -> bool:
            return sum((await committed_offsets(kafka_bootstrap, group)).values()) == 11 * len(keys)

        await wait_for(all_committed, timeout=60)
    finally:
        for runner in runners:
            await runner.stop()
    dead = await read_all(kafka_bootstrap, f"{test_topic}.dlq", expected=61, timeout=5)
    ids = Counter(json.loads(d.value)["id"] for d in dead)
    assert len(ids) == 10 * len(keys) and set(ids.values()) == {1}, "each dead-lettered once"
    assert {decode_headers(d.headers)["dlq-attempts"] for d in dead} == {"2"}
    assert any("poll cut short" in r.getMessage() for r in caplog.records)


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    finally:
        await admin.close()


async def _equals(count, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return bool(await count() == expected)


async def test_a_programming_error_is_dead_lettered_not_waited_out_as_an_outage(
    applied_table, kafka_bootstrap, test_topic
):
    await publish_raw(
        kafka_bootstrap, test_topic, [voided("fay", "typo-1"), voided("fay", "ok-1")], key=b"fay"
    )
    runner = ConsumerRunner(
        name=f"typo-{uuid.uuid4().hex[:6]}",
        topics=[test_topic],
        pool=applied_table,
        bootstrap=kafka_bootstrap,
        handler=RecordsEvents(),
        max_attempts=2,
        retry_base_seconds=0.05,
    )
    runner.start()
    try:
        await wait_for(lambda: _equals(applied_count(applied_table, "ok-"), 1), timeout=30)
    finally:
        await runner.stop()
    dead = await read_all(kafka_bootstrap, f"{test_topic}.dlq", expected=1)
    headers = decode_headers(dead[0].headers)
    assert headers["dlq-error-type"] == "InterfaceError"
    assert headers["dlq-attempts"] == "2"
    assert runner.outage_retries == 0


async def test_database_connections_killed_mid_stream_lose_nothing_and_apply_nothing_twice(
    applied_table, database_url, kit_schema, kafka_bootstrap, test_topic
):
    total = 1500
    items = [
        (InvoiceVoided(customer_id=f"c{i % 15}", invoice_id=f"inv-{i}"), f"c{i % 15}")
        for i in range(total)
    ]
    await publish_events(kafka_bootstrap, test_topic, items)
    app = f"consumer-under-test-{uuid.uuid4().hex[:6]}"
    consumer_pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=3,
        server_settings={"search_path": kit_schema, "application_name": app},
    )
    runner = ConsumerRunner(
        name=f"killed-{uuid.uuid4().hex[:6]}",
        topics=[test_topic],
        pool=consumer_pool,
        bootstrap=kafka_bootstrap,
        handler=RecordsEvents(pause=0.002),
        max_records=100,
    )
    admin = await asyncpg.connect(database_url)
    killed = 0
    runner.start()
    try:
        # Terminate the consumer's database sessions again and again while it works through the
        # stream, then let it finish.
        for _ in range(60):
            if killed >= 8 or await applied_count(applied_table)() >= total * 0.8:
                break
            await asyncio.sleep(0.4)
            killed += await admin.fetchval(
                """SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE application_name = $1 AND state <> 'idle') AS t""",
                app,
            )
        await wait_for(lambda: _equals(applied_count(applied_table), total), timeout=120)
    finally:
        await runner.stop()
        await consumer_pool.close()
        await admin.close()
    assert killed >= 3, "the test should have killed sessions in the middle of work"
    assert runner.outage_retries >= 1, "the consumer should have met the dead connections"
    rows = await applied_table.fetch("SELECT event_id FROM applied")
    assert len(rows) == total and len({r["event_id"] for r in rows}) == total
    assert runner.dead_lettered == 0
    assert await read_all(kafka_bootstrap, f"{test_topic}.dlq", expected=1, timeout=3) == []


class HoldsTheFirstBatch:
    def __init__(self) -> None:
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def apply(self, conn: asyncpg.Connection, event: InboundEvent) -> None:
        data = event.data
        assert isinstance(data, InvoiceVoided)
        if data.invoice_id == "hold":
            self.holding.set()
            await self.release.wait()
        await conn.execute(
            "INSERT INTO applied (event_id, invoice_id) VALUES ($1, $2)",
            event.envelope.id,
            data.invoice_id,
        )


def lag_samples(consumer: str, topic: str) -> dict[str, float]:
    samples = {}
    for partition in range(3):
        value = REGISTRY.get_sample_value(
            "platform_consumer_lag",
            {"consumer": consumer, "topic": topic, "partition": str(partition)},
        )
        if value is not None:
            samples[str(partition)] = value
    return samples


async def test_consumer_lag_is_per_partition_and_keeps_growing_while_a_batch_is_stuck(
    applied_table, kafka_bootstrap, test_topic
):
    first = [(InvoiceVoided(customer_id="k0", invoice_id="hold"), "k0")]
    first += [(InvoiceVoided(customer_id=f"k{i}", invoice_id=f"a-{i}"), f"k{i}") for i in range(9)]
    await publish_events(kafka_bootstrap, test_topic, first)
    handler = HoldsTheFirstBatch()
    runner = ConsumerRunner(
        name=f"lag-{uuid.uuid4().hex[:6]}",
        topics=[test_topic],
        pool=applied_table,
        bootstrap=kafka_bootstrap,
        handler=handler,
        lag_interval_seconds=0.2,
    )
    runner.start()
    try:
        await asyncio.wait_for(handler.holding.wait(), 30)
        more = [
            (InvoiceVoided(customer_id=f"k{i}", invoice_id=f"b-{i}"), f"k{i}") for i in range(30)
        ]
        await publish_events(kafka_bootstrap, test_topic, more)

        async def lag_shows_everything() -> bool:
            samples = lag_samples(runner.name, test_topic)
            return len(samples) == 3 and sum(samples.values()) == len(first) + len(more)

        await wait_for(lag_shows_everything, timeout=30)  # all 3 partitions, none processed
        handler.release.set()
        await wait_for(lambda: _equals(applied_count(applied_table), len(first) + len(more)))

        async def lag_is_zero() -> bool:
            samples = lag_samples(runner.name, test_topic)
            return len(samples) == 3 and sum(samples.values()) == 0

        await wait_for(lag_is_zero, timeout=30)
    finally:
        handler.release.set()
        await runner.stop()
