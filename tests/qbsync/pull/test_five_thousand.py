"""The issue's rule, end to end (customer service + qb-sync + emulator + real Kafka and PG):
importing 5,000 QuickBooks customers through the mapping form with "create here" yields 5,000
platform customers, each linked once, and a second run changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from customer_service.app import create_app as create_customer_app
from customer_service.settings import Settings as CustomerSettings
from platform_kit.auth import create_token
from qbo_emulator.testing import EmulatorServer

from .conftest import PullTenant, client_for, eventually

COUNT = 5_000


@pytest.fixture(scope="session")
async def customer_app(stack_env: dict[str, str]) -> AsyncIterator[FastAPI]:
    app = create_customer_app(
        CustomerSettings(
            database_url=stack_env["DATABASE_URL"],
            kafka_bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        )
    )
    async with app.router.lifespan_context(app):
        yield app


async def directory_size(customers: httpx.AsyncClient, realm_id: str) -> int:
    companies = (await customers.get("/quickbooks/companies")).json()
    return next((c["customers"] for c in companies if c["realm_id"] == realm_id), 0)


async def links_of(db: asyncpg.Pool, tenant_id: str, realm_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT customer_id, qb_customer_id, choice, status FROM qb_mappings
            WHERE tenant_id = $1 AND realm_id = $2""",
        tenant_id,
        realm_id,
    )


async def synced_links(tenant: PullTenant) -> list[asyncpg.Record]:
    return await tenant.db.fetch(
        """SELECT customer_id, qb_customer_id FROM push_mappings
            WHERE tenant_id = $1 AND realm_id = $2 AND status = 'synced'""",
        tenant.tenant_id,
        tenant.realm_id,
    )


def writes_to(emulator: EmulatorServer, realm_id: str) -> int:
    """Requests that could change the company: anything but reads (GET, queries)."""
    return sum(
        1
        for r in emulator.requests()
        if r.get("realm") == realm_id and r["method"] == "POST" and "/query" not in r["path"]
    )


async def push_rows(tenant: PullTenant) -> list[dict[str, object]]:
    rows = await tenant.db.fetch(
        "SELECT * FROM push_mappings WHERE tenant_id = $1 AND realm_id = $2 ORDER BY customer_id",
        tenant.tenant_id,
        tenant.realm_id,
    )
    return [dict(r) for r in rows]


async def test_5000_quickbooks_customers_create_here_gives_5000_linked_customers_once(
    emulator: EmulatorServer, pull_tenant: PullTenant, customer_app: FastAPI
) -> None:
    emulator.seed_realm(pull_tenant.realm_id)
    emulator.seed(
        pull_tenant.realm_id,
        "customers",
        [{"DisplayName": f"Five {pull_tenant.realm_id} #{i:05d}"} for i in range(COUNT)],
    )
    customer_db: asyncpg.Pool = customer_app.state.runtime.db
    token = await create_token(customer_db, pull_tenant.tenant_id, ["read", "write"])
    async with client_for(customer_app, token) as customers:
        # Connect: the full import mirrors 5,000 customers into the customer service's directory.
        await pull_tenant.connect()
        await pull_tenant.wait_import_done(timeout=60)

        async def directory_full() -> bool:
            return await directory_size(customers, pull_tenant.realm_id) == COUNT

        await eventually(directory_full, timeout=60)

        # The mapping form, saved with "create here" for every row.
        reply = await customers.put(
            f"/quickbooks/companies/{pull_tenant.realm_id}/mappings",
            json={"default_choice": "create_here"},
        )
        assert reply.status_code == 200, reply.text
        assert len(reply.json()["created_customers"]) == COUNT

        created = reply.json()["created_customers"]
        mappings = await links_of(customer_db, pull_tenant.tenant_id, pull_tenant.realm_id)
        assert {(r["qb_customer_id"], str(r["customer_id"])) for r in mappings} == set(
            created.items()
        )

        # qb-sync records each "create here" as a synced link (no QuickBooks call).
        async def all_linked() -> list[asyncpg.Record] | None:
            rows = await synced_links(pull_tenant)
            return rows if len(rows) == COUNT else None

        rows = await eventually(all_linked, timeout=60)
        assert {(r["qb_customer_id"], r["customer_id"]) for r in rows} == set(created.items())
        platform_customers = await customer_db.fetchval(
            "SELECT count(*) FROM customers WHERE tenant_id = $1", pull_tenant.tenant_id
        )
        assert platform_customers == COUNT
        mirrored = len(await pull_tenant.mirrored())
        assert mirrored == COUNT

        # A second run: import again and save the form again. Nothing changes.
        rows_before = await push_rows(pull_tenant)
        before = (await pull_tenant.pull_status())["import_finished_at"]
        reply = await pull_tenant.client.post(
            f"/quickbooks/connections/{pull_tenant.realm_id}/refresh"
        )
        assert reply.status_code == 202

        async def imported_again() -> bool:
            status = await pull_tenant.pull_status()
            return not status["import_pending"] and status["import_finished_at"] != before

        await eventually(imported_again, timeout=60)
        reply = await customers.put(
            f"/quickbooks/companies/{pull_tenant.realm_id}/mappings",
            json={"default_choice": "create_here"},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"changed_rows": 0, "created_customers": {}}
        assert writes_to(emulator, pull_tenant.realm_id) == 0  # QuickBooks was never written
        assert await push_rows(pull_tenant) == rows_before  # qb-sync's links untouched
        assert len(await pull_tenant.mirrored()) == mirrored  # every version already seen
        assert (
            await customer_db.fetchval(
                "SELECT count(*) FROM customers WHERE tenant_id = $1", pull_tenant.tenant_id
            )
            == COUNT
        )
        assert (
            len(await links_of(customer_db, pull_tenant.tenant_id, pull_tenant.realm_id)) == COUNT
        )
