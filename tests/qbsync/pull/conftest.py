"""qb-sync in-process (real PostgreSQL, real Kafka) against an in-thread QuickBooks emulator.

Every test gets its own tenant and its own realm ids, so tests never see each other's data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from platform_kit.auth import create_token
from qb_sync.app import create_app
from qb_sync.settings import Settings
from qbo_emulator.testing import EmulatorServer

from ..conftest import wait_for as eventually

VERIFIER = "pull-tests-verifier"
# Tenants of these tests; this app's push worker leaves every other tenant's rows alone.
TENANT_PREFIX = f"pull-{uuid.uuid4().hex[:6]}-"


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(settings={"webhook_verifier_token": VERIFIER}) as emu:
        yield emu


@pytest.fixture(scope="session")
async def qbsync_app(stack_env: dict[str, str], emulator: EmulatorServer) -> AsyncIterator[FastAPI]:
    app = create_app(
        Settings(
            database_url=stack_env["DATABASE_URL"],
            kafka_bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
            qbo_base_url=emulator.base_url,
            qbo_webhook_verifier_token=VERIFIER,
            pull_tick_seconds=0.1,
            pull_cdc_interval_seconds=3600,  # tests trigger CDC themselves
            pull_cdc_overlap_seconds=5,
            push_tenant_prefix=TENANT_PREFIX,
            pull_tenant_prefix=TENANT_PREFIX,
        )
    )
    async with app.router.lifespan_context(app):
        await _record_outbox_copies(app.state.runtime.db)
        try:
            yield app
        finally:
            await app.state.runtime.db.execute(
                "DROP TRIGGER IF EXISTS test_pull_outbox_copy ON outbox;"
                " DROP TABLE IF EXISTS test_pull_outbox_copy"
            )


async def _record_outbox_copies(pool: asyncpg.Pool) -> None:
    """The relay deletes outbox rows once published; tests read a transactional copy instead."""
    await pool.execute(
        """CREATE TABLE IF NOT EXISTS test_pull_outbox_copy (
               id bigserial PRIMARY KEY, topic text, key text, payload bytea);
           CREATE OR REPLACE FUNCTION test_pull_outbox_copy() RETURNS trigger
           LANGUAGE plpgsql AS $$
           BEGIN
               INSERT INTO test_pull_outbox_copy (topic, key, payload)
               VALUES (NEW.topic, NEW.key, NEW.payload);
               RETURN NULL;
           END $$;
           DROP TRIGGER IF EXISTS test_pull_outbox_copy ON outbox;
           CREATE TRIGGER test_pull_outbox_copy AFTER INSERT ON outbox
               FOR EACH ROW EXECUTE FUNCTION test_pull_outbox_copy();"""
    )


@dataclass
class PullTenant:
    tenant_id: str
    realm_id: str
    client: httpx.AsyncClient  # read, write, admin
    app: FastAPI

    @property
    def db(self) -> asyncpg.Pool:
        return self.app.state.runtime.db  # type: ignore[no-any-return]

    async def mirrored(self, topic: str = "qb.customers") -> list[dict[str, Any]]:
        """Every event qb-sync wrote for this realm on `topic`, oldest first."""
        rows = await self.db.fetch(
            """SELECT payload FROM test_pull_outbox_copy
                WHERE topic = $1 AND key LIKE $2 ORDER BY id""",
            topic,
            f"{self.realm_id}:%",
        )
        return [json.loads(r["payload"]) for r in rows]

    async def connect(self) -> httpx.Response:
        """Connect the company through the emulator's consent page and the code exchange."""
        reply = await self.client.post("/quickbooks/connections", json={"realm_id": self.realm_id})
        assert reply.status_code == 201, reply.text
        return reply

    async def pull_status(self) -> dict[str, Any]:
        reply = await self.client.get(f"/quickbooks/connections/{self.realm_id}/pull")
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    async def wait_import_done(self, timeout: float = 30) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            status = await self.pull_status()
            return status if not status["import_pending"] and status["import_finished_at"] else None

        return await eventually(done, timeout)


def client_for(app: FastAPI, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://qb-sync",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
async def pull_tenant(qbsync_app: FastAPI) -> AsyncIterator[PullTenant]:
    tenant_id = f"{TENANT_PREFIX}{uuid.uuid4().hex[:10]}"
    token = await create_token(qbsync_app.state.runtime.db, tenant_id, ["read", "write", "admin"])
    realm_id = str(9_000_000_000 + uuid.uuid4().int % 1_000_000_000)
    async with client_for(qbsync_app, token) as client:
        yield PullTenant(tenant_id, realm_id, client, qbsync_app)
