"""Import rules: what a customer created from a QuickBooks customer looks like.

Company name, falling back to the display name (a Desktop customer's Name); billing address;
delivery address falling back to billing; primary email and phone; the contact person. The
tenant's defaults fill the rest. A QuickBooks Desktop customer's contacts (seed 003: name, email,
mobile, address) all come along, with the "billing" role and the billing address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# QuickBooks address keys (PhysicalAddress / BillAddr) and the snake_case ones, to ours.
_ADDRESS_KEYS = {
    "line1": ("line1", "Line1"),
    "line2": ("line2", "Line2"),
    "city": ("city", "City"),
    "region": ("region", "CountrySubDivisionCode", "state"),
    "postal_code": ("postal_code", "PostalCode", "zip"),
    "country": ("country", "Country"),
}


@dataclass(frozen=True)
class QuickBooksCustomer:
    realm_id: str
    qb_customer_id: str
    display_name: str
    company_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    currency: str | None = None
    billing_address: dict[str, Any] | None = None
    shipping_address: dict[str, Any] | None = None
    parent_qb_customer_id: str | None = None
    active: bool = True
    provider: str = "qbo"
    full_name: str | None = None
    contacts: tuple[dict[str, Any], ...] = ()

    @property
    def link_name(self) -> str:
        """The name a link by name must match exactly: Desktop's FullName, else the display name."""
        return self.full_name or self.display_name


def address_from_quickbooks(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    address = {}
    for ours, theirs in _ADDRESS_KEYS.items():
        value = next((raw[k] for k in theirs if raw.get(k)), None)
        address[ours] = str(value) if value is not None else None
    return address if any(address.values()) else None


def contact_person(qb: QuickBooksCustomer) -> str:
    full = " ".join(p for p in (qb.given_name, qb.family_name) if p and p.strip())
    return full or qb.display_name


def customer_values_from_quickbooks(qb: QuickBooksCustomer) -> dict[str, Any]:
    billing = address_from_quickbooks(qb.billing_address)
    delivery = address_from_quickbooks(qb.shipping_address) or billing
    company = (qb.company_name or "").strip() or qb.display_name
    return {
        "customer_type": "business" if (qb.company_name or "").strip() else "individual",
        "company_name": company,
        "display_name": qb.display_name,
        "contact_name": contact_person(qb),
        "email": qb.email,
        "phone": qb.phone,
        "mobile": qb.mobile,
        "currency": qb.currency,
        "billing_address": billing,
        "delivery_address": delivery,
    }


BILLING_ROLE = "billing"


def contacts_from_quickbooks(qb: QuickBooksCustomer) -> list[dict[str, Any]]:
    """The contacts "create here" makes, the first one primary. A Desktop customer brings every
    contact person QuickBooks keeps (role "billing", the billing address, seed 003); otherwise
    the one contact person with the customer's email and phones."""
    if qb.provider == "qbd" and qb.contacts:
        billing = address_from_quickbooks(qb.billing_address)
        return [
            {
                "name": c["name"],
                "email": c.get("email"),
                "phone": c.get("phone"),
                "mobile": c.get("mobile"),
                "role": BILLING_ROLE,
                "address": billing,
            }
            for c in qb.contacts
            if c.get("name")
        ]
    single: dict[str, Any] = {
        "name": contact_person(qb),
        "email": qb.email,
        "phone": qb.phone,
        "mobile": qb.mobile,
    }
    if qb.provider == "qbd":
        single.update(role=BILLING_ROLE, address=address_from_quickbooks(qb.billing_address))
    return [single]
