"""qb-sync's Web Connector endpoint, driven by the simulated Web Connector through its SOAP client
against the simulated company file, with sessions and work in real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from qb_sync.qbd.queue import QbdConnection, create_connection, enqueue
from qbd_simulator.company import CompanyFile
from qbd_simulator.connector import Faults, Qwc, Session, WebConnector
from tests.qbd.conftest import OWNER_ID, Endpoint

pytestmark = pytest.mark.integration


async def connect(db: asyncpg.Pool, tenant: str, password: str = "s3cret") -> QbdConnection:
    async with db.acquire() as conn:
        return await create_connection(conn, tenant, f"{tenant}-qbd", password, OWNER_ID)


def connector(
    endpoint: Endpoint,
    connection: QbdConnection,
    company: CompanyFile,
    password: str = "s3cret",
    **kw: object,
) -> WebConnector:
    qwc = Qwc(endpoint.url, connection.username, connection.owner_id, connection.file_id)
    return WebConnector(qwc, password, company, noop_pause=0, **kw)  # type: ignore[arg-type]


async def run(wc: WebConnector) -> Session:
    return await asyncio.to_thread(wc.run)


def company_with(customers: int) -> CompanyFile:
    company = CompanyFile()
    for i in range(customers):
        company.seed_customer(f"Customer {i:03d}", CompanyName=f"Company {i:03d}", BillAddress="")
    return company


async def imported(db: asyncpg.Pool, connection: QbdConnection) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM qbd_customers WHERE connection_id = $1 ORDER BY full_name",
        connection.connection_id,
    )


async def test_an_empty_queue_answers_none(endpoint: Endpoint, db: asyncpg.Pool) -> None:
    connection = await connect(db, "tenant-a")
    session = await run(connector(endpoint, connection, CompanyFile()))
    assert session.outcome == "none"
    assert session.methods == ["serverVersion", "clientVersion", "authenticate", "closeConnection"]
    assert await db.fetchval("SELECT count(*) FROM qbd_sessions") == 0


async def test_a_wrong_password_or_user_answers_nvu(endpoint: Endpoint, db: asyncpg.Pool) -> None:
    connection = await connect(db, "tenant-a")
    await enqueue_import(db, connection)
    wrong = await run(connector(endpoint, connection, CompanyFile(), password="guess"))
    assert (wrong.outcome, wrong.calls[2].result) == ("nvu", ["", "nvu"])
    stranger = connector(endpoint, connection, CompanyFile())
    stranger.qwc.username = "nobody"
    assert (await run(stranger)).outcome == "nvu"
    assert await db.fetchval("SELECT count(*) FROM qbd_sessions") == 0


async def enqueue_import(db: asyncpg.Pool, connection: QbdConnection) -> int:
    async with db.acquire() as conn:
        return await enqueue(conn, connection.connection_id, "customer_import")


async def test_a_queued_import_pages_through_the_company_with_iterators(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    company = company_with(250)
    company.seed_customer("Warehouse", parent="Customer 007")
    company.seed_customer("Dock 2", parent="Customer 007:Warehouse")
    company.seed_customer("Closed Ltd", IsActive="false")
    connection = await connect(db, "tenant-a")
    request_id = await enqueue_import(db, connection)

    session = await run(connector(endpoint, connection, company))

    assert session.outcome == "done", session.last_error
    assert session.progress[-1] == 100 and session.progress == sorted(session.progress)
    sends = [c for c in session.calls if c.method == "sendRequestXML"]
    assert len(sends) == 3  # 253 customers, 100 a page, one iterator within the session
    assert (
        'iterator="Start"' in sends[0].result
        and "<ActiveStatus>All</ActiveStatus>" in sends[0].result
    )
    assert 'iterator="Continue"' in sends[1].result
    rows = await imported(db, connection)
    assert len(rows) == 253
    by_name = {r["full_name"]: r for r in rows}
    dock = by_name["Customer 007:Warehouse:Dock 2"]
    assert (dock["sublevel"], dock["parent_list_id"]) == (
        2,
        by_name["Customer 007:Warehouse"]["list_id"],
    )
    assert by_name["Closed Ltd"]["is_active"] is False  # ActiveStatus All sees inactive ones
    assert json.loads(by_name["Customer 001"]["fields"])["CompanyName"] == "Company 001"
    job = await db.fetchrow(
        "SELECT status, state FROM qbd_requests WHERE request_id = $1", request_id
    )
    assert job["status"] == "done" and json.loads(job["state"])["fetched"] == 253
    # nothing left: the next run is an empty one
    assert (await run(connector(endpoint, connection, company))).outcome == "none"


async def test_tickets_are_bound_to_their_tenant(endpoint: Endpoint, db: asyncpg.Pool) -> None:
    tenant_a, tenant_b = await connect(db, "tenant-a"), await connect(db, "tenant-b")
    company_a, company_b = company_with(3), CompanyFile()
    company_b.seed_customer("Only In B")
    await enqueue_import(db, tenant_a)
    await enqueue_import(db, tenant_b)

    session_a = await run(connector(endpoint, tenant_a, company_a))
    assert session_a.outcome == "done"
    assert [r["name"] for r in await imported(db, tenant_a)] == [
        "Customer 000",
        "Customer 001",
        "Customer 002",
    ]
    assert await imported(db, tenant_b) == []  # B's job untouched by A's session
    assert (
        await db.fetchval(
            "SELECT status FROM qbd_requests WHERE connection_id = $1", tenant_b.connection_id
        )
        == "queued"
    )
    # A's company file opened with B's .qwc carries A's FileID: refused as the wrong file
    wrong_file = await run(connector(endpoint, tenant_b, company_a))
    assert wrong_file.outcome == "error" and "Wrong company file" in wrong_file.last_error
    assert await imported(db, tenant_b) == []
    # a made-up ticket reads nothing and writes nothing
    forged = await run(
        connector(endpoint, tenant_b, company_b, faults=Faults(ticket_override="forged"))
    )
    assert forged.outcome == "error" and "Unknown or expired" in forged.last_error
    assert await imported(db, tenant_b) == []
    session_b = await run(connector(endpoint, tenant_b, company_b))
    assert session_b.outcome == "done"
    assert [r["name"] for r in await imported(db, tenant_b)] == ["Only In B"]
    assert len(await imported(db, tenant_a)) == 3


async def test_a_failed_request_is_parked_not_sent_forever(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    connection = await connect(db, "tenant-a")
    request_id = await enqueue_import(db, connection)
    company = company_with(2)
    for _ in range(3):
        session = await run(
            connector(endpoint, connection, company, faults=Faults(hresult_empty_response=1))
        )
        assert session.outcome == "error" and "0x80040400" in session.last_error
        assert session.progress == [-1]
    job = await db.fetchrow(
        "SELECT status, attempts FROM qbd_requests WHERE request_id = $1", request_id
    )
    assert (job["status"], job["attempts"]) == ("failed", 3)
    assert (await run(connector(endpoint, connection, company))).outcome == "none"


async def test_an_out_of_sequence_authenticate_resends_the_query_in_the_new_session(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    connection = await connect(db, "tenant-a")
    await enqueue_import(db, connection)
    company = company_with(150)
    session = await run(
        connector(endpoint, connection, company, faults=Faults(out_of_sequence_authenticate=True))
    )
    assert session.outcome == "done", session.last_error
    assert len(await imported(db, connection)) == 150


async def test_bad_soap_gets_a_client_fault_and_the_wsdl_is_served(endpoint: Endpoint) -> None:
    async with httpx.AsyncClient() as client:
        wsdl = await client.get(endpoint.url + "?wsdl")
        assert (
            wsdl.status_code == 200
            and 'targetNamespace="http://developer.intuit.com/"' in wsdl.text
        )
        for body in (b"not xml", b"<a/>", b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'):
            bad = await client.post(
                endpoint.url, content=body, headers={"Content-Type": "text/xml"}
            )
            assert bad.status_code == 400 and "<faultcode>soap:Client</faultcode>" in bad.text
            assert "Traceback" not in bad.text


def test_qb_sync_serves_the_same_wsdl_the_simulated_web_connector_is_built_from() -> None:
    from importlib import resources

    ours = (resources.files("qb_sync.qbd") / "QBWebConnectorSvc.wsdl").read_text()
    theirs = (resources.files("qbd_simulator") / "wsdl" / "QBWebConnectorSvc.wsdl").read_text()
    assert ours == theirs


class ForgetfulCompany(CompanyFile):
    """Loses its open iterators before the given message sets (as when QuickBooks drops them)."""

    forget_before: tuple[int, ...] = ()

    def process(self, qbxml: str) -> str:
        if self.message_sets + 1 in self.forget_before:
            self.iterators.clear()
        return super().process(qbxml)


async def test_a_stale_iterator_restarts_the_import_and_gives_up_after_a_few(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    connection = await connect(db, "tenant-a")
    request_id = await enqueue_import(db, connection)
    once = ForgetfulCompany()
    for i in range(250):
        once.seed_customer(f"Customer {i:03d}")
    once.forget_before = (2,)
    session = await run(connector(endpoint, connection, once))
    assert session.outcome == "done", session.last_error
    starts = [c for c in session.calls if 'iterator="Start"' in str(c.result)]
    assert len(starts) == 2  # the first page, then the restart after 3391
    assert len(await imported(db, connection)) == 250

    request_id = await enqueue_import(db, connection)
    always = ForgetfulCompany()
    always.seed_customer("A")
    always.seed_customer("B")
    always.forget_before = tuple(range(1, 50))
    session = await run(connector(endpoint, connection, always, max_round_trips=20))
    # pages of 100 never need a Continue for 2 customers: no 3391, the job is done
    assert session.outcome == "done"
    small_pages = ForgetfulCompany()
    for i in range(101):
        small_pages.seed_customer(f"C{i:03d}")
    small_pages.forget_before = tuple(range(1, 50))
    request_id = await enqueue_import(db, connection)
    session = await run(connector(endpoint, connection, small_pages, max_round_trips=20))
    assert session.outcome == "done"  # ended, not looping
    job = await db.fetchrow(
        "SELECT status, last_status FROM qbd_requests WHERE request_id = $1", request_id
    )
    assert job["status"] == "failed" and job["last_status"].startswith("3391")


async def test_two_web_connectors_with_the_same_user_at_once_import_each_customer_once(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    connection = await connect(db, "tenant-a")
    request_id = await enqueue_import(db, connection)
    company = company_with(600)
    company.request_delay = 0.01
    first, second = await asyncio.gather(
        run(connector(endpoint, connection, company)), run(connector(endpoint, connection, company))
    )
    outcomes = sorted([first.outcome, second.outcome])
    # one session supersedes the other; the loser ends with a protocol answer, never a fault
    assert outcomes in (["done", "error"], ["done", "none"]), (first.last_error, second.last_error)
    for session in (first, second):
        if session.outcome == "error":  # superseded, or it found the work already done
            assert session.last_error.startswith(
                ("superseded", "Unknown or expired", "Nothing more to do")
            ), session.last_error
    if (
        await db.fetchval("SELECT status FROM qbd_requests WHERE request_id = $1", request_id)
    ) != "done":
        assert (await run(connector(endpoint, connection, company))).outcome == "done"
    rows = await imported(db, connection)
    assert len(rows) == 600 == len({r["list_id"] for r in rows})


async def test_a_later_refresh_reads_only_changes_and_deletions(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    now = [datetime(2026, 1, 4, 9, 0, tzinfo=UTC)]
    company = CompanyFile(clock=lambda: now[0])
    for i in range(120):
        company.seed_customer(f"Customer {i:03d}")
    now[0] += timedelta(days=1)
    gone = company.seed_customer("Soon Gone")  # the newest: the next refresh starts 10 min before
    connection = await connect(db, "tenant-a")
    async with db.acquire() as conn:
        await enqueue(conn, connection.connection_id, "customer_changes")  # the first: everything
    assert (await run(connector(endpoint, connection, company))).outcome == "done"
    assert len(await imported(db, connection)) == 121

    now[0] += timedelta(days=1)
    company.seed_customer("Brand New")
    company.delete_customer(gone)
    async with db.acquire() as conn:
        await enqueue(conn, connection.connection_id, "customer_changes")
    session = await run(connector(endpoint, connection, company))
    assert session.outcome == "done", session.last_error
    sends = [str(c.result) for c in session.calls if c.method == "sendRequestXML" and c.result]
    assert len(sends) == 2, sends  # one page of changes (not 122 customers), then the deletions
    assert "<FromModifiedDate>2026-01-05T08:50:00+00:00</FromModifiedDate>" in sends[0]
    assert "<ListDeletedQueryRq" in sends[1]
    rows = {r["name"]: r for r in await imported(db, connection)}
    assert len(rows) == 122 and "Brand New" in rows
    deleted = {
        r["name"]
        for r in await db.fetch("SELECT name FROM qbd_customers WHERE deleted_at IS NOT NULL")
    }
    assert deleted == {"Soon Gone"}
