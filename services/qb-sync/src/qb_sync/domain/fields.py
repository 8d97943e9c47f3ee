"""Platform customer snapshot -> the QuickBooks Customer fields qb-sync owns.

Two views of one customer, both flat dicts keyed by QuickBooks field name with only the fields
that have a value:
- `desired(snapshot)`: the platform's values, plus `ParentId` (the platform parent's id; which
  QuickBooks customer that is depends on the company). Stored per row as `platform_content` after
  each reconcile: a field is pushed only when the platform changed it since.
- `current(customer)`: what QuickBooks holds (from its answers or the mirror), with `Job` and
  `ParentRef`. Stored as `pushed_content`: the base of the three-way merge on 5010.
`quickbooks_values(desired, parent_qb_id)` turns the first into the second's terms, and `to_send`
builds the sparse update from the three. A field that had a value and now has none is cleared with
its empty form (`""` inside the object), since leaving it out of a sparse update keeps the old
value. Names may not hold `:`, tab or newline
(docs/reference/quickbooks-online.md#customer-field-rules): they are replaced, never rejected.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from qb_sync.domain.names import clean_name

Json = dict[str, Any]

# The fields push writes (never Notes, Balance, name parts, terms, ...).
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
    "Job",
    "ParentRef",
)
# Job and ParentRef follow the platform's parent, one value on the platform side.
PARENT_FIELDS = ("Job", "ParentRef")
PARENT_KEY = "ParentId"
# In platform_content: "push this field whatever the platform's value" (a conflict resolved in
# the platform's favour). Never equal to a real value.
FORCE_PUSH = {"__force_push__": True}

_ADDRESS_EMPTY = {
    "Line1": "",
    "Line2": "",
    "City": "",
    "CountrySubDivisionCode": "",
    "PostalCode": "",
    "Country": "",
}
_EMPTY: dict[str, Any] = {
    "CompanyName": "",
    "PrimaryEmailAddr": {"Address": ""},
    "PrimaryPhone": {"FreeFormNumber": ""},
    "Mobile": {"FreeFormNumber": ""},
    "Fax": {"FreeFormNumber": ""},
    "WebAddr": {"URI": ""},
    "BillAddr": _ADDRESS_EMPTY,
    "ShipAddr": _ADDRESS_EMPTY,
    "ParentRef": {"value": ""},
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
    """The values the platform customer implies (only fields with a value, Active always)."""
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
    if snapshot.get("parent_id"):
        out[PARENT_KEY] = str(snapshot["parent_id"])
    return out


def quickbooks_values(wanted: Json, parent_qb_id: str | None) -> Json:
    """`desired` in QuickBooks' terms: the parent as `Job` + `ParentRef`
    (docs/reference/quickbooks-online.md#sub-customers-and-jobs)."""
    out = {k: v for k, v in wanted.items() if k != PARENT_KEY}
    out["Job"] = parent_qb_id is not None
    if parent_qb_id is not None:
        out["ParentRef"] = {"value": parent_qb_id}
    return out


def create_body(wanted: Json, parent_qb_id: str | None, currency: str | None) -> Json:
    body = quickbooks_values(wanted, parent_qb_id)
    if not body.get("Job"):
        body.pop("Job")
    if not body.get("Active", True):
        body.pop("Active")  # create active, then inactivate: QuickBooks refuses nothing that way
    if currency:
        body["CurrencyRef"] = {"value": str(currency)}  # only ever on create (read-only after)
    return body


def _platform_key(field: str) -> str:
    return PARENT_KEY if field in PARENT_FIELDS else field


def to_send(platform_before: Json | None, wanted: Json, qb_before: Json, wanted_qb: Json) -> Json:
    """The sparse update part: each field the platform changed since `platform_before` (None:
    every field) whose value QuickBooks does not already hold. Fields only QuickBooks changed are
    never sent, so edits made there survive."""
    out: Json = {}
    for field in FIELDS:
        key = _platform_key(field)
        if platform_before is not None and platform_before.get(key) == wanted.get(key):
            continue
        before, after = qb_before.get(field), wanted_qb.get(field)
        if before == after:
            continue
        if after is None:
            if field in _EMPTY:
                out[field] = _EMPTY[field]
            continue  # DisplayName/Active/Job always have a value
        out[field] = after
    # QuickBooks wants the two together (docs/reference/quickbooks-online.md#sub-customers-and-jobs)
    if any(f in out for f in PARENT_FIELDS):
        for f in PARENT_FIELDS:
            out.setdefault(f, wanted_qb.get(f) if wanted_qb.get(f) is not None else _EMPTY[f])
    return out


def with_doubt(platform_before: Json | None, in_doubt: Json | None) -> Json | None:
    """`platform_before` with every field of an update in doubt marked changed: QuickBooks may
    hold what that update sent (ours, not a QuickBooks user's edit), so those fields are compared
    with QuickBooks again whatever the platform did since (a rename reverted meanwhile)."""
    if platform_before is None or not in_doubt:
        return platform_before
    marked = dict(platform_before)
    for field in in_doubt:
        if field in FIELDS:
            marked[_platform_key(field)] = FORCE_PUSH
    return marked


def current(qbo_customer: Json) -> Json:
    """The QuickBooks view of a customer, for the fields push owns."""
    out: Json = {
        "Active": bool(qbo_customer.get("Active", True)),
        "Job": bool(qbo_customer.get("Job", False)),
    }
    for field in FIELDS:
        if field in ("Active", "Job"):
            continue
        value = qbo_customer.get(field)
        if isinstance(value, dict):
            keep = ("value",) if field == "ParentRef" else None
            value = {
                k: v
                for k, v in value.items()
                if (keep is None or k in keep)
                and k not in ("Id", "Lat", "Long")
                and v not in ("", None)
            }
            value = value or None
        elif value == "":
            value = None
        if value is not None:
            out[field] = value
    return out


def content_hash(content: Json | None) -> str | None:
    if content is None:
        return None
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
