"""Fault test: SIGKILL the billing process at random points while 100,000 events stream in,
restart it each time, and check every balance equals the totals computed from the source events.

The stream carries re-sends (same id, new id), conflicts (same natural key, other content), two
customers created only mid-stream (their earlier transactions wait for them) and a credit-limit
change. Kills happen when the applied count crosses random thresholds spread over the run, each
one after the restarted process has made progress, so no kill lands in start-up.
BILLING_FAULT_EVENTS / BILLING_FAULT_KILLS override the size, BILLING_FAULT_SEED the seed (the
failure message names it).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from billing_sandbox import Sandbox, applied, start_service, wait_applied
from billing_workload import (
    build_workload,
    check_exactly_once,
    credit_limit_envelope,
    customer_envelopes,
    late_customer_envelopes,
    send,
    stream,
)

from tests.billing.support import wait_for
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("BILLING_FAULT_EVENTS", "100000"))
KILLS = int(os.environ.get("BILLING_FAULT_KILLS", "4"))
CUSTOMERS = 200
PACE = 8_000  # events/s the producer streams at, so the first kills land while it still sends


def kill_thresholds(rnd: random.Random, total: int, kills: int) -> list[int]:
    """One random threshold in each of `kills` equal slices of 5%..95% of the run."""
    low, high = int(total * 0.05), int(total * 0.95)
    width = (high - low) // kills
    return [rnd.randrange(low + i * width, low + (i + 1) * width) for i in range(kills)]


async def wait_until(pool: asyncpg.Pool, tenant: str, threshold: int, after_restart: int) -> int:
    """Wait until `threshold` entries are applied and the current process applied some itself."""
    while True:
        count = await applied(pool, tenant)
        if count >= threshold and count > after_restart:
            return count
        await asyncio.sleep(0.02)


async def test_sigkill_at_random_points_loses_and_doubles_nothing(
    database_url: str, kafka_bootstrap: str
) -> None:
    seed = int(os.environ.get("BILLING_FAULT_SEED", random.randrange(1 << 30)))  # to replay one
    rnd = random.Random(seed)
    box = Sandbox.new("fault")
    await box.create_topics(kafka_bootstrap, partitions=3)
    pool = await box.pool(database_url)
    w = build_workload(
        EVENTS, CUSTOMERS, seed=seed, resend_rate=0.03, conflict_rate=0.005, late_customers=2
    )
    env = box.env(kafka_bootstrap, database_url, free_port())
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    await send(producer, box.customer_topic, customer_envelopes(w))

    started = time.monotonic()
    customer_facts = [  # (after this many items were sent, customer events to send)
        (len(w.items) * 3 // 10, late_customer_envelopes(w)),
        (len(w.items) // 2, [credit_limit_envelope(w, "c5", 10_000)]),
    ]

    async def mid_stream(sent: int) -> None:
        while customer_facts and sent >= customer_facts[0][0]:
            await send(producer, box.customer_topic, customer_facts.pop(0)[1])
        await asyncio.sleep(max(0.0, sent / PACE - (time.monotonic() - started)))

    proc: subprocess.Popen[bytes] = start_service(env)
    kills: list[int] = []
    try:
        await wait_for(
            lambda: pool.fetchval("SELECT count(*) = $1 FROM customers", CUSTOMERS - 2),
            timeout=60,
        )
        sending = asyncio.create_task(
            stream(kafka_bootstrap, box.tx_topic, w, chunk=1000, on_sent=mid_stream)
        )
        at_restart = 0
        for threshold in kill_thresholds(rnd, w.unique, KILLS):
            kills.append(await wait_until(pool, w.tenant, threshold, at_restart))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            at_restart = await applied(pool, w.tenant)
            proc = start_service(env)
        await sending
        await wait_applied(pool, w.tenant, w.unique, timeout=180)
        await asyncio.sleep(1)  # anything still in flight would now show up as a double

        assert len(kills) == KILLS and all(0 < k < w.unique for k in kills), (seed, kills)
        assert await check_exactly_once(pool, w) == [], seed
        counts = await pool.fetchrow(
            """SELECT (SELECT count(*) FROM ledger_entries WHERE tenant_id = $1) AS entries,
                      (SELECT count(*) FROM conflicts WHERE tenant_id = $1) AS conflicts,
                      (SELECT count(*) FROM pending_transactions) AS pending,
                      (SELECT count(*) FROM rejections) AS rejections""",
            w.tenant,
        )
        assert dict(counts) == {
            "entries": w.unique,
            "conflicts": w.conflicts,
            "pending": 0,
            "rejections": 0,
        }, seed
    finally:
        await producer.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        await box.drop(pool)
