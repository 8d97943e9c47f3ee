"""The endpoint's raw answers, byte by byte where the Web Connector is picky (the authenticate
array as <string> items in the Intuit namespace), and protocol answers for broken input."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import asyncpg
import httpx
import pytest

from qb_sync.qbd.queue import create_connection, enqueue
from tests.qbd.conftest import OWNER_ID, Endpoint

pytestmark = pytest.mark.integration
TNS = "http://developer.intuit.com/"


def envelope(operation: str, **params: str) -> bytes:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in params.items())
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
        'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<{operation} xmlns="{TNS}">{inner}</{operation}></soap:Body></soap:Envelope>'
    ).encode()


async def call(client: httpx.AsyncClient, url: str, operation: str, **params: str) -> ET.Element:
    response = await client.post(
        url,
        content=envelope(operation, **params),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}{operation}"'},
    )
    assert response.status_code == 200, response.text
    result = ET.fromstring(response.content).find(
        f"{{http://schemas.xmlsoap.org/soap/envelope/}}Body/{{{TNS}}}{operation}Response/{{{TNS}}}{operation}Result"
    )
    assert result is not None, response.text
    return result


async def test_authenticate_answers_an_array_of_strings_in_the_intuit_namespace(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    async with db.acquire() as conn:
        connection = await create_connection(conn, "tenant-a", "shape-user", "pw", OWNER_ID)
        await enqueue(conn, connection.connection_id, "customer_import")
    async with httpx.AsyncClient() as client:
        result = await call(
            client, endpoint.url, "authenticate", strUserName="shape-user", strPassword="pw"
        )
        items = list(result)
        assert [item.tag for item in items] == [f"{{{TNS}}}string"] * 2
        ticket = items[0].text or ""
        assert len(ticket) >= 40 and (items[1].text or "") == ""
        stored = await db.fetchval("SELECT ticket_hash FROM qbd_sessions")
        assert ticket.encode() not in stored  # only the hash is kept

        # an unreadable qbXML response is a negative percentage, then a readable error
        await call(client, endpoint.url, "sendRequestXML", ticket=ticket, strHCPResponse="junk",
                   strCompanyFileName="", qbXMLCountry="US", qbXMLMajorVers="13", qbXMLMinorVers="0")  # fmt: skip
        error = await call(client, endpoint.url, "getLastError", ticket=ticket)
        assert (error.text or "").startswith(
            "The Web Connector sent no readable company information"
        )
        assert (await call(client, endpoint.url, "closeConnection", ticket=ticket)).text == "OK"


async def test_a_response_nobody_asked_for_and_garbage_qbxml_are_protocol_answers(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    async with db.acquire() as conn:
        connection = await create_connection(conn, "tenant-a", "junk-user", "pw", OWNER_ID)
        request_id = await enqueue(conn, connection.connection_id, "customer_import")
    hcp = (
        "<QBXML><QBXMLMsgsRs><CompanyQueryRs><CompanyRet><DataExtRet>"
        f"<OwnerID>{OWNER_ID}</OwnerID><DataExtName>FileID</DataExtName>"
        f"<DataExtValue>{connection.file_id}</DataExtValue></DataExtRet></CompanyRet>"
        "</CompanyQueryRs></QBXMLMsgsRs></QBXML>"
    )
    async with httpx.AsyncClient() as client:
        auth = await call(
            client, endpoint.url, "authenticate", strUserName="junk-user", strPassword="pw"
        )
        ticket = next(iter(auth)).text or ""
        early = await call(
            client,
            endpoint.url,
            "receiveResponseXML",
            ticket=ticket,
            response="<x/>",
            hresult="",
            message="",
        )
        assert early.text == "-1"
        sent = await call(client, endpoint.url, "sendRequestXML", ticket=ticket, strHCPResponse=hcp.replace("<", "&lt;"),
                          strCompanyFileName="", qbXMLCountry="US", qbXMLMajorVers="13", qbXMLMinorVers="0")  # fmt: skip
        assert "<CustomerQueryRq" in (sent.text or "")
        garbage = await call(
            client,
            endpoint.url,
            "receiveResponseXML",
            ticket=ticket,
            response="&lt;not qbxml",
            hresult="",
            message="",
        )
        assert garbage.text == "-1"
        error = await call(client, endpoint.url, "getLastError", ticket=ticket)
        assert "not readable qbXML" in (error.text or "")
    job = await db.fetchrow(
        "SELECT status, attempts FROM qbd_requests WHERE request_id = $1", request_id
    )
    assert (job["status"], job["attempts"]) == ("queued", 1)  # tried again next session, counted


async def test_an_idle_ticket_expires(endpoint: Endpoint, db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        connection = await create_connection(conn, "tenant-a", "idle-user", "pw", OWNER_ID)
        await enqueue(conn, connection.connection_id, "customer_import")
    async with httpx.AsyncClient() as client:
        auth = await call(
            client, endpoint.url, "authenticate", strUserName="idle-user", strPassword="pw"
        )
        ticket = next(iter(auth)).text or ""
        await db.execute("UPDATE qbd_sessions SET last_seen_at = now() - interval '16 minutes'")
        sent = await call(client, endpoint.url, "sendRequestXML", ticket=ticket, strHCPResponse="",
                          strCompanyFileName="", qbXMLCountry="US", qbXMLMajorVers="13", qbXMLMinorVers="0")  # fmt: skip
        assert (sent.text or "") == ""
        progress = await call(
            client,
            endpoint.url,
            "receiveResponseXML",
            ticket=ticket,
            response="",
            hresult="",
            message="",
        )
        assert progress.text == "-1"
