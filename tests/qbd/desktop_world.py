"""A tenant with a QuickBooks Desktop connection, end to end: the customer service and qb-sync
(real PostgreSQL, real Kafka, their consumers and outbox relays), a qb-sync replica serving the
Web Connector's SOAP endpoint on a real port, the simulated Web Connector and company file.

`add_customer`/`rename` change the company file through qbXML, as a user at the QuickBooks
screen would; `refresh_and_sync` is "Refresh from QuickBooks Desktop" plus one Web Connector run.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from customer_service.app import create_app as create_customer_app
from customer_service.settings import Settings as CustomerSettings
from platform_kit.auth import create_token
from platform_kit.db import create_pool
from qb_sync.api.qbd import web_connector
from qb_sync.app import SCHEMA, create_app
from qbd_simulator.company import CompanyFile
from qbd_simulator.connector import Qwc, Session, WebConnector
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import TENANT_PREFIX, client_for, push_settings
from tests.support.ports import free_port

ADDRESS_TAGS = ("Addr1", "Addr2", "Addr3", "City", "State", "PostalCode", "Country")


@pytest.fixture(scope="module")
async def desktop_apps(stack_env: dict[str, str]) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """qb-sync (its consumers; no QuickBooks Online worker: Desktop pushes go through the Web
    Connector) and the customer service, for this module only: apps that outlived it would
    share consumer groups with other modules' apps and push their rows elsewhere."""
    sync_app = create_app(
        push_settings(stack_env, "http://127.0.0.1:9", push_enabled=False, pull_enabled=False)
    )
    customer_app = create_customer_app(
        CustomerSettings(
            database_url=stack_env["DATABASE_URL"],
            kafka_bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        )
    )
    async with (
        sync_app.router.lifespan_context(sync_app),
        customer_app.router.lifespan_context(customer_app),
    ):
        yield sync_app, customer_app


@pytest.fixture(scope="module")
def import_soap_replica(stack_env: dict[str, str]) -> Iterator[str]:
    """qb-sync's Web Connector endpoint, as another replica would serve it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(stack_env["DATABASE_URL"], SCHEMA, min_size=1, max_size=4)
        app.state.runtime = SimpleNamespace(
            db=pool, settings=push_settings(stack_env, "http://127.0.0.1:9")
        )
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


def _qbxml(body: ET.Element) -> str:
    msgs = ET.Element("QBXMLMsgsRq", onError="stopOnError")
    msgs.append(body)
    root = ET.Element("QBXML")
    root.append(msgs)
    return '<?xml version="1.0"?>\n<?qbxml version="13.0"?>\n' + ET.tostring(
        root, encoding="unicode"
    )


def _address(parent: ET.Element, tag: str, lines: dict[str, str] | None) -> None:
    if lines:
        address = ET.SubElement(parent, tag)
        for key in ADDRESS_TAGS:
            if key in lines:
                ET.SubElement(address, key).text = lines[key]


@dataclass
class DesktopCompany:
    customers: httpx.AsyncClient  # the customer service
    sync: httpx.AsyncClient  # qb-sync
    qwc: Qwc
    password: str
    company: CompanyFile
    realm_id: str  # the connection id

    def add_customer(
        self,
        name: str,
        *,
        parent: str | None = None,
        company_name: str | None = None,
        active: bool = True,
        bill: dict[str, str] | None = None,
        ship: dict[str, str] | None = None,
        phone: str | None = None,
        mobile: str | None = None,
        email: str | None = None,
        contact: str | None = None,
        contacts: list[dict[str, Any]] | None = None,
    ) -> str:
        """A CustomerAddRq in qbXML 13.0 order; returns the new ListID."""
        add = ET.Element("CustomerAdd")
        ET.SubElement(add, "Name").text = name
        if not active:
            ET.SubElement(add, "IsActive").text = "false"
        if parent:
            ET.SubElement(ET.SubElement(add, "ParentRef"), "FullName").text = parent
        if company_name:
            ET.SubElement(add, "CompanyName").text = company_name
        _address(add, "BillAddress", bill)
        _address(add, "ShipAddress", ship)
        for tag, value in (("Phone", phone), ("Mobile", mobile), ("Email", email)):
            if value:
                ET.SubElement(add, tag).text = value
        if contact:
            ET.SubElement(add, "Contact").text = contact
        for person in contacts or []:
            element = ET.SubElement(add, "Contacts")
            ET.SubElement(element, "FirstName").text = person["first"]
            if person.get("last"):
                ET.SubElement(element, "LastName").text = person["last"]
            for ref_name, value in person.get("refs", {}).items():
                ref = ET.SubElement(element, "AdditionalContactRef")
                ET.SubElement(ref, "ContactName").text = ref_name
                ET.SubElement(ref, "ContactValue").text = value
        request = ET.Element("CustomerAddRq")
        request.append(add)
        answer = ET.fromstring(self.company.process(_qbxml(request)))
        rs = answer.find("QBXMLMsgsRs/CustomerAddRs")
        assert rs is not None and rs.get("statusCode") == "0", ET.tostring(answer)
        return rs.findtext("CustomerRet/ListID") or ""

    def rename(self, list_id: str, new_name: str) -> None:
        """A user renames a customer in QuickBooks (CustomerModRq with its EditSequence)."""
        mod = ET.Element("CustomerMod")
        ET.SubElement(mod, "ListID").text = list_id
        ET.SubElement(mod, "EditSequence").text = self.company.customers[list_id].edit_sequence
        ET.SubElement(mod, "Name").text = new_name
        request = ET.Element("CustomerModRq")
        request.append(mod)
        answer = ET.fromstring(self.company.process(_qbxml(request)))
        rs = answer.find("QBXMLMsgsRs/CustomerModRs")
        assert rs is not None and rs.get("statusCode") == "0", ET.tostring(answer)

    async def session(self) -> Session:
        wc = WebConnector(self.qwc, self.password, self.company, noop_pause=0)
        return await asyncio.to_thread(wc.run)

    async def refresh_and_sync(self) -> Session:
        reply = await self.sync.post(f"/quickbooks-desktop/connections/{self.realm_id}/refresh")
        assert reply.status_code == 202, reply.text
        return await self.session()

    async def form(self, **params: str) -> list[dict[str, Any]]:
        reply = await self.customers.get(
            f"/quickbooks/companies/{self.realm_id}/mappings", params=params
        )
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    async def form_shows(self, expected: set[str]) -> list[dict[str, Any]]:
        """Wait until the form's rows carry exactly these FullNames (through qb.customers)."""

        last: list[dict[str, Any]] = []

        async def probe() -> list[dict[str, Any]] | None:
            nonlocal last
            last = await self.form()
            return last if {r["full_name"] for r in last} == expected else None

        try:
            return await wait_for(probe, 30)  # type: ignore[no-any-return]
        except AssertionError:
            raise AssertionError(f"the form shows {sorted(r['full_name'] for r in last)}") from None

    async def create_customer(self, name: str, **fields: Any) -> str:
        reply = await self.customers.post(
            "/customers", json={"company_name": name, "contact_name": "Ada Lovelace", **fields}
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["customer_id"])

    async def sync_row(self, customer_id: str) -> dict[str, Any] | None:
        reply = await self.sync.get(f"/quickbooks/sync/{self.realm_id}/{customer_id}")
        return reply.json() if reply.status_code == 200 else None  # type: ignore[no-any-return]


@asynccontextmanager
async def desktop_company(
    push_app: FastAPI, push_customer_app: FastAPI, soap_url: str
) -> AsyncIterator[DesktopCompany]:
    tenant_id = f"{TENANT_PREFIX}qbdi-{uuid.uuid4().hex[:8]}"
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
        yield DesktopCompany(
            customers,
            sync,
            Qwc(soap_url, created["username"], owner_id, created["file_id"]),
            created["password"],
            CompanyFile(),
            realm_id=str(created["connection_id"]),
        )
