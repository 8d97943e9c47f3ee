"""The push worker: `push_workers` tasks, each leasing one due row at a time and pushing it.

Rows of one realm are paced by the gateway (token bucket + in-flight cap), so more tasks than
the realm's cap only queue there; several realms proceed side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import asyncpg

from qb_sync.push.pusher import Pusher
from qb_sync.push.state import lease_due
from qb_sync.settings import Settings

log = logging.getLogger(__name__)


class PushWorker:
    def __init__(
        self, pool: asyncpg.Pool, pusher: Pusher, settings: Settings, *, connected_only: bool
    ) -> None:
        self.connected_only = connected_only
        self.pool = pool
        self.pusher = pusher
        self.settings = settings
        self.owner = f"push-{uuid.uuid4().hex[:12]}"
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.pushed = 0

    def start(self) -> None:
        for n in range(max(1, self.settings.push_workers)):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"push-worker-{n}"))

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                rows = await lease_due(
                    self.pool,
                    self.owner,
                    1,
                    self.settings.push_lease_seconds,
                    connected_only=self.connected_only,
                    tenant_prefix=self.settings.push_tenant_prefix,
                )
            except Exception:
                log.exception("leasing push rows failed")
                rows = []
            if not rows:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.push_tick_seconds)
                continue
            for row in rows:
                try:
                    await self.pusher.push(row, self.owner)
                    self.pushed += 1
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # The lease expires and the row is taken again: nothing is lost.
                    log.exception(
                        "push failed unexpectedly",
                        extra={"fields": {"customer_id": row.customer_id}},
                    )
