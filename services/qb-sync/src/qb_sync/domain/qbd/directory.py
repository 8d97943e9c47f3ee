"""A Desktop `CustomerRet`, as kept in `qbd_customers`, shown in the customer service's
QuickBooks directory: the fields of `QuickBooksCustomerMirrored`, in the shapes QuickBooks Online
customers have there, so the directory, the mapping form, "create here" and the link picker work
unchanged. docs/reference/quickbooks-desktop.md#what-the-directory-shows.

- `display_name` is the customer's Name, `full_name` its exact FullName (`Parent:Job`), the name a
  link by name must match byte for byte (seed 004).
- Addresses: Desktop's Addr1..Addr5/City/State/PostalCode/Country become Line1..Line5/City/
  CountrySubDivisionCode/PostalCode/Country, QuickBooks Online's keys.
- Contacts: every `ContactsRet` (its name, and email/phone/mobile from its AdditionalContactRef
  pairs); without any, the customer's flat Contact (else First/Last name) with its
  Email/Phone/Mobile.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from qb_sync.domain.qbd.qbxml import ImportedCustomer

_ADDRESS_KEYS = {
    "Addr1": "Line1", "Addr2": "Line2", "Addr3": "Line3", "Addr4": "Line4", "Addr5": "Line5",
    "City": "City", "State": "CountrySubDivisionCode", "PostalCode": "PostalCode",
    "Country": "Country", "Note": "Note",
}  # fmt: skip
# The names QuickBooks Desktop gives AdditionalContactRef entries, by what we keep.
_EMAIL = ("Main Email", "Email")
_PHONE = ("Main Phone", "Work Phone", "Phone")
_MOBILE = ("Mobile", "Cell", "Cell Phone")


def _text(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    return str(value) if isinstance(value, str) and value.strip() else None


def address(raw: Any) -> dict[str, str] | None:
    if not isinstance(raw, dict):
        return None
    kept = {_ADDRESS_KEYS[k]: v for k, v in raw.items() if k in _ADDRESS_KEYS and v}
    return kept or None


def _person(first: str | None, last: str | None) -> str | None:
    joined = " ".join(p for p in (first, last) if p and p.strip())
    return joined or None


def _first(refs: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((refs[n] for n in names if refs.get(n)), None)


def contacts(fields: dict[str, Any]) -> list[dict[str, str | None]]:
    found: list[dict[str, str | None]] = []
    for contact in fields.get("Contacts") or []:
        refs = contact.get("AdditionalContactRef") or {}
        name = _text(contact, "Contact") or _person(
            _text(contact, "FirstName"), _text(contact, "LastName")
        )
        if name:
            found.append(
                {
                    "name": name,
                    "email": _first(refs, _EMAIL),
                    "phone": _first(refs, _PHONE),
                    "mobile": _first(refs, _MOBILE),
                }
            )
    if found:
        return found
    name = _text(fields, "Contact") or _person(
        _text(fields, "FirstName"), _text(fields, "LastName")
    )
    if name is None:
        return []
    return [
        {
            "name": name,
            "email": _text(fields, "Email"),
            "phone": _text(fields, "Phone"),
            "mobile": _text(fields, "Mobile"),
        }
    ]


def mirror_fields(customer: ImportedCustomer, *, deleted: bool = False) -> dict[str, Any]:
    """Everything of QuickBooksCustomerMirrored but realm_id and sync_token."""
    fields = customer.fields
    return {
        "provider": "qbd",
        "qb_customer_id": customer.list_id,
        "display_name": customer.name,
        "full_name": customer.full_name,
        "company_name": _text(fields, "CompanyName"),
        "given_name": _text(fields, "FirstName"),
        "family_name": _text(fields, "LastName"),
        "active": customer.is_active and not deleted,
        "deleted": deleted,
        "parent_qb_customer_id": customer.parent_list_id,
        "email": _text(fields, "Email"),
        "phone": _text(fields, "Phone"),
        "mobile": _text(fields, "Mobile"),
        "currency": _text(fields, "CurrencyRef"),
        "billing_address": address(fields.get("BillAddress")),
        "shipping_address": address(fields.get("ShipAddress")),
        "contacts": contacts(fields) or None,
    }


def digest(fields: dict[str, Any]) -> str:
    """Equal for equal mirror contents: a re-read customer that shows nothing new is not news."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
