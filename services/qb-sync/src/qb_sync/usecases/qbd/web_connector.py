"""The Web Connector callbacks, answered from PostgreSQL (docs/reference/quickbooks-desktop.md#callbacks-in-call-order).

Every failure is a protocol answer (`nvu`, `none`, `""` + getLastError, a negative percentage)
and a log line; nothing here raises into the SOAP layer on bad input.
"""

from __future__ import annotations

import logging

import asyncpg

from qb_sync.domain.qbd.passwords import verify_password
from qb_sync.domain.qbd.qbxml import (
    check_company,
    find_response,
    negotiate,
    request_id,
    request_xml,
)
from qb_sync.store.qbd.connections import connection_by_username
from qb_sync.store.qbd.requests import failed_attempt, has_work, job_in_flight, mark_sent, next_job
from qb_sync.store.qbd.sessions import (
    close_session,
    find_session,
    last_error,
    open_session,
    update_session,
)
from qb_sync.usecases.qbd import customer_jobs

log = logging.getLogger("qb_sync.qbd")
SERVER_VERSION = "qb-sync 0.1 (QuickBooks Desktop through the Web Connector)"
UNKNOWN_TICKET = "Unknown or expired session: run the update again."
# Verifying a password against a made-up hash keeps an unknown user as slow as a known one.
_DUMMY_HASH = "scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


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
                problem = check_company(session, hcp_response)
                if problem:
                    log.warning("qbd tenant %s: %s", session.tenant_id, problem)
                    await update_session(conn, session, last_error=problem, status="closed")
                    return ""
                version = negotiate(hcp_response, major, minor)
                await update_session(conn, session, file_checked=True, qbxml_version=version)
                session = await find_session(conn, ticket)
                assert session is not None
            job = await next_job(conn, session.connection_id)
            if job is None:
                await update_session(conn, session, last_error="Nothing more to do.")
                return ""
            job = await customer_jobs.prepare(conn, job)
            await mark_sent(conn, job, session.ticket_hash)
            await update_session(conn, session, in_flight=job.request_id, last_error="")
            return request_xml(job, session.qbxml_version)

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
            rs = find_response(response, request_id(job))
            if rs is None:
                reason = "The response from QuickBooks is not readable qbXML for the request sent."
                await failed_attempt(conn, job, reason)
                await update_session(conn, session, last_error=reason)
                return -1
            progress = await customer_jobs.apply_response(conn, job, rs)
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
