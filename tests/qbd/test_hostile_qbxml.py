"""Forged values at qb-sync's Web Connector endpoint, over HTTP against the app on real
PostgreSQL: tickets that are not (or no longer) a session's, answers nobody asked for, hostile
hresult/message text, and qbXML answers whose requestID is forged or whose values are out of
range. Each gets the Web Connector's protocol answer (never a fault or a 500), the job fails or
is tried again with its reason stored, and what an earlier answer stored is not touched."""

from __future__ import annotations

from xml.sax.saxutils import escape

import asyncpg
import httpx
import pytest

from qb_sync.store.qbd.requests import enqueue
from tests.qbd.conftest import Endpoint
from tests.qbd.raw_soap import call, company_answer, connection_with_import, start_session

pytestmark = pytest.mark.integration
GOOD = {
    "ListID": "80000001-1700000000",
    "TimeCreated": "2026-01-05T09:00:00-08:00",
    "TimeModified": "2026-01-05T09:00:00-08:00",
    "EditSequence": "1700000000",
    "Name": "Kept Customer",
    "FullName": "Kept Customer",
    "IsActive": "true",
    "Sublevel": "0",
    "Balance": "12.50",
}


def customer_ret(**changes: str | None) -> str:
    fields = {**GOOD, **changes}
    return (
        "<CustomerRet>"
        + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items() if v is not None)
        + "</CustomerRet>"
    )


def page(request_id: str, *rets: str, status: str = "0", remaining: str = "0") -> str:
    return (
        '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>'
        f'<CustomerQueryRs requestID="{request_id}" statusCode="{status}" statusSeverity="Info" '
        f'statusMessage="Status OK" iteratorRemainingCount="{remaining}" iteratorID="{{it}}">'
        + "".join(rets)
        + "</CustomerQueryRs></QBXMLMsgsRs></QBXML>"
    )


async def answer(client: httpx.AsyncClient, url: str, ticket: str, qbxml: str, **kw: str) -> str:
    params = {"response": escape(qbxml), "hresult": "", "message": "", **kw}
    return await call(client, url, "receiveResponseXML", ticket=ticket, **params)


# Each answers the second import of a company that already holds GOOD: the page also renames the
# kept customer, which must not land, since the page is refused as a whole.
RENAMED = customer_ret(Name="Renamed", FullName="Renamed", EditSequence="1700000001")
HOSTILE = {
    "forged requestID": (lambda rid: page("qbd-999999999", RENAMED), "holds no answer"),
    "statusCode not a number": (
        lambda rid: page(rid, RENAMED, status="1e400"),
        "statusCode is not a number",
    ),
    "huge statusCode": (lambda rid: page(rid, RENAMED, status="9" * 400), "statusCode"),
    "negative remaining count": (
        lambda rid: page(rid, RENAMED, remaining="-5"),
        "iteratorRemainingCount is not a count",
    ),
    "huge ListID": (
        lambda rid: page(rid, RENAMED, customer_ret(ListID="8" * 100_000)),
        "ListID longer",
    ),
    "huge EditSequence": (
        lambda rid: page(rid, RENAMED, customer_ret(ListID="2-2", EditSequence="9" * 5000)),
        "EditSequence longer",
    ),
    "date 0000-00-00": (
        lambda rid: page(rid, RENAMED, customer_ret(ListID="2-2", TimeModified="0000-00-00")),
        "TimeModified is not a date",
    ),
    "date 2026-02-30": (
        lambda rid: page(
            rid, RENAMED, customer_ret(ListID="2-2", TimeModified="2026-02-30T10:00:00")
        ),
        "TimeModified is not a date",
    ),
    "amount 1e400": (
        lambda rid: page(rid, RENAMED, customer_ret(ListID="2-2", Balance="1e400")),
        "Balance is not an amount",
    ),
    "huge Sublevel": (
        lambda rid: page(rid, RENAMED, customer_ret(ListID="2-2", Sublevel="99999999999")),
        "Sublevel",
    ),
    "missing ListID": (lambda rid: page(rid, RENAMED, customer_ret(ListID=None)), "without ListID"),
    "missing Name": (
        lambda rid: page(rid, RENAMED, customer_ret(ListID="2-2", Name=None)),
        "without Name",
    ),
    "NUL reference": (
        lambda rid: page(rid, RENAMED).replace("Renamed<", "Re&#0;named<", 1),
        "not readable qbXML",
    ),
    "entity in qbXML": (
        lambda rid: (
            '<!DOCTYPE q [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            + page(rid, RENAMED.replace("Renamed<", "&e;<", 1))
        ),
        "not readable qbXML",
    ),
}


async def kept(db: asyncpg.Pool) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM qbd_customers ORDER BY list_id")


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_answer_fails_the_job_with_its_reason_and_changes_nothing_stored(
    endpoint: Endpoint, db: asyncpg.Pool, case: str
) -> None:
    forge, reason = HOSTILE[case]
    file_id, first = await connection_with_import(db, "forger")
    async with httpx.AsyncClient(timeout=10) as client:
        ticket, _ = await start_session(client, endpoint.url, "forger", file_id)
        done = await answer(client, endpoint.url, ticket, page(f"qbd-{first}", customer_ret()))
        assert done == "100"
        await call(client, endpoint.url, "closeConnection", ticket=ticket)
        before = await kept(db)
        assert [r["name"] for r in before] == ["Kept Customer"]

        async with db.acquire() as conn:
            connection_id = await conn.fetchval("SELECT connection_id FROM qbd_connections")
            second = await enqueue(conn, connection_id, "customer_import")
        ticket, request = await start_session(client, endpoint.url, "forger", file_id)
        assert f'requestID="qbd-{second}"' in request
        progress = await answer(client, endpoint.url, ticket, forge(f"qbd-{second}"))
        assert progress == "-1"  # the Web Connector asks getLastError, shows it, closes
        error = await call(client, endpoint.url, "getLastError", ticket=ticket)
        assert reason in error, error
        await call(client, endpoint.url, "closeConnection", ticket=ticket)

    job = await db.fetchrow(
        "SELECT status, attempts, last_status FROM qbd_requests WHERE request_id = $1", second
    )
    assert (job["status"], job["attempts"]) == ("queued", 1)  # tried again next run, counted
    assert reason in job["last_status"] and len(job["last_status"]) <= 500
    assert await kept(db) == before


async def test_forged_tickets_and_hostile_hresult_get_protocol_answers(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    file_id, request_id = await connection_with_import(db, "forger")
    hostile = "<b>&amp;'\"; DROP TABLE qbd_requests; --" * 300
    async with httpx.AsyncClient(timeout=10) as client:
        for forged in ("", "not-a-ticket", "f" * 10_000):
            assert await call(client, endpoint.url, "sendRequestXML", ticket=forged,
                              strHCPResponse="", strCompanyFileName="", qbXMLCountry="US",
                              qbXMLMajorVers="13", qbXMLMinorVers="0") == ""  # fmt: skip
            assert await answer(client, endpoint.url, forged, "<QBXML/>") == "-1"
            assert "Unknown or expired" in await call(
                client, endpoint.url, "getLastError", ticket=forged
            )
            assert await call(client, endpoint.url, "closeConnection", ticket=forged) == "OK"

        ticket, _ = await start_session(client, endpoint.url, "forger", file_id)
        failed = await answer(
            client, endpoint.url, ticket, "", hresult=escape(hostile), message=escape(hostile)
        )
        assert failed == "-1"
        error = await call(client, endpoint.url, "getLastError", ticket=ticket)
        assert error.startswith("QuickBooks could not process the request: <b>&amp;'")
        assert len(error) < 500  # the caller's text is cut, in the row and in the log
        await call(client, endpoint.url, "closeConnection", ticket=ticket)

        # a closed session's ticket is no session: nothing is sent or applied through it
        assert await answer(client, endpoint.url, ticket, page(f"qbd-{request_id}")) == "-1"
        assert await call(client, endpoint.url, "sendRequestXML", ticket=ticket,
                          strHCPResponse="", strCompanyFileName="", qbXMLCountry="US",
                          qbXMLMajorVers="13", qbXMLMinorVers="0") == ""  # fmt: skip
    job = await db.fetchrow(
        "SELECT status, attempts, last_status FROM qbd_requests WHERE request_id = $1", request_id
    )
    assert (job["status"], job["attempts"]) == ("queued", 1)
    assert len(job["last_status"]) <= 500 and "DROP TABLE" in job["last_status"]
    assert await db.fetchval("SELECT count(*) FROM qbd_requests") == 1
    assert await kept(db) == []


async def test_forged_qbxml_versions_fall_back_to_the_highest_we_speak(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    file_id, request_id = await connection_with_import(db, "forger")
    async with httpx.AsyncClient(timeout=10) as client:
        ticket = await call(
            client, endpoint.url, "authenticate", strUserName="forger", strPassword="pw"
        )
        request = await call(client, endpoint.url, "sendRequestXML", ticket=ticket,
                             strHCPResponse=company_answer(file_id), strCompanyFileName="",
                             qbXMLCountry="US", qbXMLMajorVers="²", qbXMLMinorVers="9" * 5000)  # fmt: skip
    assert '<?qbxml version="13.0"?>' in request
    assert f'requestID="qbd-{request_id}"' in request


async def test_an_answer_to_another_sessions_request_is_not_applied(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    file_id, request_id = await connection_with_import(db, "forger")
    async with httpx.AsyncClient(timeout=10) as client:
        ticket_a, request = await start_session(client, endpoint.url, "forger", file_id)
        assert f'requestID="qbd-{request_id}"' in request
        ticket_b = await call(
            client, endpoint.url, "authenticate", strUserName="forger", strPassword="pw"
        )
        assert ticket_b not in ("", ticket_a)
        forged = await answer(client, endpoint.url, ticket_b, page(f"qbd-{request_id}", RENAMED))
        assert forged == "-1"
        error = await call(client, endpoint.url, "getLastError", ticket=ticket_b)
        assert "No request was awaiting this response" in error
    assert await kept(db) == []
    status = await db.fetchval("SELECT status FROM qbd_requests WHERE request_id = $1", request_id)
    assert status != "done"
