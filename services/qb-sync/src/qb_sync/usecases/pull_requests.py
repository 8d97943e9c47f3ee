"""What a person asks of the pull side: a full import again ("refresh"), and how far it got."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from qb_sync.domain.errors import Conflict, NotFound
from qb_sync.store.connections import status_of
from qb_sync.store.pull_state import PullState, get_state, request_import


@dataclass
class PullRequests:
    db: asyncpg.Pool
    wake_puller: Callable[[], None]

    async def refresh(self, tenant_id: str, realm_id: str) -> None:
        """Queue a full import of a connected company."""
        status = await status_of(self.db, tenant_id, realm_id)
        if status is None or status == "disconnected":
            raise NotFound(f"QuickBooks company {realm_id} is not connected")
        if status != "connected":
            raise Conflict(status, f"QuickBooks company {realm_id} must be reconnected")
        await request_import(self.db, tenant_id, realm_id)
        self.wake_puller()

    async def status(self, tenant_id: str, realm_id: str) -> PullState:
        state = await get_state(self.db, tenant_id, realm_id)
        if state is None:
            raise NotFound(f"QuickBooks company {realm_id} is not connected")
        return state
