"""qbXML for the customer jobs, without I/O: the iterated `CustomerQueryRq` (ActiveStatus All,
MaxReturned 100) or `ListDeletedQueryRq` a job sends, the answer found by its requestID, the
company check and qbXML version of the first `sendRequestXML`, and a `CustomerRet` read into
what `qbd_customers` keeps. docs/reference/quickbooks-desktop.md#customer-queries."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from qb_sync.domain.qbd.answer_values import check_customer_ret
from qb_sync.domain.qbd.records import Job, Session
from qb_sync.domain.qbd.safe_xml import UnreadableXml, parse_xml

PAGE_SIZE = 100
OVERLAP = timedelta(minutes=10)
HIGHEST_QBXML = (13, 0)
_VERSION_PART = re.compile(r"[0-9]{1,4}")  # never int() of "²" or of 5,000 digits
_TEXT_FIELDS = (
    "CompanyName", "Salutation", "FirstName", "MiddleName", "LastName", "JobTitle", "Phone",
    "Mobile", "AltPhone", "Fax", "Email", "Cc", "Contact", "AltContact", "AccountNumber",
    "Notes", "ExternalGUID", "Balance", "TotalBalance",
)  # fmt: skip


def parse(text: str) -> ET.Element | None:
    try:
        return parse_xml(text.encode("utf-8", "surrogatepass"))
    except UnreadableXml:
        return None


def request_id(job: Job) -> str:
    return f"qbd-{job.request_id}"  # at most 50 characters, echoed on the response


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
class ImportedCustomer:
    """One `CustomerRet`, as `qbd_customers` keeps it."""

    list_id: str
    edit_sequence: str
    name: str
    full_name: str
    parent_list_id: str | None
    sublevel: int
    is_active: bool
    time_modified: str
    fields: dict[str, Any]


def imported_customer(ret: ET.Element) -> ImportedCustomer:
    """Raises BadAnswer when a value qb-sync keeps is missing or out of range."""
    check_customer_ret(ret)
    return ImportedCustomer(
        list_id=ret.findtext("ListID", ""),
        edit_sequence=ret.findtext("EditSequence", ""),
        name=ret.findtext("Name", ""),
        full_name=ret.findtext("FullName", ""),
        parent_list_id=ret.findtext("ParentRef/ListID"),
        sublevel=int(ret.findtext("Sublevel", "0")),
        is_active=ret.findtext("IsActive", "true") == "true",
        time_modified=ret.findtext("TimeModified", ""),
        fields=_customer_fields(ret),
    )


def _customer_fields(ret: ET.Element) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for tag in _TEXT_FIELDS:
        value = ret.findtext(tag)
        if value is not None:
            fields[tag] = value
    for tag in ("BillAddress", "ShipAddress"):
        address = ret.find(tag)
        if address is not None:
            fields[tag] = {line.tag: line.text or "" for line in address}
    contacts = [_contact(c) for c in ret.findall("ContactsRet")]
    if contacts:
        fields["Contacts"] = contacts
    currency = ret.findtext("CurrencyRef/FullName")
    if currency:
        fields["CurrencyRef"] = currency
    return fields


def _contact(contact: ET.Element) -> dict[str, Any]:
    """One `ContactsRet`: its own fields, and its AdditionalContactRef pairs (email, mobile...)."""
    kept: dict[str, Any] = {e.tag: e.text or "" for e in contact if len(e) == 0}
    refs = {
        ref.findtext("ContactName", ""): ref.findtext("ContactValue", "")
        for ref in contact.findall("AdditionalContactRef")
    }
    if refs:
        kept["AdditionalContactRef"] = refs
    return kept


def check_company(session: Session, hcp_response: str) -> str | None:
    """The first call carries CompanyQuery's answer: our FileID DataExt must be there."""
    root = parse(hcp_response) if hcp_response else None
    if root is None:
        return "The Web Connector sent no readable company information."
    for ext in root.iter("DataExtRet"):
        if ext.findtext("OwnerID") == session.owner_id and ext.findtext("DataExtName") == "FileID":
            if ext.findtext("DataExtValue") == session.file_id:
                return None
            return "Wrong company file: this Web Connector application belongs to another company file."
    return "Wrong company file: it does not carry this connection's FileID."


def negotiate(hcp_response: str, major: str, minor: str) -> str:
    """The highest qbXML version both sides speak, at most 13.0."""
    root = parse(hcp_response)
    versions: list[tuple[int, int]] = []
    for element in root.iter("SupportedQBXMLVersion") if root is not None else []:
        head, _, tail = (element.text or "").partition(".")
        if _VERSION_PART.fullmatch(head) and _VERSION_PART.fullmatch(tail or "0"):
            versions.append((int(head), int(tail or "0")))
    if _VERSION_PART.fullmatch(major) and _VERSION_PART.fullmatch(minor):
        versions.append((int(major), int(minor)))
    usable = [v for v in versions if v <= HIGHEST_QBXML]
    best = max(usable) if usable else HIGHEST_QBXML
    return f"{best[0]}.{best[1]}"


def responses_by_id(response: str) -> dict[str, ET.Element] | None:
    """Each response of a message set by its requestID; None when the text is not qbXML."""
    root = parse(response)
    if root is None:
        return None
    return {str(rs.get("requestID")): rs for rs in root.iterfind("QBXMLMsgsRs/*")}


def find_response(response: str, request_id: str) -> ET.Element | None:
    root = parse(response)
    if root is None:
        return None
    for rs in root.iterfind("QBXMLMsgsRs/*"):
        if rs.get("requestID") == request_id:
            return rs
    return None
