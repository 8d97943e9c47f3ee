"""Raw SOAP 1.1 calls to qb-sync's Web Connector endpoint over HTTP, for tests that forge what a
real Web Connector would send (or would never send)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import asyncpg
import httpx

from qb_sync.store.qbd.connections import create_connection
from qb_sync.store.qbd.requests import enqueue
from tests.qbd.conftest import OWNER_ID

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://developer.intuit.com/"


def envelope(operation: str, **params: str) -> bytes:
    """`params` are XML already: escape text with `escape` first."""
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in params.items())
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
        f'<{operation} xmlns="{TNS}">{inner}</{operation}></soap:Body></soap:Envelope>'
    ).encode()


def headers(operation: str) -> dict[str, str]:
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}{operation}"'}


async def call(client: httpx.AsyncClient, url: str, operation: str, **params: str) -> str:
    """The operation's result text (one string; an array's first item), asserting a 200."""
    response = await client.post(
        url, content=envelope(operation, **params), headers=headers(operation)
    )
    assert response.status_code == 200, response.text
    result = ET.fromstring(response.content).find(
        f"{{{SOAP}}}Body/{{{TNS}}}{operation}Response/{{{TNS}}}{operation}Result"
    )
    assert result is not None, response.text
    return result[0].text or "" if len(result) else result.text or ""


def company_answer(file_id: str) -> str:
    """strHCPResponse as the Web Connector sends it: the company carries our FileID."""
    return escape(
        "<QBXML><QBXMLMsgsRs><CompanyQueryRs><CompanyRet><DataExtRet>"
        f"<OwnerID>{OWNER_ID}</OwnerID><DataExtName>FileID</DataExtName>"
        f"<DataExtValue>{file_id}</DataExtValue></DataExtRet></CompanyRet>"
        "</CompanyQueryRs></QBXMLMsgsRs></QBXML>"
    )


async def connection_with_import(db: asyncpg.Pool, user: str) -> tuple[str, int]:
    """A Desktop connection (password "pw") with one queued import; its file id and job id."""
    async with db.acquire() as conn:
        connection = await create_connection(conn, "tenant-a", user, "pw", OWNER_ID)
        request_id = await enqueue(conn, connection.connection_id, "customer_import")
    return connection.file_id, request_id


async def start_session(
    client: httpx.AsyncClient, url: str, user: str, file_id: str
) -> tuple[str, str]:
    """authenticate, then the first sendRequestXML: the ticket and the qbXML request sent."""
    ticket = await call(client, url, "authenticate", strUserName=user, strPassword="pw")
    request = await call(
        client, url, "sendRequestXML", ticket=ticket, strHCPResponse=company_answer(file_id),
        strCompanyFileName="", qbXMLCountry="US", qbXMLMajorVers="13", qbXMLMinorVers="0",
    )  # fmt: skip
    return ticket, request
