"""The puller loop: finds realms with due work and runs each, never two passes of one realm at once.

A realm is pulled only by the instance that holds it (store/ownership.py; its push rows go to the same
instance, so one token bucket paces all of a company's calls), and a pass holds a PostgreSQL
advisory lock on one pooled connection besides; a killed process's locks die with its
connections. Passes of different realms run concurrently (bounded). Failures are recorded on the
realm and retried on a later tick; the gateway already retried throttling and transient errors,
and `ReauthRequired` stops the realm until the user reconnects (the due-realm query only picks
connected realms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from qb_sync.qbo.errors import ReauthRequired
from qb_sync.store.ownership import RealmOwnership
from qb_sync.store.pull_state import due_realms, pass_lock, record_failure
from qb_sync.usecases.pull_realm import Puller

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_SECONDS = 5.0


class PullWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        puller: Puller,
        ownership: RealmOwnership,
        *,
        tick_seconds: float,
        max_parallel: int = 4,
        tenant_prefix: str = "",
    ) -> None:
        self.pool = pool
        self.puller = puller
        self.ownership = ownership
        self.tick_seconds = tick_seconds
        self.tenant_prefix = tenant_prefix
        self._slots = asyncio.Semaphore(max_parallel)
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.paused = False  # tests hand the work to another process

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="qb-pull-worker")

    def wake(self) -> None:
        """Look for work now (after a connect or a refresh request) instead of at the next tick."""
        self._wake.set()

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                for key in [] if self.paused else await due_realms(self.pool, self.tenant_prefix):
                    if key not in self._running:
                        self._running[key] = asyncio.create_task(self._run(*key))
            except Exception:
                log.exception("pull worker could not list due realms")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_seconds)
            self._wake.clear()

    async def _run(self, tenant_id: str, realm_id: str) -> None:
        try:
            if not await self.ownership.claim_one((tenant_id, realm_id)):
                return  # another instance serves this company (its limits are per company)
            async with self._slots, pass_lock(self.pool, tenant_id, realm_id) as locked:
                if not locked:
                    return  # another instance has this realm
                try:
                    await self.puller.run_realm(tenant_id, realm_id)
                except asyncio.CancelledError:
                    raise
                except ReauthRequired as exc:  # expected; the realm waits for the user
                    log.warning(
                        "pull stopped until reconnected: %s", exc, extra={"realm_id": realm_id}
                    )
                    await self._record_failure(tenant_id, realm_id, exc)
                except Exception as exc:
                    log.exception("pull pass failed", extra={"realm_id": realm_id})
                    await self._record_failure(tenant_id, realm_id, exc)
        finally:
            self._running.pop((tenant_id, realm_id), None)

    async def _record_failure(self, tenant_id: str, realm_id: str, exc: Exception) -> None:
        with contextlib.suppress(Exception):
            await record_failure(
                self.pool,
                tenant_id,
                realm_id,
                f"{type(exc).__name__}: {exc}"[:500],
                RETRY_AFTER_FAILURE_SECONDS,
            )
