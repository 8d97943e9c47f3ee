"""What a person asks of the pull side: a full import again ("refresh"), and how far it got.
A QuickBooks Desktop company (its realm is the connection id) answers the same: a refresh queues
the next Web Connector run's read of the company file, the status comes from its import jobs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from qb_sync.domain.errors import Conflict, NotFound
from qb_sync.domain.qbd.records import is_desktop_realm
from qb_sync.store.connections import status_of
from qb_sync.store.pull_state import PullState, get_state, request_import
from qb_sync.store.qbd.connections import connection_of_tenant
from qb_sync.store.qbd.import_status import desktop_pull_state
from qb_sync.store.qbd.requests import enqueue_once


@dataclass
class PullRequests:
    db: asyncpg.Pool
    wake_puller: Callable[[], None]

    async def refresh(self, tenant_id: str, realm_id: str) -> None:
        """Queue a full import of a connected company."""
        if is_desktop_realm(realm_id):
            async with self.db.acquire() as conn:
                connection = await connection_of_tenant(conn, tenant_id, uuid.UUID(realm_id))
                if connection is None:
                    raise NotFound(f"QuickBooks Desktop company {realm_id} is not connected")
                await enqueue_once(conn, connection.connection_id, "customer_changes")
            return
        status = await status_of(self.db, tenant_id, realm_id)
        if status is None or status == "disconnected":
            raise NotFound(f"QuickBooks company {realm_id} is not connected")
        if status != "connected":
            raise Conflict(status, f"QuickBooks company {realm_id} must be reconnected")
        await request_import(self.db, tenant_id, realm_id)
        self.wake_puller()

    async def status(self, tenant_id: str, realm_id: str) -> PullState:
        if is_desktop_realm(realm_id):
            state = await desktop_pull_state(self.db, tenant_id, uuid.UUID(realm_id))
        else:
            state = await get_state(self.db, tenant_id, realm_id)
        if state is None:
            raise NotFound(f"QuickBooks company {realm_id} is not connected")
        return state
