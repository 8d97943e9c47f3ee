"""The outbox relay: publishes outbox rows to Kafka in order per key, then deletes them.

- Wakes on LISTEN/NOTIFY (the insert trigger), with a slow poll as a safety net.
- Shares the buckets of keys fairly with the other relays of its schema (buckets.py): a bucket has
  one owner at a time, so one key's rows are published in order, and a relay that dies releases
  its buckets with its connection.
- Publishes each batch in one Kafka transaction (idempotent, acks=all) and deletes the rows only
  after the commit, in the same round trip that selects the next batch. If any send fails, the
  whole transaction is aborted and the producer dropped before anything else is sent: consumers
  read committed, so an earlier record that failed can never be overtaken by a later one of the
  same key that got through (r2, r1, r2). A crash between commit and delete re-sends those rows
  with the same event id (at-least-once), so the relay's session commits without waiting for its
  WAL flush (synchronous_commit off): a delete lost in a crash is the same case.
- Two transactional producers take turns, one batch each: a batch starts only after the previous
  one's commit has returned, but the broker is still writing that commit's markers, and a
  producer that began its next transaction then would be told CONCURRENT_TRANSACTIONS and wait
  20 ms (aiokafka's back-off) before it may add a partition. The other producer need not wait.
  Per-key order is unchanged: a commit that has returned is decided (the markers can only commit
  it), and the next batch's records land after it on every partition.
- The transactional ids are stable per slot, so a restarted relay aborts its dead predecessor's
  open transactions at once; when a relay disappears, a survivor does the same for its slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from typing import Any

import asyncpg
import uvloop
from aiokafka import AIOKafkaProducer

from platform_kit.buckets import BucketShare
from platform_kit.kafka import encode_headers, transactional_producer
from platform_kit.metrics import (
    DEAD_LETTERS,
    EVENTS_OUT,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISH_LATENCY,
)
from platform_kit.serve import tune_garbage_collector

log = logging.getLogger(__name__)

PRODUCERS_PER_SLOT = 2  # taking turns, so a batch never waits for its predecessor's markers


class OutboxRelay:
    def __init__(
        self,
        *,
        dsn: str,
        schema: str,
        bootstrap: str,
        service: str,
        batch_size: int = 1000,
        idle_poll_seconds: float = 1.0,
        rebalance_seconds: float = 1.0,
        backlog_report_seconds: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.bootstrap = bootstrap
        self.service = service
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.rebalance_seconds = rebalance_seconds
        self.backlog_report_seconds = backlog_report_seconds
        self._backlog_reported = float("-inf")
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.owned_buckets: set[int] = set()
        self.published = 0
        self._to_delete: list[int] = []  # published and committed on Kafka, still in the outbox

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name=f"outbox-relay-{self.schema}")

    async def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def channel(self) -> str:
        return f"{self.schema}_outbox"

    async def _run_forever(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self._run_once_connected()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; reconnecting")
                self.owned_buckets.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 10.0)

    @property
    def application_name(self) -> str:
        """How this relay's database session shows in pg_stat_activity."""
        return f"outbox-relay {self.schema} pid={os.getpid()}"[:63]

    def transactional_id(self, slot: int, turn: int = 0) -> str:
        """The first producer's id is the one relays had when they had one producer, so an
        upgraded relay still aborts what its predecessor left open."""
        base = f"outbox-relay.{self.service}.{self.schema}.{slot}"
        return base if turn == 0 else f"{base}.{turn}"

    async def _run_once_connected(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self.dsn,
            server_settings={
                "search_path": self.schema,
                "application_name": self.application_name,
                # Its deletes need not wait for the disk: one lost in a crash only re-sends rows
                # with their event ids, which consumers already dedupe (ADR 0002).
                "synchronous_commit": "off",
            },
        )
        share = BucketShare(self.schema)
        producers: list[AIOKafkaProducer] = []
        try:
            slot = await share.join(conn)
            for turn in range(PRODUCERS_PER_SLOT):
                producers.append(
                    transactional_producer(self.bootstrap, self.transactional_id(slot, turn))
                )
                await producers[-1].start()
            turn = 0
            await conn.add_listener(self.channel, self._on_notify)
            last_rebalance = float("-inf")
            while not self._stopping.is_set():
                # Between batches only: a bucket never changes hands in the middle of one.
                if time.monotonic() - last_rebalance > self.rebalance_seconds:
                    await self._delete_published(conn)
                    for departed in await share.rebalance(conn):
                        await self._abort_transactions_of(conn, share, departed)
                    self.owned_buckets = set(share.owned)
                    last_rebalance = time.monotonic()
                if not self.owned_buckets:
                    await self._sleep_until_woken(self.rebalance_seconds)
                    continue
                self._wakeup.clear()
                sent = await self.publish_batch(conn, producers[turn])
                if sent:
                    turn = (turn + 1) % PRODUCERS_PER_SLOT
                if sent < self.batch_size:
                    # A gauge: at most once a second, not twice per batch (at 1,000 single-event
                    # commits a second it was most of the relay's queries: bench/outbox_relay.py).
                    if time.monotonic() - self._backlog_reported > self.backlog_report_seconds:
                        await self._report_backlog(conn)
                        self._backlog_reported = time.monotonic()
                    if sent == 0:
                        await self._sleep_until_woken(self.idle_poll_seconds)
        finally:
            self.owned_buckets.clear()
            with contextlib.suppress(Exception):
                await self._delete_published(conn)
            self._to_delete = []  # left for whoever publishes them again (same event ids)
            with contextlib.suppress(Exception):
                await conn.close()  # releases the advisory locks
            for producer in producers:
                with contextlib.suppress(Exception):
                    await producer.stop()

    async def _abort_transactions_of(
        self, conn: asyncpg.Connection, share: BucketShare, slot: int
    ) -> None:
        """A relay left: abort the transactions it may have left open (read-committed consumers
        would wait for them until they time out) by starting producers with its transactional
        ids."""
        if not await share.hold_slot(conn, slot):
            return  # a new relay took the slot, and its own producers did that already
        try:
            for turn in range(PRODUCERS_PER_SLOT):
                fencer = transactional_producer(self.bootstrap, self.transactional_id(slot, turn))
                try:
                    await fencer.start()
                except Exception:
                    log.warning(
                        "could not abort the transactions of %s",
                        self.transactional_id(slot, turn),
                        exc_info=True,
                    )
                finally:
                    with contextlib.suppress(Exception):
                        await fencer.stop()
        finally:
            await share.release_slot(conn, slot)

    def _on_notify(self, *_: Any) -> None:
        self._wakeup.set()

    async def _sleep_until_woken(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    # the work ----------------------------------------------------------------------------------
    async def publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        """Deletes the rows the last batch published and selects the next batch, in one round
        trip (the select reads the snapshot before the delete, so it leaves those rows out),
        then publishes that batch in one Kafka transaction."""
        published, self._to_delete = self._to_delete, []
        rows = await conn.fetch(
            """WITH published AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]))
               SELECT id, topic, key, headers, payload, event_id,
                      extract(epoch FROM created_at) AS created
                 FROM outbox
                WHERE bucket = ANY($2::smallint[]) AND id <> ALL($1::bigint[])
                ORDER BY id LIMIT $3""",
            published,
            sorted(self.owned_buckets),
            self.batch_size,
        )
        if not rows:
            return 0
        # send() calls in id order, so the per-key order of the outbox is the order on the
        # partition. Any failure aborts the transaction (the context manager) and escapes, so the
        # producer is dropped and the batch is sent again, whole, by a fresh one.
        headers = [json.loads(row["headers"]) for row in rows]
        async with producer.transaction():
            futures = [
                await producer.send(
                    row["topic"],
                    value=bytes(row["payload"]),
                    key=row["key"].encode(),
                    headers=encode_headers(row_headers),
                )
                for row, row_headers in zip(rows, headers, strict=True)
            ]
            await asyncio.gather(*futures)
        acked = time.time()
        self._to_delete = [r["id"] for r in rows]
        latency = OUTBOX_PUBLISH_LATENCY.labels(self.service)
        for row, row_headers in zip(rows, headers, strict=True):
            latency.observe(max(0.0, acked - float(row["created"])))
            EVENTS_OUT.labels(self.service, row_headers.get("ce_type", "unknown")).inc()
            if "dlq-consumer" in row_headers:  # a dead letter a consumer wrote through the outbox
                DEAD_LETTERS.labels(
                    row_headers["dlq-consumer"], row_headers.get("dlq-source-topic", row["topic"])
                ).inc()
        self.published += len(rows)
        return len(rows)

    async def _delete_published(self, conn: asyncpg.Connection) -> None:
        """Before a bucket may change hands (or the relay stops): its published rows go now."""
        if self._to_delete:
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", self._to_delete)
            self._to_delete = []

    async def _report_backlog(self, conn: asyncpg.Connection) -> None:
        row = await conn.fetchrow(
            """SELECT count(*) AS n, extract(epoch FROM clock_timestamp() - min(created_at)) AS age
                 FROM outbox"""
        )
        OUTBOX_BACKLOG.labels(self.service).set(row["n"])
        OUTBOX_OLDEST_AGE.labels(self.service).set(row["age"] or 0.0)


async def run_until_signalled(relay: OutboxRelay) -> None:
    """Run the relay until SIGTERM or SIGINT, then stop it between batches."""
    relay.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await relay.stop()


def serve(relay: OutboxRelay) -> None:
    """Run a relay as the only work of this process (`main`, and bench/outbox_relay.py's relay
    in a process of its own), on the runtime a service gives the relay it hosts (serve.py):
    uvloop and the tuned garbage collector."""
    tune_garbage_collector()
    uvloop.run(run_until_signalled(relay))


def main() -> None:
    """Run a relay on its own: `python -m platform_kit.relay --schema customer`."""
    import argparse

    parser = argparse.ArgumentParser(description="Publish a schema's outbox to Kafka")
    parser.add_argument("--schema", required=True)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    relay = OutboxRelay(
        dsn=args.dsn,
        schema=args.schema,
        bootstrap=args.bootstrap,
        service=f"relay-{args.schema}",
        batch_size=args.batch_size,
    )
    serve(relay)


if __name__ == "__main__":
    main()
