"""A tenant's QuickBooks Desktop connections: create one (its Web Connector password is returned
once, stored hashed), list the tenant's with their Web Connector state, find one, queue a refresh from the company file."""

from __future__ import annotations

import secrets
import uuid

import asyncpg

from qb_sync.domain.qbd.passwords import new_password
from qb_sync.domain.qbd.records import ConnectionOverview, QbdConnection
from qb_sync.store.qbd.connections import (
    connection_of_tenant,
    connections_of_tenant,
    create_connection,
)
from qb_sync.store.qbd.requests import enqueue_once


class DesktopConnections:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, tenant_id: str, owner_id: str) -> tuple[QbdConnection, str]:
        """The new connection and its password, which is never readable again."""
        password = new_password()
        username = f"qbd-{secrets.token_hex(5)}"
        async with self.pool.acquire() as conn:
            connection = await create_connection(conn, tenant_id, username, password, owner_id)
        return connection, password

    async def overview(self, tenant_id: str) -> list[ConnectionOverview]:
        async with self.pool.acquire() as conn:
            return await connections_of_tenant(conn, tenant_id)

    async def of_tenant(self, tenant_id: str, connection_id: uuid.UUID) -> QbdConnection | None:
        async with self.pool.acquire() as conn:
            return await connection_of_tenant(conn, tenant_id, connection_id)

    async def queue_refresh(self, connection: QbdConnection) -> int:
        """The next Web Connector run reads the customers (all of them the first time, then
        what changed or was deleted since); asking twice queues one job."""
        async with self.pool.acquire() as conn:
            return await enqueue_once(conn, connection.connection_id, "customer_changes")
