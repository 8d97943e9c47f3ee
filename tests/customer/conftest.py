"""The customer app running in-process against the real PostgreSQL and Kafka, once for the tests of
this package, and a fresh tenant (with its own tokens) per test so tests never see each other's data.

Package scope, not session: the app runs on the real `customer` schema and consumer group. Kept
alive for the rest of the session, its outbox relay held its share of the schema's buckets while
the event loop stood still (sync tests), so the events of those buckets written by a platform that
later tests start (tests/e2e) were never published; and when the loop ran again (async tests), its
consumer took partitions of the `customer` group from that platform's customer service."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from customer_service.app import create_app
from customer_service.settings import Settings
from platform_kit.auth import create_token


@pytest.fixture(scope="package")
async def customer_app(stack_env: dict[str, str]) -> AsyncIterator[FastAPI]:
    app = create_app(
        Settings(
            database_url=stack_env["DATABASE_URL"],
            kafka_bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
            attachment_max_bytes=200_000,
        )
    )
    async with app.router.lifespan_context(app):
        await _record_outbox_copies(app.state.runtime.db)
        try:
            yield app
        finally:
            await app.state.runtime.db.execute(
                "DROP TRIGGER IF EXISTS test_outbox_copy ON outbox; DROP TABLE IF EXISTS test_outbox_copy"
            )


async def _record_outbox_copies(pool: asyncpg.Pool) -> None:
    """The relay deletes outbox rows once published; tests read a transactional copy instead,
    so a rolled-back transaction leaves no copy either."""
    await pool.execute(
        """CREATE TABLE IF NOT EXISTS test_outbox_copy (
               id bigserial PRIMARY KEY, event_id uuid, key text, payload bytea);
           CREATE OR REPLACE FUNCTION test_outbox_copy() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               INSERT INTO test_outbox_copy (event_id, key, payload)
               VALUES (NEW.event_id, NEW.key, NEW.payload);
               RETURN NULL;
           END $$;
           DROP TRIGGER IF EXISTS test_outbox_copy ON outbox;
           CREATE TRIGGER test_outbox_copy AFTER INSERT ON outbox
               FOR EACH ROW EXECUTE FUNCTION test_outbox_copy();"""
    )


async def outbox_events(pool: asyncpg.Pool, key: str) -> list[dict]:
    """Every event recorded for one key (customer id), oldest first."""
    rows = await pool.fetch("SELECT payload FROM test_outbox_copy WHERE key = $1 ORDER BY id", key)
    return [json.loads(r["payload"]) for r in rows]


@pytest.fixture(scope="package")
async def customer_db(customer_app: FastAPI) -> asyncpg.Pool:
    return customer_app.state.runtime.db


@dataclass
class Tenant:
    tenant_id: str
    client: httpx.AsyncClient  # read + write
    admin: httpx.AsyncClient
    reader: httpx.AsyncClient


def _client(app: FastAPI, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://customer",
        headers={"Authorization": f"Bearer {token}"},
    )


async def new_tenant(app: FastAPI) -> Tenant:
    tenant_id = f"tenant-{uuid.uuid4().hex[:10]}"
    pool = app.state.runtime.db
    return Tenant(
        tenant_id,
        _client(app, await create_token(pool, tenant_id, ["read", "write"], name="sam's app")),
        _client(app, await create_token(pool, tenant_id, ["admin"], name="admin console")),
        _client(app, await create_token(pool, tenant_id, ["read"], name="reports")),
    )


@pytest.fixture
async def tenant(customer_app: FastAPI) -> Tenant:
    return await new_tenant(customer_app)


@pytest.fixture
async def other_tenant(customer_app: FastAPI) -> Tenant:
    return await new_tenant(customer_app)


def minimal_customer(**overrides: object) -> dict[str, object]:
    return {"company_name": "Acme Widgets", "contact_name": "Ada Lovelace", **overrides}
