"""The consumer loop every service uses.

For each poll: decode -> apply in one database transaction (with the inbox) -> dead-letter what can
never succeed -> commit the offsets. Offsets are committed only after the database commit, so a
crash anywhere means redelivery, and the inbox makes redelivery harmless.

- Undecodable messages (not JSON, wrong schema, a type unknown or not carried by this topic) and
  PermanentError go to `<topic>.dlq` at once, with the original bytes and headers.
- A database outage (outage.py) is waited out with capped backoff, using none of the event's
  attempts: the partition waits, nothing is dropped.
- Any other error isolates the failing event and retries it with backoff up to `max_attempts`,
  then dead-letters it, and the partition moves on.
- Progress is committed as it is made (per partition, up to the first unresolved record), and a
  poll's work stops at half of `max_poll_interval_ms`: what is left is read again by the next
  poll, so slow or failing work can never get the consumer evicted and replay what it resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import Consumer, KafkaMessage
from faststream.kafka.message import KafkaAckableMessage
from pydantic import ValidationError

from platform_events import UnknownEventType, parse_event
from platform_events.topics import TOPICS, dead_letter_topic, key_mismatch
from platform_kit.broker import KafkaSubscriber, hosting_app, kafka_broker
from platform_kit.dead_letters import dead_letter_headers, one_line
from platform_kit.inbox import (
    APPLIED,
    DEAD_LETTERED,
    BatchEventHandler,
    EventHandler,
    Failure,
    InboundEvent,
    PerEventBatch,
    PermanentError,
    collecting_outcomes,
)
from platform_kit.kafka import encode_headers, idempotent_producer
from platform_kit.logs import correlation_id_var
from platform_kit.metrics import (
    BATCH_RECORDS,
    CONSUMER_LAG,
    DEAD_LETTERS,
    EVENTS_IN,
    HANDLER_LATENCY,
)
from platform_kit.outage import is_outage
from platform_kit.progress import PollProgress

log = logging.getLogger(__name__)

RecordKey = tuple[str, int, int]
# FastStream's batch subscriber sleeps this long after an empty poll, on top of the poll's own
# wait: small, so an idle consumer sees a new record within ~50 ms.
BATCH_TIMEOUT_MS = 50


class UndecodableMessage(Exception):
    """Can never be read as an event of this topic: dead-lettered at once."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.detail = detail


class _PollCutShort(Exception):
    """Stop working on this poll (time budget spent, stopping, partitions lost): commit what is
    resolved and let the next poll read the rest again."""


@dataclass(frozen=True)
class _Deadlines:
    work: float  # loop time after which no new attempt or backoff starts
    hard: float  # loop time at which an attempt in flight is cancelled

    def left(self) -> float:
        return self.work - asyncio.get_running_loop().time()


async def _no_body(_: Any) -> None:
    """The handler reads the records themselves (`msg.raw_message`)."""
    return None


def _allowed_types(topics: Iterable[str]) -> dict[str, set[str]]:
    specs = {spec.name: spec for spec in TOPICS}
    return {
        topic: {m.event_type for m in specs[topic].event_types}
        for topic in topics
        if topic in specs
    }


def _behind(
    consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord]]
) -> bool:
    """Whether a partition of this poll had records past its last one at its last fetch."""
    for tp, records in batches.items():
        highwater = consumer.highwater(tp)
        if highwater is not None and records and records[-1].offset + 1 < highwater:
            return True
    return False


def _key(record: ConsumerRecord) -> RecordKey:
    return (record.topic, record.partition, record.offset)


class ConsumerRunner:
    def __init__(
        self,
        *,
        name: str,
        topics: list[str],
        pool: asyncpg.Pool | Callable[[], asyncpg.Pool],
        bootstrap: str,
        handler: EventHandler | BatchEventHandler,
        group_id: str | None = None,
        max_records: int = 500,
        max_attempts: int = 5,
        retry_base_seconds: float = 0.2,
        dlq_producer: AIOKafkaProducer | None = None,
        max_poll_interval_ms: int = 300_000,
        allowed_types: dict[str, set[str]] | None = None,
        lag_interval_seconds: float = 5.0,
        fill_seconds: float = 0.02,
    ) -> None:
        self.name = name
        self.topics = topics
        self._pool = pool  # or how to reach it once the service has started
        self.bootstrap = bootstrap
        self.batch_handler: BatchEventHandler = (
            handler if isinstance(handler, BatchEventHandler) else PerEventBatch(handler)
        )
        self.group_id = group_id or name
        self.max_records = max_records
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.max_poll_interval_ms = max_poll_interval_ms
        self.lag_interval_seconds = lag_interval_seconds
        self.fill_seconds = fill_seconds
        self._allowed = allowed_types if allowed_types is not None else _allowed_types(topics)
        self._dlq_producer = dlq_producer
        self._owns_dlq_producer = dlq_producer is None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.consumer: AIOKafkaConsumer | None = None
        # Attempts used by events not resolved yet; survives a poll cut short. An entry with 0
        # means "its batch failed once": apply one by one until it is resolved.
        self._attempts: dict[RecordKey, int] = {}
        self._progress: PollProgress | None = None
        self._lag_series: set[TopicPartition] = set()
        self.applied = 0
        self.dead_lettered = 0
        self.outage_retries = 0
        self.started = asyncio.Event()
        self._dlq: AIOKafkaProducer
        self._lag: asyncio.Task[None] | None = None
        self.subscriber: KafkaSubscriber | None = None
        self.broker: KafkaBroker | None = None  # only when it hosts itself (`start`)

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool() if callable(self._pool) else self._pool

    # FastStream hosting (docs/decisions/0001) ----------------------------------------------------
    def subscriber_options(self) -> dict[str, Any]:
        """What this member's FastStream batch subscriber must be declared with, topics aside:
        offsets are the kit's to commit (MANUAL, explicit offsets), only committed transactions
        are read, and records reach `_handle` undecoded."""
        return {
            "group_id": self.group_id,
            "batch": True,
            "max_records": self.max_records,
            "batch_timeout_ms": BATCH_TIMEOUT_MS,
            "ack_policy": AckPolicy.MANUAL,
            "auto_offset_reset": "earliest",
            "isolation_level": "read_committed",
            "max_poll_interval_ms": self.max_poll_interval_ms,
            "listener": _ForgetRevoked(self),
            "parser": self._parse,
            "decoder": _no_body,
        }

    def attach(self, subscriber: KafkaSubscriber) -> KafkaSubscriber:
        """Run this member's poll cycle on `subscriber` (declared with `subscriber_options()` on
        the service's router or broker)."""
        subscriber(self._handle)
        self.subscriber = subscriber
        return subscriber

    async def _parse(self, records: tuple[ConsumerRecord, ...]) -> KafkaAckableMessage:
        """Raw: nothing decoded here (a bad header or body must reach `_decode` and be
        dead-lettered, not fail the batch inside FastStream)."""
        first, last = records[0], records[-1]
        assert self.subscriber is not None
        return KafkaAckableMessage(
            raw_message=records,
            body=b"",
            message_id=f"{first.topic}-{first.partition}-{first.offset}-{last.offset}",
            consumer=self.subscriber.consumer,
        )

    # Lifecycle hooks of the FastStream application that hosts this member: `opening` before the
    # broker starts, `opened` after, `closing` before it stops (a batch in flight cuts itself
    # short, the broker waits for it), `closed` after.
    async def opening(self) -> None:
        self._dlq = self._dlq_producer or idempotent_producer(self.bootstrap, f"{self.name}-dlq")
        if self._owns_dlq_producer:
            await self._dlq.start()

    async def opened(self) -> None:
        assert self.subscriber is not None and self.subscriber.consumer is not None
        self.consumer = self.subscriber.consumer
        self._lag = asyncio.create_task(
            self._report_lag_forever(self.consumer), name=f"lag-{self.name}"
        )
        self.started.set()

    async def closing(self) -> None:
        self._stopping.set()

    async def closed(self) -> None:
        if self._lag is not None:
            self._lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag
            self._lag = None
        for tp in self._lag_series:  # a stopped consumer reports no lag
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.name, tp.topic, str(tp.partition))
        self._lag_series.clear()
        if self._owns_dlq_producer and hasattr(self, "_dlq"):
            await self._dlq.stop()

    # Hosting itself (tests and tools that run one member without a service) ---------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 30)

    async def run(self) -> None:
        """This member alone in a FastStream application of its own, with the same hooks a
        service's application runs; returns once stopped."""
        self.broker = kafka_broker(self.bootstrap, self.name)
        if self.subscriber is None:
            self.attach(self.broker.subscriber(*self.topics, **self.subscriber_options()))
        app = hosting_app(self.broker, [self])
        try:
            await app.start()
            await self._stopping.wait()
        finally:  # also when cancelled while starting: no group member is left behind
            await app.stop()

    async def _handle(self, msg: KafkaMessage, consumer: Consumer) -> None:
        """One FastStream batch = one poll cycle of the kit. Offsets are committed explicitly by
        the cycle (per partition, up to the first unresolved record), never by FastStream
        (AckPolicy.MANUAL, and `ack()` is never called: it would commit everything handed out).
        Anything escaping here seeks the batch back (`nack()`): otherwise the next commit would
        move past records never handled."""
        try:
            records: tuple[ConsumerRecord, ...] = msg.raw_message  # type: ignore[assignment]
            if self._stopping.is_set():
                raise _PollCutShort("stopping")
            batches: dict[TopicPartition, list[ConsumerRecord]] = {}
            for record in records:
                batches.setdefault(TopicPartition(record.topic, record.partition), []).append(
                    record
                )
            await self._fill(consumer, batches)
            BATCH_RECORDS.labels(self.name).observe(
                sum(len(records) for records in batches.values())
            )
            await self._poll_cycle(consumer, self._dlq, batches)
        except _PollCutShort:
            await msg.nack()
        except Exception:
            log.exception("batch handler failed; its records will be read again")
            await msg.nack()

    async def _fill(
        self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        """While the partitions have more records waiting, read on for up to `fill_seconds`
        towards `max_records`: a poll costs a fixed number of statements and one commit, so under
        a backlog a few big polls beat many small ones (bench/billing_ingest.py). A consumer that
        is caught up never waits here."""
        deadline = time.monotonic() + self.fill_seconds
        count = sum(len(records) for records in batches.values())
        while count < self.max_records and _behind(consumer, batches):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            more = await consumer.getmany(
                timeout_ms=max(1, int(left * 1000)), max_records=self.max_records - count
            )
            if not more:
                return
            for tp, records in more.items():
                batches.setdefault(tp, []).extend(records)
                count += len(records)

    async def _poll_cycle(
        self,
        consumer: AIOKafkaConsumer,
        dlq: AIOKafkaProducer,
        batches: dict[TopicPartition, list[ConsumerRecord]],
    ) -> None:
        now = asyncio.get_running_loop().time()
        interval = self.max_poll_interval_ms / 1000
        deadlines = _Deadlines(work=now + interval * 0.5, hard=now + interval * 0.8)
        progress = self._progress = PollProgress(batches)
        self._forget_attempts_before(batches)
        try:
            await self._process(consumer, dlq, batches, progress, deadlines)
        except _PollCutShort as why:
            log.warning("poll cut short (%s); the unresolved records will be read again", why)
        except Exception:
            log.exception("poll not completed; the unresolved records will be read again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 1.0)
        finally:
            await self._commit(consumer, progress)
            for tp, offset in progress.unresolved().items():
                with contextlib.suppress(Exception):  # not ours any more after a rebalance
                    consumer.seek(tp, offset)
            self._progress = None
        HANDLER_LATENCY.labels(self.name).observe(asyncio.get_running_loop().time() - now)

    def _forget_attempts_before(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Attempts of records this partition has moved past (resolved by another member)."""
        firsts = {(tp.topic, tp.partition): records[0].offset for tp, records in batches.items()}
        for key in list(self._attempts):
            first = firsts.get(key[:2])
            if first is not None and key[2] < first:
                del self._attempts[key]

    async def _process(
        self,
        consumer: AIOKafkaConsumer,
        dlq: AIOKafkaProducer,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        progress: PollProgress,
        deadlines: _Deadlines,
    ) -> None:
        events: list[InboundEvent] = []
        for records in batches.values():
            for record in records:
                try:
                    events.append(self._decode(record))
                except UndecodableMessage as exc:
                    await self._dead_letter(dlq, record, exc, 1)
                    progress.resolve(record)
        if not events:
            return
        if not any(_key(e.record) in self._attempts for e in events):
            try:
                failures = await self._apply(events, deadlines)
            except _PollCutShort:
                raise
            except Exception:
                log.warning("batch failed; isolating the failing event", exc_info=True)
                for event in events:
                    self._attempts.setdefault(_key(event.record), 0)
            else:
                for failure in failures:
                    await self._dead_letter(dlq, failure.event.record, failure.error, 1)
                progress.resolve_all([event.record for event in events])
                return
        await self._apply_one_by_one(consumer, dlq, events, progress, deadlines)

    async def _apply_one_by_one(
        self,
        consumer: AIOKafkaConsumer,
        dlq: AIOKafkaProducer,
        events: list[InboundEvent],
        progress: PollProgress,
        deadlines: _Deadlines,
    ) -> None:
        """Slow path: one event per transaction, each with its own retry budget, committing as it
        goes so that a poll cut short never repeats what was resolved."""
        last_commit = time.monotonic()
        for event in events:
            key = _key(event.record)
            failure: Failure | None = None
            while True:
                if self._stopping.is_set():
                    raise _PollCutShort("stopping")
                if deadlines.left() <= 0:
                    raise _PollCutShort("half of max_poll_interval_ms spent")
                attempt = self._attempts.get(key, 0) + 1
                try:
                    failures = await self._apply([event], deadlines)
                except _PollCutShort:
                    raise
                except Exception as exc:
                    self._attempts[key] = attempt
                    if attempt < self.max_attempts:
                        log.warning("event %s failed (attempt %d)", key, attempt, exc_info=True)
                        backoff = self.retry_base_seconds * 2 ** (attempt - 1)
                        if backoff > deadlines.left():
                            raise _PollCutShort("no time left for the next retry") from exc
                        await asyncio.sleep(backoff)
                        continue
                    failure = Failure(event, exc, attempt)
                else:
                    failure = failures[0] if failures else None
                break
            if failure is not None:
                await self._dead_letter(dlq, event.record, failure.error, failure.attempts)
            self._attempts.pop(key, None)
            progress.resolve(event.record)
            if failure is not None or time.monotonic() - last_commit > 1.0:
                if not await self._commit(consumer, progress):
                    raise _PollCutShort("offsets could not be committed (partitions lost?)")
                last_commit = time.monotonic()

    async def _apply(self, events: list[InboundEvent], deadlines: _Deadlines) -> list[Failure]:
        """Apply in one transaction; an attempt still running at the hard deadline is cancelled
        (rolled back) and fails with TimeoutError, so the poll interval is never exceeded."""
        try:
            async with asyncio.timeout_at(deadlines.hard):
                return await self._apply_retrying_outages(events, deadlines)
        except TimeoutError as exc:
            if asyncio.get_running_loop().time() >= deadlines.hard:
                raise TimeoutError("applying took longer than the poll interval allows") from exc
            raise

    async def _apply_retrying_outages(
        self, events: list[InboundEvent], deadlines: _Deadlines
    ) -> list[Failure]:
        backoff = 0.2
        while True:
            try:
                with collecting_outcomes() as outcomes:
                    async with self.pool.acquire() as conn, conn.transaction():
                        token = correlation_id_var.set(events[0].envelope.correlation_id)
                        try:
                            failures = await self.batch_handler.apply_batch(conn, self.name, events)
                        finally:
                            correlation_id_var.reset(token)
                self._count(events, failures, outcomes)
                return failures
            except PermanentError as exc:
                if len(events) == 1:
                    return [Failure(events[0], exc, 1)]
                raise
            except Exception as exc:
                if not await is_outage(exc, self.pool):
                    raise
                if self._stopping.is_set():
                    raise _PollCutShort("stopping during a database outage") from exc
                if backoff > deadlines.left():
                    raise _PollCutShort("database unreachable for this whole poll") from exc
                self.outage_retries += 1
                log.warning("database unreachable; retrying in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _commit(self, consumer: AIOKafkaConsumer, progress: PollProgress) -> bool:
        due = progress.uncommitted()
        if not due:
            return True
        try:
            await consumer.commit(due)
        except Exception:
            log.warning("offset commit failed; those records will be read again", exc_info=True)
            return False
        progress.mark_committed(due)
        return True

    def _decode(self, record: ConsumerRecord) -> InboundEvent:
        if record.value is None:
            raise UndecodableMessage("empty message (tombstone) where an event was expected")
        try:
            envelope, data = parse_event(record.value)
        except ValidationError as exc:
            if any(error["type"] == "json_invalid" for error in exc.errors()):
                raise UndecodableMessage(f"not JSON: {exc.errors()[0]['msg']}", str(exc)) from exc
            raise UndecodableMessage(f"schema violation: {_summary(exc)}", str(exc)) from exc
        except UnknownEventType as exc:
            raise UndecodableMessage(str(exc)) from exc
        allowed = self._allowed.get(record.topic)
        if allowed is not None and envelope.type not in allowed:
            raise UndecodableMessage(
                f"event type {envelope.type!r} does not belong on {record.topic}"
            )
        mismatch = key_mismatch(record.topic, record.key, envelope, data)
        if mismatch:
            raise UndecodableMessage(mismatch)
        return InboundEvent(envelope, data, record)

    def _count(
        self, events: list[InboundEvent], failures: list[Failure], outcomes: dict[Any, str]
    ) -> None:
        """After the commit: each event by its outcome (failures are counted as dead letters
        when they are sent). One labelled increment per (type, outcome), not per event."""
        failed = {id(f.event) for f in failures}
        counted = Counter(
            (e.envelope.type, outcomes.get(e.envelope.id, APPLIED))
            for e in events
            if id(e) not in failed
        )
        for (event_type, outcome), n in counted.items():
            EVENTS_IN.labels(self.name, event_type, outcome).inc(n)
        self.applied += sum(n for (_, outcome), n in counted.items() if outcome == APPLIED)

    async def _dead_letter(
        self, dlq: AIOKafkaProducer, record: ConsumerRecord, error: BaseException, attempts: int
    ) -> None:
        headers = list(record.headers or ())
        headers += encode_headers(
            dead_letter_headers(
                reason=str(error),
                detail=getattr(error, "detail", None),
                error_type=type(error).__name__,
                attempts=attempts,
                consumer=self.name,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
        )
        await dlq.send_and_wait(
            dead_letter_topic(record.topic), value=record.value, key=record.key, headers=headers
        )
        self.dead_lettered += 1
        DEAD_LETTERS.labels(self.name, record.topic).inc()
        EVENTS_IN.labels(self.name, _header(record, "ce_type") or "unknown", DEAD_LETTERED).inc()
        log.error(
            "dead-lettered %s[%s]@%s: %s",
            record.topic,
            record.partition,
            record.offset,
            one_line(str(error)),
        )

    # consumer lag ------------------------------------------------------------------------------
    async def _report_lag_forever(self, consumer: AIOKafkaConsumer) -> None:
        """Lag per partition, measured against the broker every few seconds, also while the
        consumer is stuck on a batch (a stall shows as growing lag, not as a frozen gauge)."""
        while True:
            await asyncio.sleep(self.lag_interval_seconds)
            try:
                async with asyncio.timeout(10):
                    await self._report_lag(consumer)
            except Exception:
                log.debug("consumer lag not measured this time", exc_info=True)

    async def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        assigned = set(consumer.assignment())
        for tp in self._lag_series - assigned:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.name, tp.topic, str(tp.partition))
        self._lag_series &= assigned
        if not assigned:
            return
        ends = await consumer.end_offsets(sorted(assigned))
        for tp in assigned:
            try:  # a partition just assigned may not have a position yet: measure it next time
                done = await asyncio.wait_for(self._next_to_process(consumer, tp), 1.0)
            except Exception:
                continue
            CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(max(0, ends[tp] - done))
            self._lag_series.add(tp)

    async def _next_to_process(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> int:
        """The first record not resolved yet: inside the poll being worked on, or else the
        consumer's position (which also steps over transaction markers)."""
        progress = self._progress
        if progress is not None and tp in progress.unresolved():
            return progress.next_offset(tp)
        return int(await consumer.position(tp))

    def _forget(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            for key in [k for k in self._attempts if k[:2] == (tp.topic, tp.partition)]:
                del self._attempts[key]


class _ForgetRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.runner._forget(revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        pass


def _summary(exc: ValidationError) -> str:
    """Every error as `field: message`, on one line."""
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors()
    )


def _header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


__all__ = ["ConsumerRunner", "PermanentError"]
