"""The Web Connector callbacks, answered from PostgreSQL (docs/reference/quickbooks-desktop.md#callbacks-in-call-order).

Every failure is a protocol answer (`nvu`, `none`, `""` + getLastError, a negative percentage)
and a log line; nothing here raises into the SOAP layer on bad input.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import asyncpg
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from qb_sync.qbd import imports
from qb_sync.qbd.passwords import verify_password
from qb_sync.qbd.queue import (
    connection_by_username,
    failed_attempt,
    has_work,
    job_in_flight,
    mark_sent,
    next_job,
)
from qb_sync.qbd.sessions import (
    Session,
    close_session,
    find_session,
    last_error,
    open_session,
    update_session,
)

log = logging.getLogger("qb_sync.qbd")
SERVER_VERSION = "qb-sync 0.1 (QuickBooks Desktop through the Web Connector)"
UNKNOWN_TICKET = "Unknown or expired session: run the update again."
HIGHEST_QBXML = (13, 0)
# Verifying a password against a made-up hash keeps an unknown user as slow as a known one.
_DUMMY_HASH = "scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _parse(text: str) -> ET.Element | None:
    try:
        return fromstring(text.encode("utf-8"))
    except (ET.ParseError, DefusedXmlException, ValueError):
        return None


class WebConnectorService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def server_version(self) -> str:
        return SERVER_VERSION

    async def client_version(self, version: str) -> str:
        return ""  # every Web Connector 2.x speaks what we need

    async def authenticate(self, username: str, password: str) -> list[str]:
        async with self.pool.acquire() as conn, conn.transaction():
            connection = await connection_by_username(conn, username)
            stored = connection.password_hash if connection else _DUMMY_HASH
            if not verify_password(password, stored) or connection is None:
                log.warning("qbd authenticate: invalid user or password for %r", username[:60])
                return ["", "nvu"]
            if not await has_work(conn, connection.connection_id):
                return ["", "none"]
            ticket = await open_session(conn, connection.connection_id)
            log.info("qbd session opened for tenant %s", connection.tenant_id)
            return [ticket, connection.company_file]

    async def send_request_xml(self, ticket: str, hcp_response: str, major: str, minor: str) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            session = await find_session(conn, ticket, lock=True)
            if session is None:
                return ""
            if not session.file_checked:
                problem = _check_company(session, hcp_response)
                if problem:
                    log.warning("qbd tenant %s: %s", session.tenant_id, problem)
                    await update_session(conn, session, last_error=problem, status="closed")
                    return ""
                version = _negotiate(hcp_response, major, minor)
                await update_session(conn, session, file_checked=True, qbxml_version=version)
                session = await find_session(conn, ticket)
                assert session is not None
            job = await next_job(conn, session.connection_id)
            if job is None:
                await update_session(conn, session, last_error="Nothing more to do.")
                return ""
            job = await imports.prepare(conn, job)
            await mark_sent(conn, job, session.ticket_hash)
            await update_session(conn, session, in_flight=job.request_id, last_error="")
            return imports.request_xml(job, session.qbxml_version)

    async def receive_response_xml(
        self, ticket: str, response: str, hresult: str, message: str
    ) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            session = await find_session(conn, ticket, lock=True)
            if session is None:
                return -1
            job = None
            if session.in_flight is not None:
                job = await job_in_flight(
                    conn, session.connection_id, session.in_flight, session.ticket_hash
                )
            if job is None:
                await update_session(
                    conn, session, last_error="No request was awaiting this response."
                )
                return -1
            await update_session(conn, session, in_flight=None)
            if hresult or not response:
                reason = f"QuickBooks could not process the request: {hresult} {message}".strip()
                log.warning(
                    "qbd tenant %s request %s: %s", session.tenant_id, job.request_id, reason
                )
                await failed_attempt(conn, job, reason)
                await update_session(conn, session, last_error=reason[:1000])
                return -1
            rs = _find_response(response, imports.request_id(job))
            if rs is None:
                reason = "The response from QuickBooks is not readable qbXML for the request sent."
                await failed_attempt(conn, job, reason)
                await update_session(conn, session, last_error=reason)
                return -1
            progress = await imports.apply_response(conn, job, rs)
            if progress.finished and await has_work(conn, session.connection_id):
                return 50  # the next job follows in this session
            return progress.percent

    async def get_last_error(self, ticket: str) -> str:
        async with self.pool.acquire() as conn:
            error = await last_error(conn, ticket)
        if error is None:
            return UNKNOWN_TICKET
        return error or "No error."

    async def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            reason = f"QuickBooks could not be opened: {hresult} {message}".strip()
            if await close_session(conn, ticket, reason[:1000]):
                log.warning("qbd %s", reason)
        return "done"

    async def close_connection(self, ticket: str) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            await close_session(conn, ticket)
        return "OK"


def _check_company(session: Session, hcp_response: str) -> str | None:
    """The first call carries CompanyQuery's answer: our FileID DataExt must be there."""
    root = _parse(hcp_response) if hcp_response else None
    if root is None:
        return "The Web Connector sent no readable company information."
    for ext in root.iter("DataExtRet"):
        if ext.findtext("OwnerID") == session.owner_id and ext.findtext("DataExtName") == "FileID":
            if ext.findtext("DataExtValue") == session.file_id:
                return None
            return "Wrong company file: this Web Connector application belongs to another company file."
    return "Wrong company file: it does not carry this connection's FileID."


def _negotiate(hcp_response: str, major: str, minor: str) -> str:
    """The highest qbXML version both sides speak, at most 13.0."""
    root = _parse(hcp_response)
    versions: list[tuple[int, int]] = []
    for element in root.iter("SupportedQBXMLVersion") if root is not None else []:
        head, _, tail = (element.text or "").partition(".")
        if head.isdigit() and (tail or "0").isdigit():
            versions.append((int(head), int(tail or "0")))
    if major.isdigit() and minor.isdigit():
        versions.append((int(major), int(minor)))
    usable = [v for v in versions if v <= HIGHEST_QBXML]
    best = max(usable) if usable else HIGHEST_QBXML
    return f"{best[0]}.{best[1]}"


def _find_response(response: str, request_id: str) -> ET.Element | None:
    root = _parse(response)
    if root is None:
        return None
    for rs in root.iterfind("QBXMLMsgsRs/*"):
        if rs.get("requestID") == request_id:
            return rs
    return None
