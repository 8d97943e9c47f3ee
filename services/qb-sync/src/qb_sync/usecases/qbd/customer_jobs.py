"""The customer jobs: an iterated `CustomerQueryRq` (ActiveStatus All, MaxReturned 100, the
iterator kept in the job's state within one session; the qbXML in domain/qbd/qbxml.py) whose
pages land in `qbd_customers` (store/qbd/customers.py).
`customer_import` reads everything; `customer_changes` reads what changed since the newest
TimeModified seen (minus an overlap, as company files keep local time), then the customers
deleted since then (`ListDeletedQueryRq`). A stale iterator (3391) restarts the query;
docs/reference/quickbooks-desktop.md#customer-queries."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import asyncpg

from qb_sync.domain.qbd.answer_values import count, status_code
from qb_sync.domain.qbd.qbxml import OVERLAP, imported_customer
from qb_sync.domain.qbd.records import Job
from qb_sync.store.qbd import customers
from qb_sync.store.qbd.requests import failed_attempt, save_state, settle

MAX_RESTARTS = 2
TRANSIENT = {3170, 3175, 3176, 3180}  # locked or "modified by another user": resend later


async def prepare(conn: asyncpg.Connection, job: Job) -> Job:
    """A changes job fixes its starting point when first sent: the newest TimeModified seen,
    minus the overlap (none yet: it reads everything, like an import)."""
    if job.kind != "customer_changes" or "since" in job.state:
        return job
    newest = await customers.newest_time_modified(conn, job.request_id)
    since = (newest - OVERLAP).isoformat(timespec="seconds") if newest else None
    state = {**job.state, "since": since, "phase": "modified"}
    await save_state(conn, job.request_id, state)
    return Job(job.request_id, job.kind, state, job.attempts)


@dataclass(frozen=True)
class Progress:
    finished: bool
    percent: int


async def apply_response(conn: asyncpg.Connection, job: Job, rs: ET.Element) -> Progress:
    """Store one CustomerQueryRs page (or the ListDeletedQueryRs) and move the job on."""
    code = status_code(rs)
    message = f"{code}: {rs.get('statusMessage', '')}"[:500]
    state = dict(job.state)
    if code == 3391:
        restarts = state.get("restarts", 0) + 1
        if restarts > MAX_RESTARTS:
            await settle(conn, job, "failed", last_status=message)
            return Progress(True, 100)
        state.update(restarts=restarts, fetched=0)
        state.pop("iterator_id", None)
        await settle(conn, job, "queued", state, message)
        return Progress(False, 1)
    if code in TRANSIENT:
        await failed_attempt(conn, job, message)
        return Progress(True, 100)
    if code >= 1000:
        await settle(conn, job, "failed", last_status=message)
        return Progress(True, 100)
    if rs.tag == "ListDeletedQueryRs":
        deleted = [ret.findtext("ListID", "") for ret in rs.findall("ListDeletedRet")]
        await customers.mark_deleted(conn, job.request_id, deleted)
        await settle(conn, job, "done", {**state, "deleted": len(deleted)}, message)
        return Progress(True, 100)
    rows = [imported_customer(ret) for ret in rs.findall("CustomerRet")]  # all checked first
    for row in rows:
        await customers.upsert(conn, job.request_id, row)
    fetched = state.get("fetched", 0) + len(rows)
    remaining = count(rs, "iteratorRemainingCount")
    if remaining > 0:
        state.update(iterator_id=rs.get("iteratorID"), fetched=fetched)
        await settle(conn, job, "queued", state, message)
        return Progress(False, max(1, min(99, 100 * fetched // (fetched + remaining))))
    state.pop("iterator_id", None)
    state["fetched"] = fetched
    if job.kind == "customer_changes" and state.get("since"):
        state["phase"] = "deleted"
        await settle(conn, job, "queued", state, message)
        return Progress(False, 95)
    await settle(conn, job, "done", state, message)
    return Progress(True, 100)
