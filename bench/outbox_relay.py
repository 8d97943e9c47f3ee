"""Outbox -> Kafka: the relay beside the machine's ceiling and a naive relay, and its
commit-to-topic latency, in one run.

    uv run python bench/outbox_relay.py [--events 100000] [--naive-events 5000] [--rate 1000]

Needs the stack (`./dev stack start`; reads $STACK_STATE_DIR/stack.env or .state/stack.env, or
KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL). Prints its figures; asserts nothing.

0. Ceiling (bench/ceilings.py): the same N records produced by an idempotent transactional
   producer (1,000 per transaction, as the relay batches), and the same rows COPYd into a logged
   table. The relay's ceiling is the slower of the two.
1. Throughput: N rows already in the outbox; time until the relay has published them all.
2. The naive relay on the same machine in the same run: poll one row, publish it, wait for the ack,
   delete it, repeat.
3. Latency: a writer commits one event per transaction at --rate events/s for --seconds; a
   read-committed consumer notes when each arrives. Latency = arrival on the topic - the writer's
   commit returning. Twice: the relay in the bench's own process (beside the writer and the
   consumer, on one event loop), then in a process of its own (`python -m platform_kit.relay`),
   as a service's relay has its own event loop apart from any load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import ceilings
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from harness import create_topics, load_env, machine_load, percentile

from platform_events import new_envelope
from platform_events.contracts.billing import InvoiceVoided
from platform_kit.db import KIT_MIGRATION_PACKAGE, apply_migrations, create_pool, load_migrations
from platform_kit.kafka import idempotent_producer
from platform_kit.outbox import OutgoingEvent, add_to_outbox, kafka_headers
from platform_kit.relay import OutboxRelay
from platform_kit.serve import tune_garbage_collector


def event(topic: str, i: int, keys: int = 100) -> OutgoingEvent:
    key = f"cust-{i % keys}"
    envelope = new_envelope(
        InvoiceVoided(customer_id=key, invoice_id=f"inv-{i}"),
        source="bench",
        subject=key,
        tenant_id="bench",
        sequence=i // keys + 1,
    )
    return OutgoingEvent(envelope, topic, key)


async def fresh_schema(dsn: str) -> tuple[str, asyncpg.Pool]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(dsn, schema, min_size=2, max_size=6)
    await apply_migrations(pool, schema, load_migrations(KIT_MIGRATION_PACKAGE))
    return schema, pool


async def new_topic(bootstrap: str) -> str:
    name = f"bench.outbox.{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [name])
    return name


async def fill(pool: asyncpg.Pool, topic: str, n: int) -> None:
    for start in range(0, n, 5000):
        async with pool.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, [event(topic, i) for i in range(start, min(n, start + 5000))])


async def wait_empty(pool: asyncpg.Pool) -> None:
    while await pool.fetchval("SELECT EXISTS (SELECT 1 FROM outbox)"):
        await asyncio.sleep(0.01)


async def relay_throughput(bootstrap: str, dsn: str, n: int) -> float:
    schema, pool = await fresh_schema(dsn)
    topic = await new_topic(bootstrap)
    await fill(pool, topic, n)
    relay = OutboxRelay(dsn=dsn, schema=schema, bootstrap=bootstrap, service="bench")
    started = time.perf_counter()
    relay.start()
    await wait_empty(pool)
    elapsed = time.perf_counter() - started
    await relay.stop()
    await drop(pool, schema)
    return n / elapsed


async def naive_throughput(bootstrap: str, dsn: str, n: int) -> float:
    schema, pool = await fresh_schema(dsn)
    topic = await new_topic(bootstrap)
    await fill(pool, topic, n)
    producer = idempotent_producer(bootstrap, "bench-naive", linger_ms=0)
    await producer.start()
    started = time.perf_counter()
    async with pool.acquire() as conn:
        while True:
            row = await conn.fetchrow(
                "SELECT id, topic, key, payload FROM outbox ORDER BY id LIMIT 1"
            )
            if row is None:
                break
            await producer.send_and_wait(
                row["topic"], bytes(row["payload"]), key=row["key"].encode()
            )
            await conn.execute("DELETE FROM outbox WHERE id = $1", row["id"])
    elapsed = time.perf_counter() - started
    await producer.stop()
    await drop(pool, schema)
    return n / elapsed


class TimedRelay(OutboxRelay):
    """The relay, noting how long each wake-up took to start a batch and each batch took (select,
    one Kafka transaction, delete): where a commit's way to the topic spends its time."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.notified_at: float | None = None
        self.wake_ms: list[float] = []
        self.batch_ms: list[float] = []
        self.batch_sizes: list[int] = []
        self.written_per_s = 0.0  # the rate the writer achieved (set by latency_at_rate)

    def _on_notify(self, *args: Any) -> None:
        if self.notified_at is None:
            self.notified_at = time.perf_counter()
        super()._on_notify(*args)

    async def publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        started = time.perf_counter()
        if self.notified_at is not None:
            self.wake_ms.append((started - self.notified_at) * 1000)
            self.notified_at = None
        sent = await super().publish_batch(conn, producer)
        if sent:
            self.batch_ms.append((time.perf_counter() - started) * 1000)
            self.batch_sizes.append(sent)
        return sent

    def summary(self) -> str:
        return (
            f"notify -> batch start p50 {percentile(self.wake_ms, 50):.1f} ms, "
            f"p99 {percentile(self.wake_ms, 99):.1f} ms; batch (select, Kafka transaction, "
            f"delete) p50 {percentile(self.batch_ms, 50):.1f} ms, p99 "
            f"{percentile(self.batch_ms, 99):.1f} ms; {len(self.batch_ms):,} batches, "
            f"p50 {percentile([float(n) for n in self.batch_sizes], 50):.0f} events"
        )


def relay_process(bootstrap: str, dsn: str, schema: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "platform_kit.relay", "--schema", schema, "--dsn", dsn,
         "--bootstrap", bootstrap],
    )  # fmt: skip


async def latency_at_rate(
    bootstrap: str, dsn: str, rate: int, seconds: float, own_process: bool = False
) -> tuple[list[float], TimedRelay]:
    schema, pool = await fresh_schema(dsn)
    topic = await new_topic(bootstrap)
    relay = TimedRelay(dsn=dsn, schema=schema, bootstrap=bootstrap, service="bench")
    proc = relay_process(bootstrap, dsn, schema) if own_process else None
    if proc is None:
        relay.start()
    else:  # its first batch published means it is up (the consumer reads that one too)
        async with pool.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, [event(topic, -1)])
        await asyncio.wait_for(wait_empty(pool), 120)
    writers = await create_pool(dsn, schema, min_size=16, max_size=32)
    committed: dict[str, float] = {}
    arrived: dict[str, float] = {}
    total = int(rate * seconds)
    expected = total + (1 if proc else 0)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        fetch_max_wait_ms=5,
        isolation_level="read_committed",  # what every platform consumer sees
    )
    await consumer.start()

    async def consume() -> None:
        while len(arrived) < expected:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    arrived[json.loads(record.value)["id"]] = now

    async def write_one(i: int) -> None:
        outgoing = event(topic, i)
        async with writers.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, [outgoing])
        committed[str(outgoing.envelope.id)] = time.perf_counter()

    async def write() -> None:
        """Open loop: each commit starts at its scheduled time, whether or not earlier ones have
        finished (a slow commit does not lower the offered rate)."""
        started = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(write_one(i)))
        await asyncio.gather(*tasks)

    consumer_task = asyncio.create_task(consume())
    write_started = time.perf_counter()
    await write()
    relay.written_per_s = total / (time.perf_counter() - write_started)
    await asyncio.wait_for(consumer_task, 60)
    await consumer.stop()
    await writers.close()
    if proc is None:
        await relay.stop()
    else:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    await drop(pool, schema)
    return [arrived[i] - committed[i] for i in committed], relay


async def drop(pool: asyncpg.Pool, schema: str) -> None:
    await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await pool.close()


def outbox_records(topic: str, n: int) -> list[ceilings.Record]:
    """The relay's records for `n` outbox rows: the same payload, key and headers."""
    records = []
    for i in range(n):
        e = event(topic, i)
        headers = [(k, v.encode()) for k, v in kafka_headers(e.envelope).items()]
        records.append((e.envelope.model_dump_json().encode(), e.key.encode(), headers))
    return records


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--naive-events", type=int, default=5_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--latency-only", action="store_true")
    args = parser.parse_args()
    bootstrap, dsn = load_env()
    print(f"machine: {machine_load()} at start")

    if not args.latency_only:
        ceiling = await ceilings.measure(bootstrap, dsn, outbox_records("ceiling", args.events))
        limit = min(ceiling.produce, ceiling.copy_rows)
        print(f"ceiling on this stack, {args.events:,} records:")
        print("\n".join(ceiling.lines()))
        relay_rate = await relay_throughput(bootstrap, dsn, args.events)
        print(
            f"relay throughput : {relay_rate:,.0f} events/s ({args.events:,} events) = "
            f"{relay_rate / limit:.0%} of the ceiling ({limit:,.0f}/s)"
        )
        naive_rate = await naive_throughput(bootstrap, dsn, args.naive_events)
        print(f"naive throughput : {naive_rate:,.0f} events/s ({args.naive_events:,} events)")
        print(f"relay / naive    : {relay_rate / naive_rate:.1f}x")
    for own_process in (False, True):
        seconds, relay = await latency_at_rate(bootstrap, dsn, args.rate, args.seconds, own_process)
        ms = [v * 1000 for v in seconds]
        where = "its own process" if own_process else "the writer's process"
        print(
            f"commit->topic at {args.rate}/s offered ({relay.written_per_s:,.0f}/s achieved) "
            f"for {args.seconds:.0f}s, relay in {where} "
            f"({len(ms):,} events): p50 {percentile(ms, 50):.1f} ms, "
            f"p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms"
        )
        if not own_process:
            print(f"  where it goes: {relay.summary()}")
    print(f"machine: {machine_load()} at end")


if __name__ == "__main__":
    # As the services run (platform_kit/serve.py): the ceiling is what the same runtime allows.
    tune_garbage_collector()
    uvloop.run(main())
