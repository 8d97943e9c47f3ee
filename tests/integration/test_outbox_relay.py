"""The outbox relay against the real broker and database: no loss, order per key, restarts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from platform_events import new_envelope
from platform_events.contracts.billing import InvoiceVoided
from platform_kit.outbox import OutgoingEvent, add_to_outbox
from platform_kit.relay import OutboxRelay
from tests.support.kafka_io import read_all
from tests.support.outbox_stream import check_delivery, write_stream

pytestmark = pytest.mark.integration


def start_relay(schema: str, database_url: str, bootstrap: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.Popen(
        [sys.executable, "-m", "platform_kit.relay", "--schema", schema, "--batch-size", "200"],
        env=env,
    )


async def outbox_count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox"))


async def wait_until(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_relay_killed_mid_stream_loses_nothing_and_keeps_key_order(
    kit_pool, kit_schema, database_url, kafka_bootstrap, test_topic
):
    relay = start_relay(kit_schema, database_url, kafka_bootstrap)
    writer = asyncio.create_task(
        write_stream(kit_pool, test_topic, total=10_000, keys=40, per_tx=50, pause=0.005)
    )
    # Let the relay publish part of the stream, then kill it without warning.
    published = await read_all(kafka_bootstrap, test_topic, expected=2000, timeout=60)
    assert len(published) >= 2000
    relay.send_signal(signal.SIGKILL)
    relay.wait()
    assert not writer.done(), "the stream should still be flowing when the relay dies"
    await asyncio.sleep(0.5)  # rows keep piling up in the outbox while no relay runs
    assert await outbox_count(kit_pool) > 0

    relay = start_relay(kit_schema, database_url, kafka_bootstrap)
    try:
        ids = await writer
        await wait_until(lambda: _empty(kit_pool))
    finally:
        relay.terminate()
        relay.wait()
    records = await read_all(
        kafka_bootstrap, test_topic, expected=10_000, timeout=60, committed_only=True
    )
    report = check_delivery(records, ids)
    assert report["delivered"] == 10_000


async def _empty(pool: asyncpg.Pool) -> bool:
    return await outbox_count(pool) == 0


async def buckets_by_relay(pool: asyncpg.Pool, schema: str) -> dict[int, int]:
    """OS pid of each relay process -> how many buckets it holds, from pg_locks."""
    rows = await pool.fetch(
        """SELECT a.application_name AS app, count(*) AS n
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
              AND l.classid = (hashtext('outbox:' || $1)::bigint & 4294967295)::oid
            GROUP BY a.application_name""",
        schema,
    )
    return {int(r["app"].rsplit("pid=", 1)[1]): int(r["n"]) for r in rows}


async def wait_for_shares(pool: asyncpg.Pool, schema: str, expected: dict[int, int]) -> None:
    async def shared() -> bool:
        return await buckets_by_relay(pool, schema) == expected

    await wait_until(shared, timeout=30)


async def test_relays_share_the_buckets_and_a_killed_holder_hands_over_without_reordering(
    kit_pool, kit_schema, database_url, kafka_bootstrap, test_topic
):
    first = start_relay(kit_schema, database_url, kafka_bootstrap)
    second = start_relay(kit_schema, database_url, kafka_bootstrap)
    relays = [first, second]
    try:
        await wait_for_shares(kit_pool, kit_schema, {first.pid: 8, second.pid: 8})
        writer = asyncio.create_task(
            write_stream(kit_pool, test_topic, total=6000, keys=25, per_tx=20, pause=0.01)
        )
        await read_all(kafka_bootstrap, test_topic, expected=1000, timeout=60)
        # Kill a relay that really holds buckets, in the middle of the stream.
        holders = await buckets_by_relay(kit_pool, kit_schema)
        victim = next(r for r in relays if holders.get(r.pid, 0) > 0)
        survivor = second if victim is first else first
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert not writer.done(), "the stream should still be flowing when the relay dies"
        await wait_for_shares(kit_pool, kit_schema, {survivor.pid: 16})
        # A new relay joins: the buckets are shared again.
        third = start_relay(kit_schema, database_url, kafka_bootstrap)
        relays.append(third)
        await wait_for_shares(kit_pool, kit_schema, {survivor.pid: 8, third.pid: 8})
        ids = await writer
        await wait_until(lambda: _empty(kit_pool))
    finally:
        for relay in relays:
            if relay.poll() is None:
                relay.terminate()
                relay.wait()
    records = await read_all(
        kafka_bootstrap, test_topic, expected=6000, timeout=60, committed_only=True
    )
    assert check_delivery(records, ids)["delivered"] == 6000


async def test_a_failed_send_never_lets_a_later_event_of_its_key_overtake_it(
    kit_pool, kit_schema, database_url, kafka_bootstrap
):
    """The topic refuses the first event (too large) until its limit is raised. aiokafka's
    producer still delivers the later batches of the same partition (the refused one was the
    producer's first there), so without a transaction the key would arrive 2, 3, 4, 1, 2, 3, 4."""
    topic = f"test.{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "100000"})]
        )
        events = [
            OutgoingEvent(
                new_envelope(
                    InvoiceVoided(customer_id="k", invoice_id="x" * size),
                    source="t",
                    subject="k",
                    tenant_id="t",
                    sequence=sequence,
                ),
                topic,
                "k",
            )
            for sequence, size in [(1, 300_000), (2, 10), (3, 10), (4, 10)]
        ]
        async with kit_pool.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, events)
        relay = OutboxRelay(
            dsn=database_url, schema=kit_schema, bootstrap=kafka_bootstrap, service="t"
        )
        relay.start()
        try:
            await asyncio.sleep(3)
            assert await outbox_count(kit_pool) == 4, "the first send must have been refused"
            await admin.alter_configs(
                [
                    ConfigResource(
                        ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": "2000000"}
                    )
                ]
            )
            await wait_until(lambda: _empty(kit_pool))
        finally:
            await relay.stop()
    finally:
        await admin.close()
    records = await read_all(kafka_bootstrap, topic, expected=4, timeout=10, committed_only=True)
    assert [json.loads(r.value)["sequence"] for r in records] == [1, 2, 3, 4]


async def test_outbox_rows_are_refused_outside_a_transaction(kit_pool, test_topic):
    envelope = new_envelope(
        InvoiceVoided(customer_id="c", invoice_id="i"),
        source="t",
        subject="c",
        tenant_id="t",
        sequence=1,
    )
    async with kit_pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            await add_to_outbox(conn, [OutgoingEvent(envelope, test_topic, "c")])
    assert await outbox_count(kit_pool) == 0
