"""Is this error the database being unreachable, or the event (or the code) being wrong?

A database outage is waited out without using any of the event's attempts; anything else is the
event's failure, retried a bounded number of times and then dead-lettered. Classifying a
programming error (a wrong argument count is an asyncpg.InterfaceError) as an outage would retry
it forever and stall the partition, so only errors that can only mean "the connection is gone"
count at once; the ambiguous ones count only if a fresh `SELECT 1` fails too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg

# The connection died under us (refused, reset, terminated by an administrator, server shutting
# down or out of connection slots): never the event's fault.
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    ConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.ConnectionFailureError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)

# Could be the network, could be the code: an OSError("Multiple exceptions ...") from connect, a
# timeout, "connection is closed", but also a wrong argument count or a protocol violation.
MAYBE_OUTAGE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what it was raised from or during (a rollback on a dead connection raises
    "connection is closed" while handling the real cause)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


async def database_answers(pool: asyncpg.Pool, timeout: float = 5.0) -> bool:
    try:
        async with asyncio.timeout(timeout):
            await pool.fetchval("SELECT 1")
        return True
    except Exception:
        return False


async def is_outage(error: BaseException, pool: asyncpg.Pool) -> bool:
    chain = list(_chain(error))
    if any(isinstance(e, CONNECTION_LOST) for e in chain):
        return True
    if any(isinstance(e, MAYBE_OUTAGE) for e in chain):
        return not await database_answers(pool)
    return False
