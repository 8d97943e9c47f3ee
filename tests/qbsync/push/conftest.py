"""Push tests, end to end: the customer service and qb-sync in-process (real PostgreSQL, real
Kafka) against an in-thread QuickBooks emulator.

qb-sync runs with fixed emulator credentials (no connection row), fast retries and high pacing
limits; a test that needs the limits sets them on its realm in the emulator. Every test gets its
own tenant and realm, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from customer_service.app import create_app as create_customer_app
from customer_service.settings import Settings as CustomerSettings
from platform_kit.auth import create_token
from qb_sync.app import create_app
from qb_sync.qbo.credentials import StaticCredentials
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
        "qbo_read_timeout_seconds": 5,
        "qbo_retry_base_seconds": 0.05,
        "qbo_throttle_wait_seconds": 0.3,
        "push_workers": 8,
        "push_tick_seconds": 0.05,
        "push_backoff_base_seconds": 0.1,
        "push_backoff_max_seconds": 0.5,
        "push_max_attempts": 6,
        "push_tenant_prefix": TENANT_PREFIX,
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
    app = create_app(push_settings(stack_env, push_emulator.base_url), StaticCredentials())
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

    @property
    def db(self) -> asyncpg.Pool:
        return self.app.state.runtime.db  # type: ignore[no-any-return]

    def qb_customers(self) -> dict[str, dict[str, Any]]:
        return self.emulator.state(self.realm_id)

    def qb_named(self, name: str) -> list[dict[str, Any]]:
        return [c for c in self.qb_customers().values() if c.get("DisplayName") == name]

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


@pytest.fixture
async def world(
    push_app: FastAPI, push_customer_app: FastAPI, push_emulator: EmulatorServer
) -> AsyncIterator[PushWorld]:
    tenant_id = f"{TENANT_PREFIX}{uuid.uuid4().hex[:10]}"
    token = await create_token(push_app.state.runtime.db, tenant_id, ["read", "write", "admin"])
    realm_id = str(7_000_000_000 + uuid.uuid4().int % 1_000_000_000)
    push_emulator.seed_realm(realm_id)
    async with (
        client_for(push_customer_app, token, "customer") as customers,
        client_for(push_app, token, "qb-sync") as sync,
    ):
        yield PushWorld(tenant_id, realm_id, customers, sync, push_emulator, push_app)
    push_emulator.set_faults()
