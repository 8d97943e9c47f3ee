"""qbXML for pushing one customer to a Desktop company, without I/O: the find-first query by
FullName, the read by ListID, `CustomerAddRq` and `CustomerModRq` (children in qbXML 13.0 schema
order, text in ISO-8859-1 within QuickBooks' length limits), and a `CustomerRet` seen as the
QuickBooks customer dict the push outcomes and the mirror already speak (Id, SyncToken,
DisplayName, ...). docs/reference/quickbooks-desktop.md#adding-and-modifying-customers.

Input values are in the QuickBooks Online terms of domain/fields.py (`quickbooks_values`,
`to_send`), so one platform customer means the same on both backends."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

from qb_sync.domain.names import clean_name
from qb_sync.domain.qbd.latin1 import to_latin1

Json = dict[str, Any]
NAME_MAX = 41  # Name and CompanyName
GUID_NAMESPACE = uuid.UUID("0b8f7f64-7f0b-4f8e-9d55-3c1c1e6ad7a1")
# (QuickBooks Online address key, Desktop element, max length)
_ADDRESS = (
    ("Line1", "Addr1", 41),
    ("Line2", "Addr2", 41),
    ("City", "City", 31),
    ("CountrySubDivisionCode", "State", 21),
    ("PostalCode", "PostalCode", 13),
    ("Country", "Country", 31),
)
# (field, inner key, Desktop element, max length), in CustomerAdd's order after the addresses
_COMM = (
    ("PrimaryPhone", "FreeFormNumber", "Phone", 21),
    ("Mobile", "FreeFormNumber", "Mobile", 21),
    ("Fax", "FreeFormNumber", "Fax", 21),
    ("PrimaryEmailAddr", "Address", "Email", 1023),
)


def external_guid(tenant_id: str, customer_id: str) -> str:
    """The GUID our Add stamps on the customer (`ExternalGUID`): a customer carrying it was
    created by this platform customer's push, whatever its name is now."""
    return "{" + str(uuid.uuid5(GUID_NAMESPACE, f"{tenant_id}:{customer_id}")).upper() + "}"


def desktop_name(name: str) -> str:
    """A Customer Name QuickBooks Desktop keeps: Latin-1, no `:` (it separates job levels), at
    most 41 characters. Raises NotLatin1 when that is impossible."""
    return clean_name(to_latin1(name), NAME_MAX)


def _text(value: Any, limit: int) -> str:
    return to_latin1(str(value or "")).strip()[:limit]


def _address(parent: ET.Element, tag: str, value: Json) -> None:
    address = ET.SubElement(parent, tag)
    for key, element, limit in _ADDRESS:
        if key in value:
            ET.SubElement(address, element).text = _text(value[key], limit)


def desktop_values(values: Json) -> Json:
    """QuickBooks-terms `values` as a Desktop company file will hold them (Latin-1, its length
    limits, no web address, empty values absent), so comparing them with what it holds finds no
    false differences."""
    out: Json = {k: v for k, v in values.items() if k in ("Active", "Job", "ParentRef")}
    if "DisplayName" in values:
        out["DisplayName"] = desktop_name(str(values["DisplayName"]))
    company = _text(values.get("CompanyName"), NAME_MAX)
    if company:
        out["CompanyName"] = company
    for field in ("BillAddr", "ShipAddr"):
        given = values.get(field)
        if isinstance(given, dict):
            lines = {key: _text(given.get(key), limit) for key, _, limit in _ADDRESS}
            kept = {key: line for key, line in lines.items() if line}
            if kept:
                out[field] = kept
    for field, inner, _, limit in _COMM:
        given = values.get(field)
        text = _text(given.get(inner), limit) if isinstance(given, dict) else ""
        if text:
            out[field] = {inner: text}
    return out


def customer_body(
    tag: str,
    values: Json,
    *,
    list_id: str | None = None,
    edit_sequence: str | None = None,
    guid: str | None = None,
) -> ET.Element:
    """`CustomerAdd` or `CustomerMod` from QuickBooks-terms `values` (only the fields present;
    an empty value clears the field on a Mod)."""
    body = ET.Element(tag)
    if list_id is not None:
        ET.SubElement(body, "ListID").text = list_id
        ET.SubElement(body, "EditSequence").text = edit_sequence or ""
    if "DisplayName" in values:
        ET.SubElement(body, "Name").text = desktop_name(str(values["DisplayName"]))
    if "Active" in values:
        ET.SubElement(body, "IsActive").text = "true" if values["Active"] else "false"
    parent = (values.get("ParentRef") or {}).get("value")
    if parent:
        ET.SubElement(ET.SubElement(body, "ParentRef"), "ListID").text = str(parent)
    if "CompanyName" in values:
        ET.SubElement(body, "CompanyName").text = _text(values["CompanyName"], NAME_MAX)
    for field, element in (("BillAddr", "BillAddress"), ("ShipAddr", "ShipAddress")):
        if isinstance(values.get(field), dict):
            _address(body, element, values[field])
    for field, inner, element, limit in _COMM:
        if isinstance(values.get(field), dict):
            ET.SubElement(body, element).text = _text(values[field].get(inner), limit)
    if guid is not None:
        ET.SubElement(body, "ExternalGUID").text = guid
    return body


def message_set(
    qbxml_version: str, requests: list[ET.Element], on_error: str = "stopOnError"
) -> str:
    """Requests of several jobs go with `continueOnError`: QuickBooks then runs each whatever
    the others answer, one after another, and answers each under its requestID."""
    root = ET.Element("QBXML")
    msgs = ET.SubElement(root, "QBXMLMsgsRq", onError=on_error)
    msgs.extend(requests)
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{qbxml_version}"?>\n'
        + ET.tostring(root, encoding="unicode")
    )


def find_request(request_id: str, full_names: list[str]) -> ET.Element:
    """Look the names up exactly, active or not (a FullName lookup ignores ActiveStatus)."""
    query = ET.Element("CustomerQueryRq", requestID=request_id)
    for name in full_names:
        ET.SubElement(query, "FullName").text = name
    return query


def read_request(request_id: str, list_id: str) -> ET.Element:
    query = ET.Element("CustomerQueryRq", requestID=request_id)
    ET.SubElement(query, "ListID").text = list_id
    return query


def write_request(kind: str, request_id: str, body: ET.Element) -> ET.Element:
    """`CustomerAddRq` or `CustomerModRq` around its body."""
    request = ET.Element(f"{kind}Rq", requestID=request_id)
    request.append(body)
    return request


def _sync_token(edit_sequence: str) -> int:
    """The mirror orders versions by an integer: EditSequence is one (a Unix time) in practice;
    anything else counts as 0 (published once)."""
    return int(edit_sequence) if edit_sequence.isdigit() and int(edit_sequence) < 2**31 else 0


def _address_of(element: ET.Element | None) -> Json | None:
    if element is None:
        return None
    out = {key: element.findtext(tag) for key, tag, _ in _ADDRESS if element.findtext(tag)}
    return out or None


def customer_of(ret: ET.Element) -> Json:
    """A `CustomerRet` as the QuickBooks customer dict of domain/fields.py (`current`)."""
    customer: Json = {
        "Id": ret.findtext("ListID", ""),
        "SyncToken": str(_sync_token(ret.findtext("EditSequence", ""))),
        "DisplayName": ret.findtext("Name", ""),
        "FullyQualifiedName": ret.findtext("FullName", ""),
        "Active": ret.findtext("IsActive", "true") == "true",
        "Job": ret.find("ParentRef") is not None,
    }
    parent = ret.findtext("ParentRef/ListID")
    if parent:
        customer["ParentRef"] = {"value": parent}
    if ret.findtext("CompanyName"):
        customer["CompanyName"] = ret.findtext("CompanyName")
    for field, tag in (("BillAddr", "BillAddress"), ("ShipAddr", "ShipAddress")):
        address = _address_of(ret.find(tag))
        if address:
            customer[field] = address
    for field, inner, element, _ in _COMM:
        if ret.findtext(element):
            customer[field] = {inner: ret.findtext(element)}
    return customer
