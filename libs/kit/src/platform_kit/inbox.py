"""Idempotent consumption: `(consumer, event_id)` recorded in the same transaction as the effect."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import asyncpg
from aiokafka.structs import ConsumerRecord

from platform_events import Envelope, EventData
from platform_events.envelope import caused_by


class PermanentError(Exception):
    """The event can never succeed as it is (bad content, unknown tenant): dead-letter it now."""


@dataclass(frozen=True)
class InboundEvent:
    envelope: Envelope
    data: EventData
    record: ConsumerRecord


@dataclass(frozen=True)
class Failure:
    event: InboundEvent
    error: BaseException
    attempts: int


# What became of each consumed event, for `platform_events_consumed_total{outcome}`. An event a
# handler does not mark was applied; the consumer counts the marks only once the transaction has
# committed, so a rolled-back attempt counts nothing.
APPLIED, DUPLICATE, CONFLICT, PARKED, DEAD_LETTERED = (
    "applied",
    "duplicate",
    "conflict",
    "parked",
    "dead_lettered",
)
_outcomes: ContextVar[dict[uuid.UUID, str] | None] = ContextVar("event_outcomes", default=None)


def note_outcome(event_ids: Iterable[uuid.UUID], outcome: str) -> None:
    """A handler says what became of these events (duplicate, conflict, parked)."""
    marks = _outcomes.get()
    if marks is not None:
        for event_id in event_ids:
            marks[event_id] = outcome


@contextmanager
def collecting_outcomes() -> Iterator[dict[uuid.UUID, str]]:
    marks: dict[uuid.UUID, str] = {}
    token = _outcomes.set(marks)
    try:
        yield marks
    finally:
        _outcomes.reset(token)


async def record_in_inbox(conn: asyncpg.Connection, consumer: str, event_id: uuid.UUID) -> bool:
    """True when the event is new for this consumer; False when it was applied before."""
    inserted = await conn.fetchval(
        """INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING true""",
        consumer,
        event_id,
    )
    return bool(inserted)


# Records a batch of ids for a consumer; ids already there are left as they are.
_RECORD_IDS = """INSERT INTO inbox (consumer, event_id)
    SELECT $1, id FROM unnest($2::uuid[]) AS id
    ON CONFLICT DO NOTHING"""


async def new_event_ids(
    conn: asyncpg.Connection, consumer: str, event_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Bulk form of record_in_inbox: which of these ids were not seen before (now recorded)."""
    rows = await conn.fetch(_RECORD_IDS + " RETURNING event_id", consumer, list(event_ids))
    return {r["event_id"] for r in rows}


async def record_event_ids(
    conn: asyncpg.Connection, consumer: str, event_ids: Sequence[uuid.UUID]
) -> None:
    """new_event_ids for a caller that already knows these ids are new (it dropped the ones
    seen): nothing returned, so the client decodes no row per event."""
    await conn.execute(_RECORD_IDS, consumer, list(event_ids))


class EventHandler(Protocol):
    """One event's effect, applied inside the consumer's open transaction."""

    async def apply(self, conn: asyncpg.Connection, event: InboundEvent) -> None: ...


@runtime_checkable
class BatchEventHandler(Protocol):
    """A set-based handler: applies many events in the open transaction, records the inbox itself,
    and returns the events that failed permanently (their effects must not have been applied)."""

    async def apply_batch(
        self, conn: asyncpg.Connection, consumer: str, events: list[InboundEvent]
    ) -> list[Failure]: ...


class PerEventBatch:
    """Adapts an EventHandler to a batch: a savepoint per event, so one bad event rolls back alone."""

    def __init__(self, handler: EventHandler) -> None:
        self.handler = handler
        self.duplicates = 0

    async def apply_batch(
        self, conn: asyncpg.Connection, consumer: str, events: list[InboundEvent]
    ) -> list[Failure]:
        failures: list[Failure] = []
        for event in events:
            try:
                async with conn.transaction():
                    if not await record_in_inbox(conn, consumer, event.envelope.id):
                        self.duplicates += 1
                        note_outcome([event.envelope.id], DUPLICATE)
                        continue
                    with caused_by(event.envelope.id):
                        await self.handler.apply(conn, event)
            except PermanentError as exc:
                failures.append(Failure(event, exc, 1))
        return failures
