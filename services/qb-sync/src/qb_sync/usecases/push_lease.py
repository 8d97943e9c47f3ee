"""One worker's hold on one row: its fencing token, renewed while the row is pushed.

`lease_due` mints a token per lease. A `PushLease` remembers it and, while the push runs, a
renewer task pushes `lease_until` out every quarter of the lease, so a push that takes long
(429 pauses, timeouts and retries) keeps its row and nobody else takes it. If renewing finds the
token gone (the lease expired and was taken, or a link or a merge invalidated it), the lease is
lost: the gateway starts no further attempt for it and the outcome is never written (every write
checks the token). Before each HTTP attempt the gateway asks `allows(worst case of one attempt)`,
which renews on the spot when the background renewal is late, so no attempt can outlive the
lease. The local deadline is kept on the monotonic clock, counted from before each renewal was
asked, so it never runs later than the database's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from qb_sync.store.push.leases import renew_lease
from qb_sync.store.push.rows import Mapping

log = logging.getLogger(__name__)


class PushLease:
    def __init__(self, pool: asyncpg.Pool, row: Mapping, seconds: float) -> None:
        assert row.lease_token is not None, "a leased row carries its token"
        self.pool = pool
        self.row = row
        self.token = row.lease_token
        self.seconds = seconds
        # Counted from now, not from when the database granted it: pessimistic, never late.
        self.expires_at = time.monotonic() + seconds
        self.lost = False

    async def renew(self) -> bool:
        asked = time.monotonic()
        if await renew_lease(self.pool, self.row, self.token, self.seconds):
            self.expires_at = asked + self.seconds
            return True
        self.lost = True
        log.info("push lease lost", extra={"fields": {"customer_id": self.row.customer_id}})
        return False

    async def allows(self, seconds: float) -> bool:
        """Whether the lease still holds for `seconds`, renewing it first when the background
        renewal is late (a busy loop), so that answer never relies on a stale deadline."""
        if self.lost:
            return False
        if self.expires_at - time.monotonic() > seconds:
            return True
        return await self.renew() and self.expires_at - time.monotonic() > seconds


@asynccontextmanager
async def held(pool: asyncpg.Pool, row: Mapping, seconds: float) -> AsyncIterator[PushLease]:
    """The row's lease, renewed in the background for as long as the block runs."""
    lease = PushLease(pool, row, seconds)

    async def renew() -> None:
        while not lease.lost:
            await asyncio.sleep(seconds / 4)
            try:
                await lease.renew()
            except Exception:
                log.warning("renewing a push lease failed", exc_info=True)  # try again later

    renewer = asyncio.create_task(renew(), name=f"push-lease-{row.customer_id}")
    try:
        yield lease
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
