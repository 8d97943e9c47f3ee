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
   read-committed consumer in a process of its own notes when each arrives. Latency = arrival on
   the topic - the writer's commit returning. Twice: the relay in the writer's process (on its
   event loop, as a service hosts its relay), then in a process of its own
   (`python -m platform_kit.relay`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, cast

import asyncpg
import ceilings
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.producer import sender
from harness import CpuMeter, create_topics, load_env, machine_load, percentile, stack_pids

from platform_events import new_envelope
from platform_events.contracts.billing import InvoiceVoided
from platform_kit import relay
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


class Batch:
    """One batch's clock: start, rows selected (and the previous batch's deleted), records sent
    and acked, transaction committed (perf_counter seconds), and its events' ids."""

    __slots__ = ("acked", "committed", "ids", "selected", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.selected = self.acked = self.committed = start
        self.ids: list[str] = []


class _TimedConnection:
    """The relay's connection, noting when its select returns and what it selected."""

    def __init__(self, conn: asyncpg.Connection, batch: Batch) -> None:
        self._conn = conn
        self._batch = batch

    async def fetch(self, *args: Any) -> Any:
        rows = await self._conn.fetch(*args)
        self._batch.selected = time.perf_counter()
        self._batch.ids = [str(row["event_id"]) for row in rows]
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _TimedTransaction:
    def __init__(self, producer: AIOKafkaProducer, batch: Batch) -> None:
        self._inner = producer.transaction()
        self._batch = batch

    async def __aenter__(self) -> _TimedTransaction:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._batch.acked = time.perf_counter()
        await self._inner.__aexit__(*exc)
        self._batch.committed = time.perf_counter()


class _TimedProducer:
    """The relay's producer, noting when the batch's records are acked and its transaction
    committed."""

    def __init__(self, producer: AIOKafkaProducer, batch: Batch) -> None:
        self._producer = producer
        self._batch = batch

    def transaction(self) -> _TimedTransaction:
        return _TimedTransaction(self._producer, self._batch)

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        return await self._producer.send(*args, **kwargs)


class AddPartitionsRetries:
    """Counts aiokafka's retried AddPartitionsToTxn requests: the broker answers
    CONCURRENT_TRANSACTIONS while the previous transaction's commit markers are still being
    written, and aiokafka then waits 20 ms (sender.BACKOFF_OVERRIDE) before it asks again."""

    count = 0

    @classmethod
    def install(cls) -> None:
        original = sender.AddPartitionsToTxnHandler.handle_response

        def counted(handler: Any, response: Any) -> Any:
            backoff = original(handler, response)
            if backoff is not None:
                cls.count += 1
            return backoff

        sender.AddPartitionsToTxnHandler.handle_response = counted  # type: ignore[method-assign]


class TimedRelay(OutboxRelay):
    """The relay, with a clock on each batch (select, records sent and acked, transaction
    committed), so each event's way from the writer's commit to the consumer can be
    split into its steps."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batches: list[Batch] = []
        self.written_per_s = 0.0  # the rate the writer achieved (set by latency_at_rate)

    async def publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        batch = Batch(time.perf_counter())
        sent = await super().publish_batch(
            cast(Any, _TimedConnection(conn, batch)), cast(Any, _TimedProducer(producer, batch))
        )
        if sent:
            self.batches.append(batch)
        return sent


STEPS = (
    "commit -> batch start",
    "select",
    "send + ack",
    "commit txn",
    "txn -> consumer",
)


def split(
    batches: list[Batch], retries: int, committed: dict[str, float], arrived: dict[str, float]
) -> list[str]:
    """Per event, how long each step took (ms, p50 / p99), and the batches' sizes and length."""
    steps: dict[str, list[float]] = {step: [] for step in STEPS}
    for b in batches:
        for event_id in b.ids:
            if event_id not in committed or event_id not in arrived:
                continue
            times = (committed[event_id], b.start, b.selected, b.acked, b.committed,
                     arrived[event_id])  # fmt: skip
            for step, (before, after) in zip(STEPS, itertools.pairwise(times), strict=True):
                steps[step].append((after - before) * 1000)
    sizes = [float(len(b.ids)) for b in batches]
    lengths = [(b.committed - b.start) * 1000 for b in batches]
    return [
        "  per event: "
        + "; ".join(
            f"{step} {percentile(v, 50):.1f} / {percentile(v, 99):.1f}" for step, v in steps.items()
        )
        + " ms (p50 / p99)",
        f"  {len(batches):,} batches of p50 {percentile(sizes, 50):.0f} / max {max(sizes, default=0):.0f} "
        f"events, select to commit p50 {percentile(lengths, 50):.1f} ms, "
        f"p99 {percentile(lengths, 99):.1f} ms; AddPartitionsToTxn retried {retries:,} times",
    ]


def relay_process(bootstrap: str, dsn: str, schema: str, batch_log: str) -> subprocess.Popen[bytes]:
    """The relay in a process of its own, run as `python -m platform_kit.relay` runs it
    (relay.serve), with the batch clock (TimedRelay) written to `batch_log` when it stops."""
    return subprocess.Popen(
        [sys.executable, __file__, "--serve-relay", schema, "--batch-log", batch_log],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": dsn},
    )


def serve_relay(schema: str, batch_log: str) -> None:
    bootstrap, dsn = load_env()
    timed = TimedRelay(dsn=dsn, schema=schema, bootstrap=bootstrap, service=f"relay-{schema}")
    relay.serve(timed)
    clocks = [[b.start, b.selected, b.acked, b.committed, b.ids] for b in timed.batches]
    Path(batch_log).write_text(
        json.dumps({"batches": clocks, "retries": AddPartitionsRetries.count})
    )


def read_batch_log(path: str) -> tuple[list[Batch], int]:
    log = json.loads(Path(path).read_text())
    batches = []
    for start, selected, acked, committed, ids in log["batches"]:
        b = Batch(start)
        b.selected, b.acked, b.committed, b.ids = selected, acked, committed, ids
        batches.append(b)
    return batches, log["retries"]


def consumer_process(
    bootstrap: str, topic: str, expected: int, arrivals_log: str
) -> subprocess.Popen[str]:
    """The measuring consumer in a process of its own, so that neither the 1,000/s writer nor a
    relay in the writer's process delays the moment it notes an event's arrival. It prints a line
    once it is fetching and one when it has every event, then writes {event id: arrival (perf_counter, the machine's monotonic
    clock, the same in every process)} to `arrivals_log`."""
    return subprocess.Popen(
        [sys.executable, __file__, "--consume", topic, str(expected), arrivals_log],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
        stdout=subprocess.PIPE,
        text=True,
    )


async def consume(topic: str, expected: int) -> dict[str, float]:
    """Reads the topic read-committed, as every platform consumer does, long-polling with their
    defaults (the broker answers a waiting fetch as soon as a commit makes records readable), and
    notes each event's arrival as soon as its fetch is handed over."""
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=500,
        isolation_level="read_committed",
    )
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in await consumer._client._wait_on_metadata(topic)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    for tp in partitions:
        await consumer.position(tp)
    print("ready", flush=True)
    arrived: dict[str, float] = {}
    while len(arrived) < expected:
        batch = await consumer.getmany(timeout_ms=1000)
        now = time.perf_counter()
        for records in batch.values():
            for record in records:
                arrived[json.loads(record.value)["id"]] = now
    print("done", flush=True)
    await consumer.stop()
    return arrived


def read_arrivals(path: str) -> dict[str, float]:
    arrived: dict[str, float] = json.loads(Path(path).read_text())
    os.unlink(path)
    return arrived


async def latency_at_rate(
    bootstrap: str, dsn: str, rate: int, seconds: float, own_process: bool = False
) -> tuple[list[float], list[str], float]:
    """(commit-to-topic latencies, where they went, the commit rate the writer achieved)."""
    schema, pool = await fresh_schema(dsn)
    topic = await new_topic(bootstrap)
    relay_in_bench = TimedRelay(dsn=dsn, schema=schema, bootstrap=bootstrap, service="bench")
    batch_log = f"/tmp/outbox-relay-{schema}.json"
    proc = relay_process(bootstrap, dsn, schema, batch_log) if own_process else None
    if proc is None:
        retries_before = AddPartitionsRetries.count
        relay_in_bench.start()
    else:  # its first batch published means it is up (the consumer reads that one too)
        async with pool.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, [event(topic, -1)])
        await asyncio.wait_for(wait_empty(pool), 120)
    # The writer's own cost is kept small, as it shares the 2 cores with what it measures: the
    # events are built before the clock starts, and each commit takes a connection of its own
    # from a queue (a pool's release would add a reset round trip per commit).
    writers: asyncio.Queue[asyncpg.Connection] = asyncio.Queue()
    for _ in range(32):
        writers.put_nowait(await asyncpg.connect(dsn, server_settings={"search_path": schema}))
    committed: dict[str, float] = {}
    arrivals_log = f"/tmp/outbox-arrivals-{schema}.json"
    total = int(rate * seconds)
    expected = total + (1 if proc else 0)
    consumer = consumer_process(bootstrap, topic, expected, arrivals_log)
    await asyncio.get_running_loop().run_in_executor(None, consumer.stdout.readline)  # "ready"

    events = [event(topic, i) for i in range(total)]

    async def write_one(outgoing: OutgoingEvent) -> None:
        conn = await writers.get()
        try:
            async with conn.transaction():
                await add_to_outbox(conn, [outgoing])
            committed[str(outgoing.envelope.id)] = time.perf_counter()
        finally:
            writers.put_nowait(conn)

    async def write() -> None:
        """Open loop: each commit starts at its scheduled time, whether or not earlier ones have
        finished (a slow commit does not lower the offered rate)."""
        started = time.perf_counter()
        tasks = []
        for i, outgoing in enumerate(events):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(write_one(outgoing)))
        await asyncio.gather(*tasks)

    cpu = CpuMeter(
        {
            **stack_pids(),
            **({"relay": [proc.pid]} if proc else {}),
            "writer" if proc else "writer + relay": [os.getpid()],
            "consumer": [consumer.pid],
        }
    )
    cpu.start()
    write_started = time.perf_counter()
    await write()
    written_per_s = total / (time.perf_counter() - write_started)
    await asyncio.get_running_loop().run_in_executor(None, consumer.stdout.readline)  # "done"
    cpu.stop()
    await asyncio.get_running_loop().run_in_executor(None, consumer.wait, 60)
    arrived = read_arrivals(arrivals_log)
    while not writers.empty():
        await writers.get_nowait().close()
    if proc is None:
        await relay_in_bench.stop()
        batches = relay_in_bench.batches
        retries = AddPartitionsRetries.count - retries_before
    else:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        batches, retries = read_batch_log(batch_log)
        os.unlink(batch_log)
    await drop(pool, schema)
    latencies = [arrived[i] - committed[i] for i in committed]
    return latencies, [*split(batches, retries, committed, arrived), cpu.line(total)], written_per_s


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
        seconds, where_it_goes, written_per_s = await latency_at_rate(
            bootstrap, dsn, args.rate, args.seconds, own_process
        )
        ms = [v * 1000 for v in seconds]
        where = "its own process" if own_process else "the writer's process"
        print(
            f"commit->topic at {args.rate}/s offered ({written_per_s:,.0f}/s achieved) "
            f"for {args.seconds:.0f}s, relay in {where} "
            f"({len(ms):,} events): p50 {percentile(ms, 50):.1f} ms, "
            f"p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms"
        )
        print("\n".join(where_it_goes))
    print(f"machine: {machine_load()} at end")


if __name__ == "__main__":
    AddPartitionsRetries.install()
    if "--consume" in sys.argv:  # the measuring consumer (consumer_process)
        topic, expected, arrivals_log = sys.argv[sys.argv.index("--consume") + 1 :][:3]
        tune_garbage_collector()
        arrivals = uvloop.run(consume(topic, int(expected)))
        Path(arrivals_log).write_text(json.dumps(arrivals))
        sys.exit(0)
    if "--serve-relay" in sys.argv:  # the relay in its own process (relay_process)
        serve_relay(sys.argv[sys.argv.index("--serve-relay") + 1],
                    sys.argv[sys.argv.index("--batch-log") + 1])  # fmt: skip
        sys.exit(0)
    # As the services run (platform_kit/serve.py): the ceiling is what the same runtime allows.
    tune_garbage_collector()
    uvloop.run(main())
