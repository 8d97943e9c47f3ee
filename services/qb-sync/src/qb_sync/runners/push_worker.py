"""The push worker: `push_workers` tasks, each leasing one due row at a time and pushing it.

Only rows of companies this instance holds (store/ownership.py) are leased: when none is due, a task
looks for companies with due rows and tries to take them. Rows of one company are paced by the
gateway (token bucket + in-flight cap), so more tasks than the company's cap only queue there;
several companies proceed side by side. Each task has its own owner name (for diagnostics); what
fences a lease is its token (usecases/push_lease.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import asyncpg

from qb_sync.settings import Settings
from qb_sync.store.ownership import RealmOwnership
from qb_sync.store.push.auto_retry import retry_failed_rows
from qb_sync.store.push.leases import due_realms, lease_due
from qb_sync.store.push.rows import Mapping
from qb_sync.usecases.push_lease import held
from qb_sync.usecases.push_row import Pusher

log = logging.getLogger(__name__)


class PushWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        pusher: Pusher,
        settings: Settings,
        ownership: RealmOwnership,
        *,
        connected_only: bool,
    ) -> None:
        self.connected_only = connected_only
        self.pool = pool
        self.pusher = pusher
        self.settings = settings
        self.ownership = ownership
        self.name = f"push-{uuid.uuid4().hex[:8]}"
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.pushed = 0
        self._next_discovery = 0.0
        self._next_auto_retry = 0.0

    def start(self) -> None:
        for n in range(max(1, self.settings.push_workers)):
            owner = f"{self.name}-{n}"
            self._tasks.append(asyncio.create_task(self._loop(owner), name=owner))

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
        self._tasks.clear()

    async def _lease(self, owner: str) -> list[Mapping]:
        held_realms = self.ownership.held()
        if held_realms:
            rows = await lease_due(
                self.pool,
                owner,
                1,
                self.settings.push_lease_seconds,
                realms=held_realms,
                connected_only=self.connected_only,
                tenant_prefix=self.settings.push_tenant_prefix,
            )
            if rows:
                return rows
        now = time.monotonic()
        if now < self._next_discovery:
            return []  # another task looked for companies a moment ago
        self._next_discovery = now + self.settings.push_tick_seconds
        if now >= self._next_auto_retry:
            self._next_auto_retry = now + self.settings.push_auto_retry_check_seconds
            await self._retry_failed()
        due = await due_realms(
            self.pool,
            connected_only=self.connected_only,
            tenant_prefix=self.settings.push_tenant_prefix,
        )
        others = [r for r in due if not self.ownership.holds(r)]
        if others and await self.ownership.claim(others):
            return await self._lease(owner)
        await self.ownership.sweep()
        return []

    async def _retry_failed(self) -> None:
        """Failed rows whose company answers again (or is due a probe) go pending on their own."""
        retried = await retry_failed_rows(
            self.pool,
            tenant_prefix=self.settings.push_tenant_prefix,
            base=self.settings.push_auto_retry_base_seconds,
            cap=self.settings.push_auto_retry_max_seconds,
            max_retries=self.settings.push_auto_retries,
        )
        if retried:
            log.info("failed rows retried on their own", extra={"fields": {"rows": retried}})

    async def _loop(self, owner: str) -> None:
        while not self._stopping.is_set():
            try:
                rows = await self._lease(owner)
            except Exception:
                log.exception("leasing push rows failed")
                rows = []
            if not rows:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.push_tick_seconds)
                continue
            for row in rows:
                self.ownership.touch((row.tenant_id, row.realm_id))
                try:
                    async with held(self.pool, row, self.settings.push_lease_seconds) as lease:
                        await self.pusher.push(row, lease)
                    self.pushed += 1
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # The lease expires and the row is taken again: nothing is lost.
                    log.exception(
                        "push failed unexpectedly",
                        extra={"fields": {"customer_id": row.customer_id}},
                    )
