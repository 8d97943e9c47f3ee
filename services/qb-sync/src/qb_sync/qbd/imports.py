"""The customer jobs: an iterated `CustomerQueryRq` (ActiveStatus All, MaxReturned 100, the
iterator kept in the job's state within one session) whose pages land in `qbd_customers`.
`customer_import` reads everything; `customer_changes` reads what changed since the newest
TimeModified seen (minus an overlap, as company files keep local time), then the customers
deleted since then (`ListDeletedQueryRq`). A stale iterator (3391) restarts the query;
docs/reference/quickbooks-desktop.md#customer-queries."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from qb_sync.qbd.queue import Job, failed_attempt, settle

PAGE_SIZE = 100
OVERLAP = timedelta(minutes=10)
MAX_RESTARTS = 2
TRANSIENT = {3170, 3175, 3176, 3180}  # locked or "modified by another user": resend later
_TEXT_FIELDS = (
    "CompanyName", "Salutation", "FirstName", "MiddleName", "LastName", "JobTitle", "Phone",
    "Mobile", "AltPhone", "Fax", "Email", "Cc", "Contact", "AltContact", "AccountNumber",
    "Notes", "ExternalGUID", "Balance", "TotalBalance",
)  # fmt: skip


def request_id(job: Job) -> str:
    return f"qbd-{job.request_id}"  # at most 50 characters, echoed on the response


async def prepare(conn: asyncpg.Connection, job: Job) -> Job:
    """A changes job fixes its starting point when first sent: the newest TimeModified seen,
    minus the overlap (none yet: it reads everything, like an import)."""
    if job.kind != "customer_changes" or "since" in job.state:
        return job
    newest = await conn.fetchval(
        """SELECT max(time_modified::timestamptz) FROM qbd_customers c
           JOIN qbd_requests r USING (connection_id) WHERE r.request_id = $1""",
        job.request_id,
    )
    since = (newest - OVERLAP).isoformat(timespec="seconds") if newest else None
    state = {**job.state, "since": since, "phase": "modified"}
    await conn.execute(
        "UPDATE qbd_requests SET state = $2::jsonb WHERE request_id = $1",
        job.request_id,
        json.dumps(state),
    )
    return Job(job.request_id, job.kind, state, job.attempts)


def request_xml(job: Job, qbxml_version: str) -> str:
    root = ET.Element("QBXML")
    msgs = ET.SubElement(root, "QBXMLMsgsRq", onError="stopOnError")
    since = job.state.get("since")
    if job.state.get("phase") == "deleted":
        query = ET.SubElement(msgs, "ListDeletedQueryRq", requestID=request_id(job))
        ET.SubElement(query, "ListDelType").text = "Customer"
        ET.SubElement(
            ET.SubElement(query, "DeletedDateRangeFilter"), "FromDeletedDate"
        ).text = since
    else:
        iterator_id = job.state.get("iterator_id")
        attrs = {"requestID": request_id(job), "iterator": "Continue" if iterator_id else "Start"}
        if iterator_id:
            attrs["iteratorID"] = iterator_id
        query = ET.SubElement(msgs, "CustomerQueryRq", attrs)
        ET.SubElement(query, "MaxReturned").text = str(PAGE_SIZE)
        ET.SubElement(query, "ActiveStatus").text = "All"  # the default would hide inactive ones
        if since:
            ET.SubElement(query, "FromModifiedDate").text = since
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{qbxml_version}"?>\n'
        + ET.tostring(root, encoding="unicode")
    )


@dataclass(frozen=True)
class Progress:
    finished: bool
    percent: int


async def apply_response(conn: asyncpg.Connection, job: Job, rs: ET.Element) -> Progress:
    """Store one CustomerQueryRs page (or the ListDeletedQueryRs) and move the job on."""
    code = int(rs.get("statusCode", "1000"))
    message = f"{code}: {rs.get('statusMessage', '')}"
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
        await conn.execute(
            """UPDATE qbd_customers c SET deleted_at = now() FROM qbd_requests r
               WHERE r.request_id = $1 AND c.connection_id = r.connection_id
                 AND c.list_id = ANY($2::text[]) AND c.deleted_at IS NULL""",
            job.request_id,
            deleted,
        )
        await settle(conn, job, "done", {**state, "deleted": len(deleted)}, message)
        return Progress(True, 100)
    rows = rs.findall("CustomerRet")
    for ret in rows:
        await _store(conn, job, ret)
    fetched = state.get("fetched", 0) + len(rows)
    remaining = int(rs.get("iteratorRemainingCount", "0"))
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


def _fields(ret: ET.Element) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for tag in _TEXT_FIELDS:
        value = ret.findtext(tag)
        if value is not None:
            fields[tag] = value
    for tag in ("BillAddress", "ShipAddress"):
        address = ret.find(tag)
        if address is not None:
            fields[tag] = {line.tag: line.text or "" for line in address}
    contacts = [{e.tag: e.text or "" for e in c if len(e) == 0} for c in ret.findall("ContactsRet")]
    if contacts:
        fields["Contacts"] = contacts
    return fields


async def _store(conn: asyncpg.Connection, job: Job, ret: ET.Element) -> None:
    await conn.execute(
        """INSERT INTO qbd_customers (connection_id, list_id, edit_sequence, name, full_name,
                                      parent_list_id, sublevel, is_active, time_modified, fields)
           SELECT connection_id, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb
           FROM qbd_requests WHERE request_id = $1
           ON CONFLICT (connection_id, list_id) DO UPDATE SET
               edit_sequence = EXCLUDED.edit_sequence, name = EXCLUDED.name,
               full_name = EXCLUDED.full_name, parent_list_id = EXCLUDED.parent_list_id,
               sublevel = EXCLUDED.sublevel, is_active = EXCLUDED.is_active,
               time_modified = EXCLUDED.time_modified, fields = EXCLUDED.fields,
               imported_at = now(), deleted_at = NULL""",
        job.request_id,
        ret.findtext("ListID", ""),
        ret.findtext("EditSequence", ""),
        ret.findtext("Name", ""),
        ret.findtext("FullName", ""),
        ret.findtext("ParentRef/ListID"),
        int(ret.findtext("Sublevel", "0")),
        ret.findtext("IsActive", "true") == "true",
        ret.findtext("TimeModified", ""),
        json.dumps(_fields(ret)),
    )
