"""The outbox relay against the real broker and database: no loss, order per key, restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import asyncpg
import pytest

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
    records = await read_all(kafka_bootstrap, test_topic, expected=10_000, timeout=60)
    report = check_delivery(records, ids)
    assert report["delivered"] == 10_000


async def _empty(pool: asyncpg.Pool) -> bool:
    return await outbox_count(pool) == 0


async def test_two_relays_at_once_never_reorder_a_key(
    kit_pool, kit_schema, database_url, kafka_bootstrap, test_topic
):
    first = start_relay(kit_schema, database_url, kafka_bootstrap)
    second = start_relay(kit_schema, database_url, kafka_bootstrap)
    relays = [first, second]
    try:
        writer = asyncio.create_task(
            write_stream(kit_pool, test_topic, total=4000, keys=25, per_tx=20, pause=0.005)
        )
        await read_all(kafka_bootstrap, test_topic, expected=1000, timeout=60)
        # Kill one of the two while both run: the other must take over its keys, in order.
        first.send_signal(signal.SIGKILL)
        first.wait()
        ids = await writer
        await wait_until(lambda: _empty(kit_pool))
    finally:
        for relay in relays:
            if relay.poll() is None:
                relay.terminate()
                relay.wait()
    records = await read_all(kafka_bootstrap, test_topic, expected=4000, timeout=60)
    assert check_delivery(records, ids)["delivered"] == 4000


async def test_outbox_rows_are_refused_outside_a_transaction(kit_pool, test_topic):
    from platform_events import new_envelope
    from platform_events.contracts.billing import InvoiceVoided
    from platform_kit.outbox import OutgoingEvent, add_to_outbox

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
