"""Push tests, end to end: the customer service and qb-sync in-process (real PostgreSQL, real
Kafka) against an in-thread QuickBooks emulator.

Every test gets its own tenant and realm, connected the way a user connects one (qb-sync asks the
emulator to authorize it and stores the issued tokens; the realm then accepts only those), so
tests never see each other's data and every call carries a real token. qb-sync runs with fast
retries and high pacing limits; a test that needs the limits sets them on its realm in the
emulator. `QuickBooksLog` reads the emulator's request log and counters: what reached
QuickBooks' business logic, what was replayed, which faults were answered.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from customer_service.app import create_app as create_customer_app
from customer_service.settings import Settings as CustomerSettings
from platform_kit.auth import create_token
from qb_sync.app import create_app
from qb_sync.settings import Settings
from qbo_emulator.testing import EmulatorServer
from tests.qbsync.conftest import wait_for

# This session's tenants: qb-sync here pushes only their rows, never another test session's.
TENANT_PREFIX = f"pushtest-{uuid.uuid4().hex[:8]}-"


def push_settings(stack_env: dict[str, str], base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": stack_env["DATABASE_URL"],
        "kafka_bootstrap_servers": stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        "qbo_base_url": base_url,
        "pull_enabled": False,
        "qbo_requests_per_minute": 6000,
        "qbo_requests_per_second": 100,
        "qbo_max_concurrent": 8,
        "qbo_read_timeout_seconds": 3,
        "qbo_retry_base_seconds": 0.05,
        "qbo_throttle_wait_seconds": 0.3,
        "push_workers": 8,
        "push_tick_seconds": 0.05,
        "push_backoff_base_seconds": 0.1,
        "push_backoff_max_seconds": 0.5,
        "push_max_attempts": 6,
        "push_tenant_prefix": TENANT_PREFIX,
        # One row per lease, as these tests were written for; test_push_batch.py turns it on.
        "push_batch_enabled": False,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture(scope="session")
def push_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer() as emu:
        yield emu


@pytest.fixture(scope="session")
async def push_app(
    stack_env: dict[str, str], push_emulator: EmulatorServer
) -> AsyncIterator[FastAPI]:
    app = create_app(push_settings(stack_env, push_emulator.base_url))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def push_customer_app(stack_env: dict[str, str]) -> AsyncIterator[FastAPI]:
    app = create_customer_app(
        CustomerSettings(
            database_url=stack_env["DATABASE_URL"],
            kafka_bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        )
    )
    async with app.router.lifespan_context(app):
        yield app


def client_for(app: FastAPI, token: str, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=f"http://{name}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


@dataclass
class PushWorld:
    tenant_id: str
    realm_id: str
    customers: httpx.AsyncClient  # the customer service
    sync: httpx.AsyncClient  # qb-sync
    emulator: EmulatorServer
    app: FastAPI
    seeded: Counter[str] = field(default_factory=Counter)

    @property
    def db(self) -> asyncpg.Pool:
        return self.app.state.runtime.db  # type: ignore[no-any-return]

    def qb_customers(self) -> dict[str, dict[str, Any]]:
        return self.emulator.state(self.realm_id)

    def qb_named(self, name: str) -> list[dict[str, Any]]:
        return [c for c in self.qb_customers().values() if c.get("DisplayName") == name]

    def seed(self, kind: str, display_name: str, **fields: Any) -> dict[str, Any]:
        """A customer, vendor or employee made in QuickBooks directly (not counted as ours)."""
        self.seeded[display_name] += 1
        return self.emulator.seed(self.realm_id, kind, [{"DisplayName": display_name, **fields}])[0]

    def qb_log(self, realms: list[str] | None = None) -> QuickBooksLog:
        log = QuickBooksLog(self.emulator, realms or [self.realm_id])
        log.creates_by_name -= self.seeded
        return log

    async def wait_snapshot(self, customer_id: str, **values: Any) -> None:
        """Until qb-sync has seen the customer's change (customer.events is asynchronous)."""

        async def seen() -> bool:
            raw = await self.db.fetchval(
                "SELECT snapshot FROM push_customers WHERE tenant_id = $1 AND customer_id = $2",
                self.tenant_id,
                customer_id,
            )
            snapshot = json.loads(raw) if isinstance(raw, str) else (raw or {})
            return all(snapshot.get(k) == v for k, v in values.items())

        await wait_for(seen, 30)

    async def create_request_ids(self) -> set[str]:
        """Every create requestid this tenant's rows used (current and replaced ones are all
        derived from the row's first)."""
        rows = await self.db.fetch(
            "SELECT create_request_id FROM push_mappings WHERE tenant_id = $1", self.tenant_id
        )
        return {r["create_request_id"] for r in rows}

    async def create_customer(self, **fields: Any) -> dict[str, Any]:
        body = {"company_name": "Acme Widgets", "contact_name": "Ada Lovelace", **fields}
        reply = await self.customers.post("/customers", json=body)
        assert reply.status_code == 201, reply.text
        return reply.json()  # type: ignore[no-any-return]

    async def push(self, customer_id: str) -> None:
        reply = await self.customers.post(
            f"/customers/{customer_id}/quickbooks/push", json={"realm_id": self.realm_id}
        )
        assert reply.status_code == 202, reply.text

    async def row(self, customer_id: str) -> dict[str, Any] | None:
        reply = await self.sync.get(f"/quickbooks/sync/{self.realm_id}/{customer_id}")
        if reply.status_code == 404:
            return None
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    async def wait_status(
        self, customer_id: str, status: str, timeout: float = 30
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            row = await self.row(customer_id)
            return row if row and row["status"] == status else None

        try:
            return await wait_for(probe, timeout)  # type: ignore[no-any-return]
        except AssertionError:
            raise AssertionError(f"not {status}: {await self.row(customer_id)}") from None

    async def wait_customer_service_status(self, customer_id: str, status: str) -> None:
        async def probe() -> bool:
            reply = await self.customers.get(f"/customers/{customer_id}/quickbooks")
            return any(
                x["status"] == status and x["realm_id"] == self.realm_id for x in reply.json()
            )

        await wait_for(probe, 30)

    async def wait_linked_in_customer_service(self, customer_id: str, qb_id: str) -> None:
        async def probe() -> bool:
            reply = await self.customers.get(f"/customers/{customer_id}/quickbooks")
            return any(
                x["qb_customer_id"] == qb_id and x["realm_id"] == self.realm_id
                for x in reply.json()
            )

        await wait_for(probe, 30)


class QuickBooksLog:
    """The emulator's view of some realms: its request log (method, path, requestid, status,
    replay) and what reached business logic (creates per name)."""

    def __init__(self, emulator: EmulatorServer, realms: list[str]) -> None:
        self.realms = set(realms)
        self.entries = [e for e in emulator.requests() if e.get("realm") in self.realms]
        state = emulator.state()
        self.creates_by_name: Counter[str] = Counter()
        for key, count in state["creates_by_name"].items():
            realm, _, name = key.partition(":")
            if realm in self.realms:
                self.creates_by_name[name] += count

    def writes(self) -> list[dict[str, Any]]:
        return [
            e for e in self.entries if e["method"] == "POST" and e["path"].endswith("/customer")
        ]

    def replays(self) -> list[dict[str, Any]]:
        return [e for e in self.writes() if e.get("replay")]

    def with_request_ids(self, request_ids: set[str]) -> list[dict[str, Any]]:
        return [e for e in self.writes() if e.get("requestid") in request_ids]

    def business_faults(self, request_ids: set[str] | None = None) -> list[dict[str, Any]]:
        """Writes QuickBooks answered with a 4xx fault (6240, 5010, ...), optionally only those
        carrying one of `request_ids`."""
        return [
            e
            for e in self.writes()
            if e["status"] == 400 and (request_ids is None or e.get("requestid") in request_ids)
        ]


async def connect_realm(sync: httpx.AsyncClient, realm_id: str) -> None:
    """Connect the company like a user does: qb-sync stores the tokens the emulator issues."""
    reply = await sync.post("/quickbooks/connections", json={"realm_id": realm_id})
    assert reply.status_code == 201, reply.text


@asynccontextmanager
async def open_world(
    sync_app: FastAPI,
    customer_app: FastAPI,
    emulator: EmulatorServer,
    *,
    tenant_prefix: str,
    realm_base: int,
    connected: bool,
) -> AsyncIterator[PushWorld]:
    """A fresh tenant with an admin token, clients for both services and a company of its own
    (connected like a user does, unless `connected` is False); the emulator's faults are cleared
    afterwards."""
    tenant_id = f"{tenant_prefix}{uuid.uuid4().hex[:10]}"
    token = await create_token(sync_app.state.runtime.db, tenant_id, ["read", "write", "admin"])
    realm_id = str(realm_base + uuid.uuid4().int % 1_000_000_000)
    async with (
        client_for(customer_app, token, "customer") as customers,
        client_for(sync_app, token, "qb-sync") as sync,
    ):
        if connected:
            await connect_realm(sync, realm_id)
        yield PushWorld(tenant_id, realm_id, customers, sync, emulator, sync_app)
    emulator.set_faults()


@pytest.fixture
async def world(
    push_app: FastAPI, push_customer_app: FastAPI, push_emulator: EmulatorServer
) -> AsyncIterator[PushWorld]:
    async with open_world(
        push_app,
        push_customer_app,
        push_emulator,
        tenant_prefix=TENANT_PREFIX,
        realm_base=7_000_000_000,
        connected=True,
    ) as opened:
        yield opened
