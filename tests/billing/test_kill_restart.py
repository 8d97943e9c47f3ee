"""Fault test: SIGKILL the billing process at random points while events stream in, restart it,
and check every balance equals the totals computed from the source events.

CI streams 20,000 events (BILLING_FAULT_EVENTS overrides; the issue's 100,000 run is
`BILLING_FAULT_EVENTS=100000 uv run pytest tests/billing/test_kill_restart.py`).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess

import pytest

from bench.billing_ingest import (
    Sandbox,
    build_workload,
    check_exactly_once,
    customer_envelopes,
    free_port,
    send,
    start_service,
    stream,
    wait_applied,
)
from tests.billing.support import wait_for

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("BILLING_FAULT_EVENTS", "20000"))
KILLS = int(os.environ.get("BILLING_FAULT_KILLS", "3"))


async def test_sigkill_at_random_points_loses_and_doubles_nothing(
    database_url: str, kafka_bootstrap: str
) -> None:
    box = Sandbox.new("fault")
    await box.create_topics(kafka_bootstrap, partitions=3)
    pool = await box.pool(database_url)
    w = build_workload(EVENTS, 200, seed=random.randrange(1 << 30))
    env = box.env(kafka_bootstrap, database_url, free_port())
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    await send(producer, box.customer_topic, customer_envelopes(w))
    await producer.stop()

    proc: subprocess.Popen[bytes] = start_service(env)
    try:
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 200 FROM customers"), timeout=60)
        sending = asyncio.create_task(stream(kafka_bootstrap, box.tx_topic, w, chunk=500))
        kills = 0
        rnd = random.Random()
        while kills < KILLS:
            # Random points: some kills land mid-batch, some between commit and offset commit.
            await asyncio.sleep(rnd.uniform(0.3, 2.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills += 1
            proc = start_service(env)
        await sending
        await wait_applied(pool, w.tenant, w.unique, timeout=180)
        await asyncio.sleep(1)  # anything still in flight would now show up as a double
        assert await check_exactly_once(pool, w) == []
        entries = await pool.fetchval(
            "SELECT count(*) FROM ledger_entries WHERE tenant_id = $1", w.tenant
        )
        assert entries == w.unique
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        await box.drop(pool)
