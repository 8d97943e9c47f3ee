"""The work of one realm: a full import, a CDC pass, pending merges. Each step commits its
progress with the mirror events it publishes, so a crash anywhere resumes, never restarts.

Full import: pages of 1000 (`Active IN (true,false) ORDERBY Id`, keyset on Id); each page's
mirror events and the cursor commit together. When it ends, the CDC watermark becomes the time
the import started: anything changed during the import is picked up by the next CDC pass.

CDC: `changedSince = watermark - overlap` (clock skew and commit lag), never more than 29 days
back (QuickBooks refuses 30): older means a full import instead. A CDC answer carries at most 1000
objects and cannot be paged; when one comes back at the cap, the window is read again as pages of
a `MetaData.LastUpdatedTime >= since` query, which has no cap.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import Counter

from qb_sync.qbo.customer_reads import Json, read_changes, read_page
from qb_sync.qbo.gateway import QboGateway
from qb_sync.settings import Settings
from qb_sync.store.known_customers import remember
from qb_sync.store.mirror import publish_mirror
from qb_sync.store.pull_state import (
    begin_import,
    finish_import,
    get_state,
    pending_merges,
    record_cdc_run,
    record_import_page,
    record_merge,
    request_import,
)
from qb_sync.store.push.in_doubt import wake_in_doubt
from qb_sync.usecases.apply_merge import apply_merge

log = logging.getLogger(__name__)
PULL_PUBLISHED = Counter(
    "qbsync_pull_mirrored_total", "QuickBooks customer versions mirrored, by path", ["path"]
)
PULL_CDC_WINDOWS = Counter(
    "qbsync_pull_cdc_windows_total", "CDC passes, by outcome (ok, over_cap, too_old)", ["outcome"]
)

CDC_MAX_LOOKBACK = timedelta(days=29)


class Puller:
    def __init__(self, pool: asyncpg.Pool, gateway: QboGateway, settings: Settings) -> None:
        self.pool = pool
        self.gateway = gateway
        self.settings = settings
        self.stats: dict[str, int] = {
            "pages": 0,
            "published": 0,
            "cdc_calls": 0,
            "cdc_over_cap": 0,
            "merges": 0,
        }

    async def run_realm(self, tenant_id: str, realm_id: str) -> None:
        state = await get_state(self.pool, tenant_id, realm_id)
        if state is None:
            return
        if state.import_requested_at is not None:
            await self.full_import(tenant_id, realm_id)
        elif state.cdc_due_at is not None and state.cdc_due_at <= datetime.now(UTC):
            await self.cdc(tenant_id, realm_id)
        for merge in await pending_merges(self.pool, tenant_id, realm_id):
            await apply_merge(self.pool, self.gateway, tenant_id, realm_id, merge)
            self.stats["merges"] += 1

    # -- full import --------------------------------------------------------------------------
    async def full_import(self, tenant_id: str, realm_id: str) -> int:
        if not await begin_import(self.pool, tenant_id, realm_id):
            return 0
        state = await get_state(self.pool, tenant_id, realm_id)
        assert state is not None and state.import_started_at is not None
        after = state.import_after_id
        published = 0
        size = self.settings.pull_page_size

        def read(after_id: int) -> asyncio.Task[list[Json]]:
            return asyncio.create_task(read_page(self.gateway, tenant_id, realm_id, after_id, size))

        # Pipelined: the next page is read from QuickBooks while this one is committed. The
        # cursor still moves only with a committed page, so a crash resumes after it.
        pending: asyncio.Task[list[Json]] | None = read(after)
        try:
            while pending is not None:
                page = await pending
                pending = None
                if page:
                    after = max(int(c["Id"]) for c in page)
                if len(page) >= size:
                    pending = read(after)
                async with self.pool.acquire() as conn, conn.transaction():
                    published += await self._publish(conn, tenant_id, realm_id, page, "import")
                    await record_import_page(conn, tenant_id, realm_id, after, len(page))
                self.stats["pages"] += 1
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
        await finish_import(self.pool, tenant_id, realm_id, self.settings.pull_cdc_interval_seconds)
        log.info(
            "full import done",
            extra={"realm_id": realm_id, "published": published, "last_id": after},
        )
        return published

    # -- change data capture ------------------------------------------------------------------
    async def cdc(self, tenant_id: str, realm_id: str) -> int:
        state = await get_state(self.pool, tenant_id, realm_id)
        if state is None:
            return 0
        run_started = datetime.now(UTC)
        if state.cdc_watermark is None:
            await self._need_import(tenant_id, realm_id, "no CDC watermark yet")
            return 0
        since = state.cdc_watermark - timedelta(seconds=self.settings.pull_cdc_overlap_seconds)
        if since < run_started - CDC_MAX_LOOKBACK:
            PULL_CDC_WINDOWS.labels("too_old").inc()
            await self._need_import(tenant_id, realm_id, "CDC watermark older than 29 days")
            return 0
        changes = await read_changes(self.gateway, tenant_id, realm_id, since)
        self.stats["cdc_calls"] += 1
        if len(changes) < self.settings.pull_cdc_cap:
            PULL_CDC_WINDOWS.labels("ok").inc()
        if len(changes) >= self.settings.pull_cdc_cap:
            # Over the cap: QuickBooks left changes out. Read the same window as query pages.
            self.stats["cdc_over_cap"] += 1
            PULL_CDC_WINDOWS.labels("over_cap").inc()
            log.info("CDC window over the cap; paging it", extra={"realm_id": realm_id})
            changes = [c for c in changes if c.get("status") == "Deleted"]
            after = 0
            while True:
                page = await read_page(
                    self.gateway, tenant_id, realm_id, after, self.settings.pull_page_size, since
                )
                changes.extend(page)
                if len(page) < self.settings.pull_page_size:
                    break
                after = max(int(c["Id"]) for c in page)
        async with self.pool.acquire() as conn, conn.transaction():
            published = await self._publish(conn, tenant_id, realm_id, changes, "cdc")
            await record_cdc_run(
                conn, tenant_id, realm_id, run_started, self.settings.pull_cdc_interval_seconds
            )
        return published

    async def _need_import(self, tenant_id: str, realm_id: str, why: str) -> None:
        log.info("full import instead of CDC: %s", why, extra={"realm_id": realm_id})
        await request_import(self.pool, tenant_id, realm_id)

    async def _publish(
        self,
        conn: asyncpg.Connection,
        tenant_id: str,
        realm_id: str,
        customers: list[Json],
        path: str,
    ) -> int:
        published: list[Json] = []
        for customer in customers:
            if customer.get("status") == "Deleted":
                # Customers are never deleted, only merged: CDC shows the merged-away one as a
                # stub without its survivor. The merge path handles it (usecases/apply_merge.py).
                await record_merge(conn, tenant_id, realm_id, str(customer["Id"]), None)
                continue
            if not customer.get("DisplayName"):
                continue
            if await publish_mirror(conn, tenant_id, realm_id, customer):
                published.append(customer)
        await remember(conn, tenant_id, realm_id, published)
        # A push whose update answer was lost learns here that QuickBooks moved: it re-reads.
        await wake_in_doubt(conn, tenant_id, realm_id, [str(c["Id"]) for c in published])
        self.stats["published"] += len(published)
        PULL_PUBLISHED.labels(path).inc(len(published))
        return len(published)
