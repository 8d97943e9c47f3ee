"""Platform customer snapshot -> the QuickBooks Customer fields qb-sync owns.

`desired(snapshot)` is a flat dict of QuickBooks field name -> JSON value, with only the fields
that have a value. It is what a create sends (plus CurrencyRef, Job and ParentRef), and what
updates diff against `pushed_content` (the last pushed version) to build a sparse update that
sends only changed fields. A field that had a value and now has none is cleared with its empty
form (`""` inside the object), since leaving it out of a sparse update keeps the old value.
Names may not hold `:`, tab or newline (qbo.md 2.2): they are replaced, never rejected.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from qb_sync.qbo.names import clean_name

Json = dict[str, Any]

# The fields push writes (never Notes, Balance, names parts, terms, ...). Active is separate.
FIELDS = (
    "DisplayName",
    "CompanyName",
    "PrimaryEmailAddr",
    "PrimaryPhone",
    "Mobile",
    "Fax",
    "WebAddr",
    "BillAddr",
    "ShipAddr",
    "Active",
)

_EMPTY: dict[str, Any] = {
    "CompanyName": "",
    "PrimaryEmailAddr": {"Address": ""},
    "PrimaryPhone": {"FreeFormNumber": ""},
    "Mobile": {"FreeFormNumber": ""},
    "Fax": {"FreeFormNumber": ""},
    "WebAddr": {"URI": ""},
    "BillAddr": {
        "Line1": "",
        "Line2": "",
        "City": "",
        "CountrySubDivisionCode": "",
        "PostalCode": "",
        "Country": "",
    },
    "ShipAddr": {
        "Line1": "",
        "Line2": "",
        "City": "",
        "CountrySubDivisionCode": "",
        "PostalCode": "",
        "Country": "",
    },
}


def display_name(snapshot: Json) -> str:
    return clean_name(str(snapshot.get("display_name") or snapshot.get("company_name") or ""))


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()[:limit]
    return text or None


def _address(value: Any) -> Json | None:
    if not isinstance(value, dict):
        return None
    address = {
        "Line1": _text(value.get("line1"), 500),
        "Line2": _text(value.get("line2"), 500),
        "City": _text(value.get("city"), 255),
        "CountrySubDivisionCode": _text(value.get("region"), 255),
        "PostalCode": _text(value.get("postal_code"), 30),
        "Country": _text(value.get("country"), 255),
    }
    kept = {k: v for k, v in address.items() if v is not None}
    return kept or None


def desired(snapshot: Json) -> Json:
    """The QuickBooks values the platform customer implies (only fields with a value + Active)."""
    out: Json = {
        "DisplayName": display_name(snapshot),
        "Active": bool(snapshot.get("active", True)),
    }
    company = _text(snapshot.get("company_name"), 100)
    if company:
        out["CompanyName"] = clean_name(company, 100)
    for field, key, inner, limit in (
        ("PrimaryEmailAddr", "email", "Address", 100),
        ("PrimaryPhone", "phone", "FreeFormNumber", 30),
        ("Mobile", "mobile", "FreeFormNumber", 30),
        ("Fax", "fax", "FreeFormNumber", 30),
        ("WebAddr", "website", "URI", 1000),
    ):
        value = _text(snapshot.get(key), limit)
        if value:
            out[field] = {inner: value}
    bill = _address(snapshot.get("billing_address"))
    if bill:
        out["BillAddr"] = bill
    ship = _address(snapshot.get("delivery_address"))
    if ship:
        out["ShipAddr"] = ship
    return out


def create_body(snapshot: Json, parent_qb_id: str | None) -> Json:
    body = dict(desired(snapshot))
    if not body.get("Active", True):
        body.pop("Active")  # create active, then inactivate: QuickBooks refuses nothing that way
    currency = snapshot.get("currency")
    if currency:
        body["CurrencyRef"] = {"value": str(currency)}  # only ever on create (read-only after)
    if parent_qb_id:
        body["Job"] = True
        body["ParentRef"] = {"value": parent_qb_id}
    return body


def changes(base: Json, wanted: Json) -> Json:
    """The sparse update body part: fields whose wanted value differs from the base."""
    out: Json = {}
    for field in FIELDS:
        before, after = base.get(field), wanted.get(field)
        if before == after:
            continue
        if after is None:
            if field in _EMPTY:
                out[field] = _EMPTY[field]
            continue  # DisplayName/Active always have a value
        out[field] = after
    return out


def current(qbo_customer: Json) -> Json:
    """The same view of a customer as QuickBooks holds it (for the three-way merge)."""
    out: Json = {"Active": bool(qbo_customer.get("Active", True))}
    for field in FIELDS:
        if field == "Active":
            continue
        value = qbo_customer.get(field)
        if isinstance(value, dict):
            value = {
                k: v
                for k, v in value.items()
                if k not in ("Id", "Lat", "Long") and v not in ("", None)
            }
            value = value or None
        elif value == "":
            value = None
        if value is not None:
            out[field] = value
    return out


def content_hash(content: Json) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
