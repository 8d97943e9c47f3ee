"""Events leave only through the outbox, written after the state rows in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from platform_events import Envelope
from platform_kit.outbox import add_to_outbox, outgoing


async def record_events(conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
    await add_to_outbox(conn, [outgoing(envelope) for envelope in envelopes])
