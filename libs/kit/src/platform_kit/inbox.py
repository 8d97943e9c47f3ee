"""Idempotent consumption: `(consumer, event_id)` recorded in the same transaction as the effect."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import asyncpg
from aiokafka.structs import ConsumerRecord

from platform_events import Envelope, EventData


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


async def record_in_inbox(conn: asyncpg.Connection, consumer: str, event_id: uuid.UUID) -> bool:
    """True when the event is new for this consumer; False when it was applied before."""
    inserted = await conn.fetchval(
        """INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING true""",
        consumer,
        event_id,
    )
    return bool(inserted)


async def new_event_ids(
    conn: asyncpg.Connection, consumer: str, event_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Bulk form of record_in_inbox: which of these ids were not seen before (now recorded)."""
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, event_id)
           SELECT $1, id FROM unnest($2::uuid[]) AS id
           ON CONFLICT DO NOTHING RETURNING event_id""",
        consumer,
        list(event_ids),
    )
    return {r["event_id"] for r in rows}


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
                        continue
                    await self.handler.apply(conn, event)
            except PermanentError as exc:
                failures.append(Failure(event, exc, 1))
        return failures
