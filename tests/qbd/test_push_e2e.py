"""Desktop push end to end: the customer service and qb-sync (real PostgreSQL, real Kafka), a
qb-sync replica serving the Web Connector's SOAP endpoint on a real port (sessions and work live
in PostgreSQL, so any replica takes the calls), the simulated Web Connector and company file.

A user asks the customer service to push customers to the tenant's Desktop company; the
MappingSaved event reaches qb-sync over Kafka; Web Connector sessions carry the pushes, under a
fault; the outcome shows in qb-sync's sync status API and reaches the customer service as the
same qb.sync events as for QuickBooks Online. After every fault: zero duplicates in the company
file, every customer linked to exactly one QuickBooks customer."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from platform_kit.auth import create_token
from platform_kit.db import create_pool
from qb_sync.api.qbd import web_connector
from qb_sync.app import SCHEMA
from qb_sync.domain.qbd.push_xml import external_guid
from qbd_simulator.company import CompanyFile
from qbd_simulator.connector import Faults, Qwc, Session, WebConnector
from tests.qbd.desktop_world import desktop_apps  # noqa: F401 (fixture)
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import TENANT_PREFIX, client_for, push_settings
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def soap_replica(stack_env: dict[str, str]) -> Iterator[str]:
    """qb-sync's Web Connector endpoint, as another replica would serve it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(stack_env["DATABASE_URL"], SCHEMA, min_size=1, max_size=4)
        settings = push_settings(stack_env, "http://127.0.0.1:9")
        app.state.runtime = SimpleNamespace(db=pool, settings=settings)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)
    app.include_router(web_connector.router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the SOAP replica did not start"
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}/qbwc"
    server.should_exit = True
    thread.join(10)


@dataclass
class DesktopWorld:
    customers: httpx.AsyncClient
    sync: httpx.AsyncClient
    qwc: Qwc
    password: str
    company: CompanyFile

    connection_id: str = ""
    tenant_id: str = ""

    async def create_customer(self, name: str, **fields: Any) -> str:
        reply = await self.customers.post(
            "/customers", json={"company_name": name, "contact_name": "Ada Lovelace", **fields}
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["customer_id"])

    async def push(self, customer_id: str) -> None:
        reply = await self.customers.post(
            f"/customers/{customer_id}/quickbooks/push", json={"realm_id": self.connection_id}
        )
        assert reply.status_code == 202, reply.text

    async def status(self, customer_id: str) -> dict[str, Any] | None:
        reply = await self.sync.get(f"/quickbooks/sync/{self.connection_id}/{customer_id}")
        return reply.json() if reply.status_code == 200 else None  # type: ignore[no-any-return]

    async def wait_status(self, customer_id: str, status: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            row = await self.status(customer_id)
            return row if row and row["status"] == status else None

        return await wait_for(probe, 30)  # type: ignore[no-any-return]

    async def session(self, faults: Faults | None = None) -> Session:
        wc = WebConnector(self.qwc, self.password, self.company, faults=faults, noop_pause=0)
        return await asyncio.to_thread(wc.run)

    async def sync_until_idle(self, *customer_ids: str) -> None:
        """Scheduled Web Connector runs until every customer's row has settled."""
        for _ in range(12):
            await self.session()
            rows = [await self.status(c) for c in customer_ids]
            if all(r and r["status"] != "pending" for r in rows):
                return
            await asyncio.sleep(0.3)
        raise AssertionError(f"not settled: {rows}")

    def ours(self, customer_id: str) -> list[str]:
        guid = external_guid(self.tenant_id, customer_id)
        return [
            c.list_id for c in self.company.customers.values() if c.text("ExternalGUID") == guid
        ]

    async def assert_linked_once(self, *customer_ids: str) -> None:
        """Zero duplicates; each customer linked to its one QuickBooks customer, in qb-sync's
        sync status and, through qb.sync events, in the customer service."""
        names = self.company.full_names()
        assert len(names) == len({n.casefold() for n in names}), names
        for customer_id in customer_ids:
            row = await self.wait_status(customer_id, "synced")
            assert self.ours(customer_id) == [row["qb_customer_id"]]

            async def linked_in_customer_service(
                cid: str = customer_id, qb_id: str = row["qb_customer_id"]
            ) -> bool:
                reply = await self.customers.get(f"/customers/{cid}/quickbooks")
                return any(
                    m["realm_id"] == self.connection_id and m["qb_customer_id"] == qb_id
                    for m in reply.json()
                )

            await wait_for(linked_in_customer_service, 30)


@pytest.fixture
async def desktop(
    desktop_apps: tuple[FastAPI, FastAPI],  # noqa: F811
    soap_replica: str,
) -> AsyncIterator[DesktopWorld]:
    push_app, push_customer_app = desktop_apps
    tenant_id = f"{TENANT_PREFIX}qbd-{uuid.uuid4().hex[:8]}"
    token = await create_token(push_app.state.runtime.db, tenant_id, ["read", "write", "admin"])
    async with (
        client_for(push_customer_app, token, "customer") as customers,
        client_for(push_app, token, "qb-sync") as sync,
    ):
        reply = await sync.post("/quickbooks-desktop/connections")
        assert reply.status_code == 201, reply.text
        created = reply.json()
        qwc = (
            await sync.get(f"/quickbooks-desktop/connections/{created['connection_id']}/qwc")
        ).text
        owner_id = qwc.split("<OwnerID>")[1].split("</OwnerID>")[0]
        yield DesktopWorld(
            customers,
            sync,
            Qwc(soap_replica, created["username"], owner_id, created["file_id"]),
            created["password"],
            CompanyFile(non_latin1="reject"),
            connection_id=str(created["connection_id"]),
            tenant_id=tenant_id,
        )


async def pushed(desktop: DesktopWorld, *names: str) -> list[str]:
    ids = [await desktop.create_customer(name) for name in names]
    for customer_id in ids:
        await desktop.push(customer_id)
    for customer_id in ids:  # MappingSaved reached qb-sync over Kafka
        await desktop.wait_status(customer_id, "pending")
    return ids


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Faults(drop_reply_after_write=1), id="reply-dropped-after-the-add"),
        pytest.param(Faults(out_of_sequence_after_write=True), id="authenticate-out-of-sequence"),
        pytest.param(Faults(ticket_override="from-before-a-restart"), id="unknown-ticket"),
        pytest.param(Faults(hresult_empty_response=1), id="0x80040400-empty-response"),
    ],
)
async def test_a_web_connector_fault_ends_with_each_customer_linked_once(
    desktop: DesktopWorld, fault: Faults
) -> None:
    ids = await pushed(desktop, "Acme Ltd", "Beta GmbH")
    await desktop.session(fault)
    await desktop.sync_until_idle(*ids)
    await desktop.assert_linked_once(*ids)
    assert sorted(desktop.company.full_names()) == ["Acme Ltd", "Beta GmbH"]


async def test_two_web_connectors_at_once_and_a_locked_file(desktop: DesktopWorld) -> None:
    ids = await pushed(desktop, *(f"Customer {i}" for i in range(4)))
    desktop.company.request_delay = 0.02
    desktop.company.locked = True
    await asyncio.gather(desktop.session(), desktop.session())
    desktop.company.locked = False
    await asyncio.gather(desktop.session(), desktop.session())
    await desktop.sync_until_idle(*ids)
    await desktop.assert_linked_once(*ids)


async def test_permission_denied_shows_failed_in_both_services(desktop: DesktopWorld) -> None:
    (acme,) = await pushed(desktop, "Acme Ltd")
    desktop.company.permission_denied = True
    await desktop.sync_until_idle(acme)
    row = await desktop.wait_status(acme, "failed")
    assert row["last_error_code"] == "3260"
    assert desktop.company.customers == {}

    async def failed_in_customer_service() -> bool:
        reply = await desktop.customers.get(f"/customers/{acme}/quickbooks")
        return any(
            m["realm_id"] == desktop.connection_id and m["status"] == "failed" for m in reply.json()
        )

    await wait_for(failed_in_customer_service, 30)


async def test_updates_and_inactivation_reach_the_company_file(desktop: DesktopWorld) -> None:
    (acme,) = await pushed(desktop, "Acme Ltd")
    await desktop.sync_until_idle(acme)
    (list_id,) = desktop.ours(acme)
    reply = await desktop.customers.patch(f"/customers/{acme}", json={"email": "ap@acme.test"})
    assert reply.status_code == 200, reply.text
    await desktop.wait_status(acme, "pending")
    await desktop.sync_until_idle(acme)
    assert desktop.company.customers[list_id].text("Email") == "ap@acme.test"
    reply = await desktop.customers.post(f"/customers/{acme}/inactivate")
    assert reply.status_code == 200, reply.text
    await desktop.wait_status(acme, "pending")
    await desktop.sync_until_idle(acme)
    assert desktop.company.customers[list_id].is_active is False
    await desktop.assert_linked_once(acme)
