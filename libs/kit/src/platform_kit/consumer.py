"""The consumer loop every service uses.

For each poll: decode -> apply in one database transaction (with the inbox) -> dead-letter what can
never succeed -> commit the offsets. Offsets are committed only after the database commit, so a
crash anywhere means redelivery, and the inbox makes redelivery harmless.

- Undecodable messages (not JSON, wrong schema, a type this topic does not carry) and
  PermanentError go to `<topic>.dlq` at once, with the original bytes and headers.
- Database outages retry forever with capped backoff: the partition waits, nothing is dropped.
- Any other error isolates the failing event and retries it with backoff up to `max_attempts`,
  then dead-letters it, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from pydantic import ValidationError

from platform_events import UnknownEventType, parse_event
from platform_events.topics import TOPICS, dead_letter_topic
from platform_kit.inbox import (
    BatchEventHandler,
    EventHandler,
    Failure,
    InboundEvent,
    PerEventBatch,
    PermanentError,
)
from platform_kit.kafka import idempotent_producer
from platform_kit.logs import correlation_id_var
from platform_kit.metrics import CONSUMER_LAG, DEAD_LETTERS, EVENTS_IN, HANDLER_LATENCY

log = logging.getLogger(__name__)

# Errors that mean "the database is unreachable", not "this event is bad".
_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
)


class UndecodableMessage(Exception):
    pass


def _allowed_types(topics: Iterable[str]) -> dict[str, set[str]]:
    specs = {spec.name: spec for spec in TOPICS}
    return {
        topic: {m.event_type for m in specs[topic].event_types}
        for topic in topics
        if topic in specs
    }


class ConsumerRunner:
    def __init__(
        self,
        *,
        name: str,
        topics: list[str],
        pool: asyncpg.Pool,
        bootstrap: str,
        handler: EventHandler | BatchEventHandler,
        group_id: str | None = None,
        max_records: int = 500,
        max_attempts: int = 5,
        retry_base_seconds: float = 0.2,
        dlq_producer: AIOKafkaProducer | None = None,
    ) -> None:
        self.name = name
        self.topics = topics
        self.pool = pool
        self.bootstrap = bootstrap
        self.batch_handler: BatchEventHandler = (
            handler if isinstance(handler, BatchEventHandler) else PerEventBatch(handler)
        )
        self.group_id = group_id or name
        self.max_records = max_records
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self._allowed = _allowed_types(topics)
        self._dlq_producer = dlq_producer
        self._owns_dlq_producer = dlq_producer is None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.applied = 0
        self.dead_lettered = 0
        self.started = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 30)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            client_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_interval_ms=300_000,
        )
        dlq = self._dlq_producer or idempotent_producer(self.bootstrap, f"{self.name}-dlq")
        self.consumer = consumer
        await consumer.start()
        if self._owns_dlq_producer:
            await dlq.start()
        self.started.set()
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
                if not batches:
                    continue
                try:
                    await self._process(consumer, dlq, batches)
                except Exception:
                    # Nothing of this batch is committed to Kafka: rewind and read it again.
                    # The inbox makes the events already applied harmless the second time.
                    log.exception("batch not completed; rewinding %d partitions", len(batches))
                    for tp, records in batches.items():
                        with contextlib.suppress(Exception):
                            consumer.seek(tp, records[0].offset)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), 1.0)
        finally:
            await consumer.stop()
            if self._owns_dlq_producer:
                await dlq.stop()

    async def _process(
        self,
        consumer: AIOKafkaConsumer,
        dlq: AIOKafkaProducer,
        batches: dict[TopicPartition, list[ConsumerRecord]],
    ) -> None:
        started = time.perf_counter()
        events: list[InboundEvent] = []
        dead: list[tuple[ConsumerRecord, BaseException, int]] = []
        for records in batches.values():
            for record in records:
                try:
                    events.append(self._decode(record))
                except UndecodableMessage as exc:
                    dead.append((record, exc, 1))
        failures = await self._apply_with_retries(events) if events else []
        dead += [(f.event.record, f.error, f.attempts) for f in failures]
        for record, error, attempts in dead:
            await self._dead_letter(dlq, record, error, attempts)
        # Everything in the batch is now either committed in the database or in the DLQ.
        await consumer.commit(
            {tp: OffsetAndMetadata(records[-1].offset + 1, "") for tp, records in batches.items()}
        )
        for tp, records in batches.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                CONSUMER_LAG.labels(self.name, tp.topic).set(
                    max(0, highwater - records[-1].offset - 1)
                )
        HANDLER_LATENCY.labels(self.name).observe(time.perf_counter() - started)

    def _decode(self, record: ConsumerRecord) -> InboundEvent:
        if record.value is None:
            raise UndecodableMessage("empty message (tombstone) where an event was expected")
        try:
            envelope, data = parse_event(record.value)
        except ValidationError as exc:
            raise UndecodableMessage(f"schema violation: {exc}") from exc
        except UnknownEventType as exc:
            raise UndecodableMessage(str(exc)) from exc
        except ValueError as exc:  # not JSON at all
            raise UndecodableMessage(f"not a JSON event: {exc}") from exc
        allowed = self._allowed.get(record.topic)
        if allowed is not None and envelope.type not in allowed:
            raise UndecodableMessage(
                f"event type {envelope.type!r} does not belong on {record.topic}"
            )
        return InboundEvent(envelope, data, record)

    async def _apply_with_retries(self, events: list[InboundEvent]) -> list[Failure]:
        try:
            return await self._apply_retrying_outages(events)
        except Exception:
            log.warning("batch failed; isolating the failing event", exc_info=True)
        # Slow path: one event per transaction, each with its own retry budget.
        failures: list[Failure] = []
        for event in events:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    failures += await self._apply_retrying_outages([event])
                    break
                except Exception as exc:
                    if attempt == self.max_attempts:
                        failures.append(Failure(event, exc, attempt))
                    else:
                        await asyncio.sleep(self.retry_base_seconds * 2 ** (attempt - 1))
        return failures

    async def _apply_retrying_outages(self, events: list[InboundEvent]) -> list[Failure]:
        backoff = 0.2
        while True:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    token = correlation_id_var.set(events[0].envelope.correlation_id)
                    try:
                        failures = await self.batch_handler.apply_batch(conn, self.name, events)
                    finally:
                        correlation_id_var.reset(token)
                self._count(events, failures)
                return failures
            except _OUTAGE_ERRORS:
                if self._stopping.is_set():
                    raise
                log.warning("database unreachable; retrying in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except PermanentError as exc:
                if len(events) == 1:
                    return [Failure(events[0], exc, 1)]
                raise

    def _count(self, events: list[InboundEvent], failures: list[Failure]) -> None:
        failed = {id(f.event) for f in failures}
        for event in events:
            if id(event) not in failed:
                EVENTS_IN.labels(self.name, event.envelope.type, "processed").inc()
                self.applied += 1

    async def _dead_letter(
        self, dlq: AIOKafkaProducer, record: ConsumerRecord, error: BaseException, attempts: int
    ) -> None:
        headers = list(record.headers or ())
        headers += [
            ("dlq-reason", str(error)[:4000].encode()),
            ("dlq-error-type", type(error).__name__.encode()),
            ("dlq-attempts", str(attempts).encode()),
            ("dlq-consumer", self.name.encode()),
            ("dlq-source-topic", record.topic.encode()),
            ("dlq-source-partition", str(record.partition).encode()),
            ("dlq-source-offset", str(record.offset).encode()),
            ("dlq-time", str(int(time.time() * 1000)).encode()),
        ]
        await dlq.send_and_wait(
            dead_letter_topic(record.topic), value=record.value, key=record.key, headers=headers
        )
        self.dead_lettered += 1
        DEAD_LETTERS.labels(self.name, record.topic).inc()
        EVENTS_IN.labels(self.name, _header(record, "ce_type") or "unknown", "dead_lettered").inc()
        log.error(
            "dead-lettered %s[%s]@%s: %s", record.topic, record.partition, record.offset, error
        )


def _header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


__all__ = ["ConsumerRunner", "PermanentError"]
