"""The customer import job: an iterated `CustomerQueryRq` (ActiveStatus All, MaxReturned 100, the
iterator kept in the job's state within one session) whose pages land in `qbd_customers`.
A stale iterator (3391) restarts the import; docs/reference/quickbooks-desktop.md#customer-queries."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import asyncpg

from qb_sync.qbd.queue import Job, failed_attempt, settle

PAGE_SIZE = 100
MAX_RESTARTS = 2
TRANSIENT = {3170, 3175, 3176, 3180}  # locked or "modified by another user": resend later
_TEXT_FIELDS = (
    "CompanyName", "Salutation", "FirstName", "MiddleName", "LastName", "JobTitle", "Phone",
    "Mobile", "AltPhone", "Fax", "Email", "Cc", "Contact", "AltContact", "AccountNumber",
    "Notes", "ExternalGUID", "Balance", "TotalBalance",
)  # fmt: skip


def request_id(job: Job) -> str:
    return f"qbd-{job.request_id}"  # at most 50 characters, echoed on the response


def customer_query(job: Job, qbxml_version: str) -> str:
    iterator_id = job.state.get("iterator_id")
    attrs = {"requestID": request_id(job), "iterator": "Continue" if iterator_id else "Start"}
    if iterator_id:
        attrs["iteratorID"] = iterator_id
    root = ET.Element("QBXML")
    msgs = ET.SubElement(root, "QBXMLMsgsRq", onError="stopOnError")
    query = ET.SubElement(msgs, "CustomerQueryRq", attrs)
    ET.SubElement(query, "MaxReturned").text = str(PAGE_SIZE)
    ET.SubElement(query, "ActiveStatus").text = "All"  # the default would hide inactive ones
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{qbxml_version}"?>\n'
        + ET.tostring(root, encoding="unicode")
    )


@dataclass(frozen=True)
class Progress:
    finished: bool
    percent: int


async def apply_page(conn: asyncpg.Connection, job: Job, rs: ET.Element) -> Progress:
    """Store one CustomerQueryRs page and move the job on."""
    code = int(rs.get("statusCode", "1000"))
    message = f"{code}: {rs.get('statusMessage', '')}"
    state = dict(job.state)
    if code == 3391:
        restarts = state.get("restarts", 0) + 1
        if restarts > MAX_RESTARTS:
            await settle(conn, job, "failed", last_status=message)
            return Progress(True, 100)
        await settle(conn, job, "queued", {"restarts": restarts, "fetched": 0}, message)
        return Progress(False, 1)
    if code in TRANSIENT:
        await failed_attempt(conn, job, message)
        return Progress(True, 100)
    if code >= 1000:
        await settle(conn, job, "failed", last_status=message)
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
    await settle(conn, job, "done", {"fetched": fetched}, message)
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
               imported_at = now()""",
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
