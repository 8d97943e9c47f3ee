"""The Web Connector callbacks, answered from PostgreSQL (docs/reference/quickbooks-desktop.md#callbacks-in-call-order).

Every failure is a protocol answer (`nvu`, `none`, `""` + getLastError, a negative percentage)
and a log line; nothing here raises into the SOAP layer on bad input.
"""

from __future__ import annotations

import logging
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta

import asyncpg

from qb_sync.domain.qbd.answer_values import BadAnswer
from qb_sync.domain.qbd.passwords import verify_password
from qb_sync.domain.qbd.push_xml import message_set
from qb_sync.domain.qbd.qbxml import (
    check_company,
    negotiate,
    request_id,
    request_xml,
    responses_by_id,
)
from qb_sync.domain.qbd.records import Job, Session, desktop_realm
from qb_sync.settings import Settings
from qb_sync.store.push.auto_retry import retry_failed_rows
from qb_sync.store.push.desktop import has_due_desktop_push
from qb_sync.store.qbd.connections import connection_by_username
from qb_sync.store.qbd.requests import (
    failed_attempt,
    has_work,
    jobs_in_flight,
    mark_sent,
    next_job,
)
from qb_sync.store.qbd.sessions import (
    close_session,
    find_session,
    last_error,
    open_session,
    still_waiting,
    update_session,
)
from qb_sync.usecases.qbd import customer_jobs
from qb_sync.usecases.qbd.customer_push import DesktopPush

log = logging.getLogger("qb_sync.qbd")
SERVER_VERSION = "qb-sync 0.1 (QuickBooks Desktop through the Web Connector)"
UNKNOWN_TICKET = "Unknown or expired session: run the update again."
# Verifying a password against a made-up hash keeps an unknown user as slow as a known one.
MAX_JOBS_PER_CALL = 20
# getLastError's "NoOp": the Web Connector pauses about 5 s and calls sendRequestXML again
# (docs/reference/quickbooks-desktop.md#callbacks-in-call-order). Answered while this company's
# work exists but is held elsewhere for a moment, at most WAIT_FOR_HELD_WORK in a row.
NOOP = "NoOp"
WAIT_FOR_HELD_WORK = timedelta(seconds=60)
NOTHING_MORE = "Nothing more to do."
_DUMMY_HASH = "scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


class WebConnectorService:
    def __init__(self, pool: asyncpg.Pool, settings: Settings | None = None) -> None:
        self.pool = pool
        self.settings = settings or Settings()
        self.push = DesktopPush(pool, self.settings)

    async def _has_work(
        self,
        conn: asyncpg.Connection,
        connection_id: uuid.UUID,
        tenant_id: str,
        session: Session | None = None,
    ) -> bool:
        """Queued jobs, or push rows of this company that are due (for `session`)."""
        key = session.ticket_hash.hex() if session else None
        return await has_work(conn, connection_id) or await has_due_desktop_push(
            conn, tenant_id, desktop_realm(connection_id), connection_id, key
        )

    async def _retry_failed(
        self, conn: asyncpg.Connection, tenant_id: str, connection_id: uuid.UUID
    ) -> None:
        """Rows of this company that failed on a lock or a QuickBooks that threw go pending
        again on their own (store/push/auto_retry.py: one probe at a backoff, or all once a
        row of the company has synced since)."""
        s = self.settings
        retried = await retry_failed_rows(
            conn,
            tenant_prefix="",
            base=s.push_auto_retry_base_seconds,
            cap=s.push_auto_retry_max_seconds,
            max_retries=s.push_auto_retries,
            company=(tenant_id, desktop_realm(connection_id)),
        )
        if retried:
            log.info("qbd tenant %s: %d failed rows retried on their own", tenant_id, retried)

    async def _next_request(
        self, conn: asyncpg.Connection, session: Session
    ) -> tuple[list[Job], str] | None:
        """The next message set to send and its jobs (marked sent), or None. A refresh job goes
        alone; push jobs of up to `qbd_pushes_per_message_set` customers go together, one
        request each (a lookup, an Add, a read or a Mod), in job order, with continueOnError.
        A push job may end without a request (waiting for its data or parent: its outcome is
        written), then the next is taken."""
        pushes: list[tuple[Job, ET.Element]] = []
        wanted = self.settings.qbd_pushes_per_message_set
        for _ in range(MAX_JOBS_PER_CALL + wanted):
            if len(pushes) >= wanted:
                break
            job = await next_job(conn, session.connection_id)
            if job is None:
                job = await self.push.next_job(conn, session)
            if job is None:
                break
            if job.kind != "customer_push":
                if pushes:
                    break  # it stays queued for the next message set
                job = await customer_jobs.prepare(conn, job)
                await mark_sent(conn, job, session.ticket_hash)
                return [job], request_xml(job, session.qbxml_version)
            request = await self.push.request(conn, job, session)
            if request is not None:
                await mark_sent(conn, job, session.ticket_hash)
                pushes.append((job, request))
        if not pushes:
            return None
        # QuickBooks runs the requests in this order, and the answers are applied in it too
        # (jobs_in_flight), so a lookup sees what an earlier Add in the same set wrote.
        pushes.sort(key=lambda p: p[0].request_id)
        on_error = "continueOnError" if len(pushes) > 1 else "stopOnError"
        requests = [r for _, r in pushes]
        return [j for j, _ in pushes], message_set(session.qbxml_version, requests, on_error)

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
            await self._retry_failed(conn, connection.tenant_id, connection.connection_id)
            if not await self._has_work(conn, connection.connection_id, connection.tenant_id):
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
            picked = await self._next_request(conn, session)
            if picked is None:
                # "" ends the session unless getLastError says NoOp. Work this session may take
                # that it could not take now (a row or job locked by another transaction) is
                # waited for: ended, the session would leave it to the next scheduled run and
                # show the user an error (QBWC1031) for nothing.
                held = await self._has_work(
                    conn, session.connection_id, session.tenant_id, session
                ) and await still_waiting(conn, session, WAIT_FOR_HELD_WORK)
                await update_session(conn, session, last_error=NOOP if held else NOTHING_MORE)
                return ""
            jobs, request = picked
            await update_session(
                conn, session, in_flight=jobs[0].request_id, last_error="", waiting_since=None
            )
            return request

    async def receive_response_xml(
        self, ticket: str, response: str, hresult: str, message: str
    ) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            session = await find_session(conn, ticket, lock=True)
            if session is None:
                return -1
            jobs = []
            if session.in_flight is not None:
                jobs = await jobs_in_flight(conn, session.connection_id, session.ticket_hash)
            if not jobs:
                await update_session(
                    conn, session, last_error="No request was awaiting this response."
                )
                return -1
            await update_session(conn, session, in_flight=None)
            answers = None if hresult or not response else responses_by_id(response)
            if answers is None:
                if hresult or not response:
                    reason = (
                        f"QuickBooks could not process the request: {hresult[:40]} {message[:400]}"
                    )
                else:
                    reason = "The response from QuickBooks is not readable qbXML."
                log.warning("qbd tenant %s: %s", session.tenant_id, reason.strip())
                for job in jobs:
                    await self._failed(conn, job, session, reason.strip())
                await update_session(conn, session, last_error=reason.strip()[:1000])
                return -1
            progress = [await self._apply_or_fail(conn, job, session, answers) for job in jobs]
            if any(p.percent < 0 for p in progress):
                return -1  # getLastError shows why; the session ends, the rest waits its turn
            if all(p.finished for p in progress) and await self._has_work(
                conn, session.connection_id, session.tenant_id, session
            ):
                return 50  # the next jobs follow in this session
            if len(progress) == 1:
                return progress[0].percent
            return 100 if all(p.finished for p in progress) else 50

    async def _apply_or_fail(
        self,
        conn: asyncpg.Connection,
        job: Job,
        session: Session,
        answers: dict[str, ET.Element],
    ) -> customer_jobs.Progress:
        """One job's answer applied in a savepoint: an answer qb-sync refuses (BadAnswer) or
        cannot store undoes only what it began, and the job fails (or retries) with the reason
        stored, instead of the whole call failing and the same answer coming back next run."""
        try:
            async with conn.transaction():
                return await self._apply(conn, job, session, answers)
        except (BadAnswer, asyncpg.DataError, asyncpg.ProgramLimitExceededError) as exc:
            reason = f"QuickBooks' answer was not applied: {exc}"[:500]
            log.warning("qbd tenant %s: %s", session.tenant_id, reason)
            await self._failed(conn, job, session, reason)
            await update_session(conn, session, last_error=reason)
            return customer_jobs.Progress(True, -1)

    async def _apply(
        self,
        conn: asyncpg.Connection,
        job: Job,
        session: Session,
        answers: dict[str, ET.Element],
    ) -> customer_jobs.Progress:
        """Take one job's answer out of the message set's answers."""
        rs = answers.get(request_id(job))
        if rs is None:
            raise BadAnswer(f"it holds no answer for request {request_id(job)}")
        if job.kind == "customer_push":
            finished = await self.push.apply(conn, job, session, rs)
            return customer_jobs.Progress(finished, 100 if finished else 50)
        return await customer_jobs.apply_response(conn, job, rs)

    async def _failed(
        self, conn: asyncpg.Connection, job: Job, session: Session, reason: str
    ) -> None:
        if job.kind == "customer_push":
            await self.push.failed(conn, job, session, reason)
        else:
            await failed_attempt(conn, job, reason)

    async def get_last_error(self, ticket: str) -> str:
        async with self.pool.acquire() as conn:
            error = await last_error(conn, ticket)
        if error is None:
            return UNKNOWN_TICKET
        return error or "No error."

    async def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            # hresult and message come from the caller: bounded before a log line or a row
            reason = f"QuickBooks could not be opened: {hresult[:40]} {message[:400]}".strip()
            if await close_session(conn, ticket, reason[:1000]):
                log.warning("qbd %s", reason)
        return "done"

    async def close_connection(self, ticket: str) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            await close_session(conn, ticket)
        return "OK"
